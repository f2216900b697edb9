using NfsNs.Protocols.Nfs3;

namespace NfsNs.Client;

/// <summary>
/// One file system (fsid) of one server as seen through one <see cref="NfsServerConnection"/>, and so through one
/// network namespace: it owns the attribute cache and the directory entry (LOOKUP) cache that every mount of that file
/// system through that connection shares, so a change made through one mount is seen through the others at once.
/// Looked up and reference-counted by <see cref="NfsClientRegistry"/> like connections; the last mount released drops it.
/// </summary>
/// <remarks>
/// <para>The caches are filled by every reply that carries attributes (post_op_attr, wcc_data, LOOKUP and
/// READDIRPLUS results) and kept right by this client's own changes (RFC 1813 §2.6 weak cache consistency); changes
/// made by others are noticed when cached attributes expire, after the asking mount's <see cref="AttributeTimeouts"/>
/// (nfs(5) <c>acregmin</c> … <c>acdirmax</c>). What is fresh is decided per asking mount, so mounts with different
/// timeouts (or <c>noac</c>) may share a volume.</para>
/// <para>Both caches are bounded (<see cref="DefaultCapacity"/> entries each unless told otherwise), dropping the
/// least recently used entries. All access is under one lock; every operation under it is O(1).</para>
/// </remarks>
public sealed class NfsVolume
{
    /// <summary>Entries per cache (attributes; LOOKUP results) unless the registry says otherwise.</summary>
    public const int DefaultCapacity = 64 * 1024;

    private static long s_nextId;

    private readonly Lock _lock = new();
    private readonly AttributeCache _attributes;
    private readonly LookupCache _lookups;
    private long _sequence;
    private long _attributeHits, _attributeMisses, _lookupHits, _lookupMisses;

    internal NfsVolume(NfsServerConnection? server, ulong fsid, TimeProvider time, int capacity = DefaultCapacity)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Server = server;
        Fsid = fsid;
        _attributes = new AttributeCache(capacity, time);
        _lookups = new LookupCache(capacity);
    }

    /// <summary>The volume's number in the mount table.</summary>
    public long Id { get; }

    /// <summary>The file system id the server reports in its attributes (fattr3 fsid, RFC 1813 §2.5).</summary>
    public ulong Fsid { get; }

    /// <summary>The connection this volume is reached through (null only for volumes made by tests).</summary>
    public NfsServerConnection? Server { get; }

    /// <summary>Mounts holding this volume; guarded by the registry's lock.</summary>
    internal int References;

    /// <summary>Counters and sizes, now.</summary>
    public NfsCacheStats Stats
    {
        get
        {
            lock (_lock)
            {
                return new NfsCacheStats(Interlocked.Read(ref _attributeHits), Interlocked.Read(ref _attributeMisses),
                    Interlocked.Read(ref _lookupHits), Interlocked.Read(ref _lookupMisses),
                    _attributes.Count, _lookups.Count, _attributes.Evictions + _lookups.Evictions);
            }
        }
    }

    /// <summary>
    /// Numbers a call before it is sent. Replies are taken in with their call's number, so that attributes from an
    /// older call, answered late, do not overwrite those of a newer one (see <see cref="AttributeCache.Observe"/>).
    /// </summary>
    internal long BeginRequest() => Interlocked.Increment(ref _sequence);

    // ---- reading -------------------------------------------------------------------------------------------

    /// <summary>Cached attributes fresh for <paramref name="timeouts"/>; counts a hit or a miss.</summary>
    internal bool TryGetAttributes(NfsFileHandle handle, AttributeTimeouts timeouts, out Fattr3 attributes)
    {
        bool hit;
        lock (_lock) hit = _attributes.TryGetFresh(handle, timeouts, out attributes);
        Interlocked.Increment(ref hit ? ref _attributeHits : ref _attributeMisses);
        return hit;
    }

    /// <summary>The newest attributes known, however old: enough for what never changes, such as the file type.</summary>
    internal Fattr3? KnownAttributes(NfsFileHandle handle)
    {
        lock (_lock) return _attributes.Find(handle)?.Attributes;
    }

    /// <summary>
    /// A cached LOOKUP result for <paramref name="name"/> in <paramref name="directory"/>, usable by
    /// <paramref name="credential"/>: the directory's attributes must be fresh for <paramref name="timeouts"/> (nfs(5):
    /// entries "are valid until their parent directory's cached attributes expire"), the entry must date from the
    /// directory's current generation, and the credential must have been let search it. Counts a hit or a miss.
    /// </summary>
    internal bool TryLookup(NfsFileHandle directory, string name, string credential, AttributeTimeouts timeouts,
        out NfsFileHandle child, out Fattr3? childAttributes)
    {
        child = default;
        childAttributes = null;
        bool hit = false;
        lock (_lock)
        {
            if (_attributes.Find(directory) is { } dir
                && dir.SearchProofs?.Contains(credential) == true
                && _attributes.IsFresh(dir, timeouts, _attributes.Time.GetTimestamp())
                && _lookups.TryGet(directory, name, dir.Generation, out child))
            {
                hit = true;
                childAttributes = _attributes.Find(child)?.Attributes;
            }
        }
        Interlocked.Increment(ref hit ? ref _lookupHits : ref _lookupMisses);
        return hit;
    }

    // ---- taking replies in -----------------------------------------------------------------------------------

    /// <summary>Attributes a reply carried for <paramref name="handle"/> (nothing happens for an absent post_op_attr).</summary>
    internal void Remember(NfsFileHandle handle, Fattr3? attributes, long sequence)
    {
        if (attributes is null) return;
        lock (_lock) _attributes.Observe(handle, attributes, sequence);
    }

    /// <summary>wcc_data of an operation of ours on <paramref name="handle"/> (see <see cref="AttributeCache.ObserveOwnChange"/>).</summary>
    internal void RememberOwnChange(NfsFileHandle handle, WccData wcc, long sequence)
    {
        lock (_lock) _attributes.ObserveOwnChange(handle, wcc, sequence);
    }

    /// <summary>
    /// A LOOKUP answered by the server: the directory's and the child's attributes, the name → handle entry, and
    /// proof that <paramref name="credential"/> may search the directory. Pass a null credential for results that
    /// prove nothing about permission (READDIRPLUS needs read, not search, permission).
    /// </summary>
    internal void RememberLookup(NfsFileHandle directory, string name, NfsFileHandle child, Fattr3? childAttributes,
        Fattr3? directoryAttributes, string? credential, long sequence)
    {
        lock (_lock)
        {
            var dir = directoryAttributes is null ? _attributes.Find(directory) : _attributes.Observe(directory, directoryAttributes, sequence);
            if (childAttributes is not null) _attributes.Observe(child, childAttributes, sequence);
            if (dir is null) return;
            // The name is recorded in the directory's current generation only if the reply describes that version of
            // it: a reply that was overtaken by news of a newer directory (a change by someone else, answered first)
            // may name what is no longer there.
            bool current = directoryAttributes is null
                ? dir.Sequence <= sequence
                : AttributeCache.SameVersion(dir.Attributes, directoryAttributes);
            if (!current) return;
            _lookups.Add(directory, name, child, dir.Generation);
            if (credential is not null) AttributeCache.AddSearchProof(dir, credential);
        }
    }

    /// <summary>
    /// A name this client created in <paramref name="directory"/> (CREATE, MKDIR, SYMLINK, MKNOD, LINK): the
    /// directory's wcc_data first, then the new entry in whatever generation that leaves. The server let
    /// <paramref name="credential"/> change the directory, which needs search permission too.
    /// </summary>
    internal void RememberCreated(NfsFileHandle directory, WccData directoryWcc, string name, NfsFileHandle? child, Fattr3? childAttributes,
        string credential, long sequence)
    {
        lock (_lock)
        {
            _attributes.ObserveOwnChange(directory, directoryWcc, sequence);
            // The name may have named something else before (UNCHECKED create over an existing file keeps it, but a
            // server may answer without a handle): drop the old entry either way.
            _lookups.Remove(directory, name);
            if (child is not { } handle) return;
            if (childAttributes is not null) _attributes.Observe(handle, childAttributes, sequence);
            if (_attributes.Find(directory) is not { } dir) return;
            _lookups.Add(directory, name, handle, dir.Generation);
            AttributeCache.AddSearchProof(dir, credential);
        }
    }

    /// <summary>
    /// A name that no longer names what it did (REMOVE, RMDIR, or a LOOKUP answered NOENT): its entry goes, and so do
    /// the attributes of the object it named, whose link count and ctime have changed.
    /// </summary>
    internal void Forget(NfsFileHandle directory, string name)
    {
        lock (_lock)
        {
            if (_lookups.Remove(directory, name) is { } child) _attributes.Forget(child);
        }
    }

    /// <summary>RENAME by this client: the source entry moves to the target name, replacing whatever that named.</summary>
    internal void RememberRename(NfsFileHandle fromDirectory, string fromName, NfsFileHandle toDirectory, string toName, RenameResult result, long sequence)
    {
        lock (_lock)
        {
            _attributes.ObserveOwnChange(fromDirectory, result.FromDirWcc, sequence);
            // Within one directory both wcc_data describe the same single change: taking it in twice would make the
            // second look like someone else's.
            if (toDirectory != fromDirectory) _attributes.ObserveOwnChange(toDirectory, result.ToDirWcc, sequence);
            if (_lookups.Remove(toDirectory, toName) is { } replaced) _attributes.Forget(replaced);
            if (_lookups.Remove(fromDirectory, fromName) is not { } moved) return;
            // Servers change the moved object's ctime (and a directory's ".."): fetch its attributes afresh.
            _attributes.Forget(moved);
            if (_attributes.Find(toDirectory) is { } to) _lookups.Add(toDirectory, toName, moved, to.Generation);
        }
    }

    /// <summary>A handle the server called stale: whatever was cached about it is useless.</summary>
    internal void ForgetHandle(NfsFileHandle handle)
    {
        lock (_lock) _attributes.Forget(handle);
    }

    /// <summary>Empties both caches (the counters stay).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _attributes.Clear();
            _lookups.Clear();
        }
    }

    public override string ToString() => $"volume #{Id} (fsid {Fsid:x}) of {Server?.ToString() ?? "no server"}";
}

/// <summary>
/// A volume's cache counters: lookups of fresh attributes (hits) and of attributes that had to be fetched (misses),
/// the same for directory entries (LOOKUP results), how many of each are held, and how many were dropped for room.
/// </summary>
public sealed record NfsCacheStats(
    long AttributeHits,
    long AttributeMisses,
    long LookupHits,
    long LookupMisses,
    int AttributesCached,
    int LookupsCached,
    long Evictions);
