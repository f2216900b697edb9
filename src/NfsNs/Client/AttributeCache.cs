using NfsNs.Protocols.Nfs3;

namespace NfsNs.Client;

/// <summary>What a volume knows about one file handle's attributes, and since when.</summary>
internal sealed class CachedAttributes(Fattr3 attributes, long fetchedAt, long sequence, long generation)
{
    /// <summary>The newest attributes seen.</summary>
    public Fattr3 Attributes { get; set; } = attributes;

    /// <summary>When the reply that carried <see cref="Attributes"/> was taken in (a <see cref="TimeProvider"/> timestamp).</summary>
    public long FetchedAt { get; set; } = fetchedAt;

    /// <summary>When the current size, mtime and ctime were first seen: the start of "unchanged for" (see <see cref="AttributeTimeouts"/>).</summary>
    public long UnchangedSince { get; set; } = fetchedAt;

    /// <summary>The volume's request number of the call whose reply gave <see cref="Attributes"/>; older replies do not overwrite newer ones.</summary>
    public long Sequence { get; set; } = sequence;

    /// <summary>
    /// Unique within the volume, renewed whenever the object is seen changed by someone else. A directory's LOOKUP
    /// results are recorded with the generation they were made in, so a new one drops them all at once (nfs(5): "If
    /// the client detects a change in a directory's mtime, the client drops all cached LOOKUP results for that
    /// directory").
    /// </summary>
    public long Generation { get; set; } = generation;

    /// <summary>
    /// Credentials the server has let look up names in this directory during this generation. A cached LOOKUP result
    /// is given only to them: a volume is shared by mounts with different users, and search permission is the
    /// server's to decide (RFC 1813 §4.4), so one user's LOOKUPs must not open a directory to another.
    /// </summary>
    public List<string>? SearchProofs { get; set; }
}

/// <summary>
/// The attribute cache of a volume: file handle → newest <see cref="Fattr3"/>, when it was fetched and since when it
/// has been unchanged, bounded to a number of entries (least recently used dropped). Which entries are fresh depends
/// on the asking mount's <see cref="AttributeTimeouts"/>. Not thread-safe: <see cref="NfsVolume"/> locks around it.
/// </summary>
internal sealed class AttributeCache(int capacity, TimeProvider time)
{
    /// <summary>At most this many credentials are remembered per directory; more evict the oldest.</summary>
    public const int MaxSearchProofs = 8;

    private readonly BoundedLru<NfsFileHandle, CachedAttributes> _entries = new(capacity);
    private long _lastGeneration;

    public TimeProvider Time { get; } = time;
    public int Count => _entries.Count;
    public int Capacity => _entries.Capacity;
    public long Evictions => _entries.Evictions;

    public CachedAttributes? Find(NfsFileHandle handle) => _entries.TryGetValue(handle, out var entry) ? entry : null;

    /// <summary>Whether <paramref name="entry"/> may still be used, by a mount with <paramref name="timeouts"/>, at <paramref name="now"/>.</summary>
    public bool IsFresh(CachedAttributes entry, AttributeTimeouts timeouts, long now)
    {
        var unchangedFor = Time.GetElapsedTime(entry.UnchangedSince, entry.FetchedAt);
        var timeout = timeouts.For(entry.Attributes.Type, unchangedFor);
        return Time.GetElapsedTime(entry.FetchedAt, now) < timeout;
    }

    public bool TryGetFresh(NfsFileHandle handle, AttributeTimeouts timeouts, out Fattr3 attributes)
    {
        if (Find(handle) is { } entry && IsFresh(entry, timeouts, Time.GetTimestamp()))
        {
            attributes = entry.Attributes;
            return true;
        }
        attributes = null!;
        return false;
    }

    /// <summary>
    /// Takes in attributes a reply carried for <paramref name="handle"/>, from the call numbered
    /// <paramref name="sequence"/>. Replies can be processed out of order (several calls in flight), so attributes from
    /// a call older than the cached ones are ignored unless they are visibly newer (a later ctime, a larger size), as
    /// Linux's nfs_inode_attrs_need_update does. A changed size, mtime or ctime renews the entry's generation.
    /// </summary>
    public CachedAttributes Observe(NfsFileHandle handle, Fattr3 attributes, long sequence)
    {
        long now = Time.GetTimestamp();
        if (Find(handle) is not { } entry)
        {
            entry = new CachedAttributes(attributes, now, sequence, ++_lastGeneration);
            _entries.Set(handle, entry);
            return entry;
        }
        if (sequence < entry.Sequence && !IsVisiblyNewer(attributes, entry.Attributes))
            return entry;
        if (!SameVersion(attributes, entry.Attributes))
        {
            entry.UnchangedSince = now;
            Renew(entry);
        }
        entry.Attributes = attributes;
        entry.FetchedAt = now;
        entry.Sequence = Math.Max(entry.Sequence, sequence);
        return entry;
    }

    /// <summary>
    /// Takes in the wcc_data of an operation this client made on <paramref name="handle"/> (RFC 1813 §2.6). When the
    /// pre-operation attributes are the cached ones, the change is exactly ours: the new attributes are taken and the
    /// directory's LOOKUP results survive (the caller updates the one name it changed). Otherwise someone else changed
    /// the object too, or the server did not say: it is treated as changed, and without post-operation attributes
    /// nothing is known any more, so the entry goes.
    /// </summary>
    public void ObserveOwnChange(NfsFileHandle handle, WccData wcc, long sequence)
    {
        if (wcc.After is not { } after)
        {
            Forget(handle);
            return;
        }
        if (Find(handle) is { } entry && wcc.Before is { } before
            && before.Size == entry.Attributes.Size && before.Mtime == entry.Attributes.Mtime && before.Ctime == entry.Attributes.Ctime)
        {
            long now = Time.GetTimestamp();
            if (!SameVersion(after, entry.Attributes)) entry.UnchangedSince = now;
            entry.Attributes = after;
            entry.FetchedAt = now;
            entry.Sequence = Math.Max(entry.Sequence, sequence);
            return;
        }
        if (Find(handle) is { } changed)
        {
            // Not explained by our operation alone: whatever else happened invalidates what we derived.
            changed.UnchangedSince = Time.GetTimestamp();
            Renew(changed);
        }
        Observe(handle, after, sequence);
    }

    /// <summary>Records that <paramref name="credential"/> was allowed to look up names in the directory of <paramref name="entry"/>.</summary>
    public static void AddSearchProof(CachedAttributes entry, string credential)
    {
        var proofs = entry.SearchProofs ??= [];
        if (proofs.Contains(credential)) return;
        if (proofs.Count >= MaxSearchProofs) proofs.RemoveAt(0);
        proofs.Add(credential);
    }

    public bool Forget(NfsFileHandle handle) => _entries.Remove(handle);

    public void Clear() => _entries.Clear();

    private void Renew(CachedAttributes entry)
    {
        entry.Generation = ++_lastGeneration;
        entry.SearchProofs = null;
    }

    /// <summary>The attributes that mark a new version of a file's data or metadata (what Linux compares for NFSv3).</summary>
    internal static bool SameVersion(Fattr3 a, Fattr3 b) => a.Size == b.Size && a.Mtime == b.Mtime && a.Ctime == b.Ctime;

    private static bool IsVisiblyNewer(Fattr3 candidate, Fattr3 cached) =>
        Compare(candidate.Ctime, cached.Ctime) > 0 || candidate.Size > cached.Size;

    private static int Compare(NfsTime a, NfsTime b) =>
        a.Seconds != b.Seconds ? a.Seconds.CompareTo(b.Seconds) : a.Nanoseconds.CompareTo(b.Nanoseconds);
}
