using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;

namespace NfsNs.Client;

/// <summary>
/// The NFSv3 procedures as one mount calls them: each is <see cref="Nfs3Client"/>'s, and what its reply (or failure
/// arm) says about attributes, names and stale handles goes into the mount's <see cref="NfsVolume"/>. The plain methods
/// always ask the server; <see cref="GetAttrCachedAsync"/> and <see cref="LookupCachedAsync"/> answer from the volume
/// when it holds something fresh for this mount's <see cref="Timeouts"/>.
/// </summary>
internal sealed class NfsVolumeClient
{
    private readonly Nfs3Client _nfs;

    public NfsVolumeClient(Nfs3Client nfs, NfsVolume volume, AttributeTimeouts timeouts, RpcCredentials credentials)
    {
        _nfs = nfs;
        Volume = volume;
        Timeouts = timeouts;
        Credential = CredentialKey(credentials);
    }

    public NfsVolume Volume { get; }
    public AttributeTimeouts Timeouts { get; }

    /// <summary>Who this mount is to the server; cached LOOKUP results are shared only between equal credentials' proofs.</summary>
    public string Credential { get; }

    /// <summary>The identity an RPC credential presents to the server's permission checks (AUTH_SYS's stamp and machine name are not part of it).</summary>
    internal static string CredentialKey(RpcCredentials credentials) => credentials switch
    {
        AuthSysCredentials sys => $"sys:{sys.Uid}:{sys.Gid}:{string.Join(',', sys.Gids)}",
        _ => credentials.Flavor.ToString(),
    };

    // ---- answered from the volume when fresh ------------------------------------------------------------------

    /// <summary>Attributes fresh in the volume, else GETATTR.</summary>
    public async Task<Fattr3> GetAttrCachedAsync(NfsFileHandle handle, CancellationToken cancellationToken = default)
    {
        if (Volume.TryGetAttributes(handle, Timeouts, out var cached)) return cached;
        return await GetAttrAsync(handle, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A LOOKUP result cached in the volume (see <see cref="NfsVolume.TryLookup"/>), else LOOKUP. From the cache,
    /// <see cref="LookupResult.Attributes"/> are the newest known, possibly expired: use them only for what cannot
    /// change, such as the type. "." and ".." always go to the server (a directory's ".." changes when it moves).
    /// </summary>
    public async Task<LookupResult> LookupCachedAsync(NfsFileHandle directory, string name, CancellationToken cancellationToken = default)
    {
        if (name is not ("." or "..") && Volume.TryLookup(directory, name, Credential, Timeouts, out var child, out var attributes))
            return new LookupResult(child, attributes, null);
        return await LookupAsync(directory, name, cancellationToken).ConfigureAwait(false);
    }

    // ---- always the server, replies taken in ------------------------------------------------------------------

    public Task NullAsync(CancellationToken cancellationToken = default) => _nfs.NullAsync(cancellationToken);

    public Task<Fattr3> GetAttrAsync(NfsFileHandle handle, CancellationToken cancellationToken = default) =>
        ObserveAsync(handle, () => _nfs.GetAttrAsync(handle, cancellationToken), (attributes, sequence) => Volume.Remember(handle, attributes, sequence));

    public async Task<WccData> SetAttrAsync(NfsFileHandle handle, Sattr3 attributes, NfsTime? guardCtime = null, CancellationToken cancellationToken = default)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var wcc = await _nfs.SetAttrAsync(handle, attributes, guardCtime, cancellationToken).ConfigureAwait(false);
            Volume.RememberOwnChange(handle, wcc, sequence);
            return wcc;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, handle);
            throw;
        }
    }

    public async Task<LookupResult> LookupAsync(NfsFileHandle directory, string name, CancellationToken cancellationToken = default)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var found = await _nfs.LookupAsync(directory, name, cancellationToken).ConfigureAwait(false);
            if (name is "." or "..")
            {
                Volume.Remember(directory, found.DirAttributes, sequence);
                Volume.Remember(found.Handle, found.Attributes, sequence);
            }
            else
            {
                Volume.RememberLookup(directory, name, found.Handle, found.Attributes, found.DirAttributes, Credential, sequence);
            }
            return found;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, directory);
            if (e.Status == Nfs3Status.NoEnt) Volume.Forget(directory, name);
            throw;
        }
    }

    public Task<AccessResult> AccessAsync(NfsFileHandle handle, Access3 access, CancellationToken cancellationToken = default) =>
        ObserveAsync(handle, () => _nfs.AccessAsync(handle, access, cancellationToken), (result, sequence) => Volume.Remember(handle, result.Attributes, sequence));

    public Task<string> ReadLinkAsync(NfsFileHandle symlink, CancellationToken cancellationToken = default) =>
        ObserveAsync(symlink, () => _nfs.ReadLinkAsync(symlink, cancellationToken), static (_, _) => { });

    public Task<ReadResult> ReadAsync(NfsFileHandle file, ulong offset, uint count, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        ObserveAsync(file, () => _nfs.ReadAsync(file, offset, count, destination, cancellationToken), (result, sequence) => Volume.Remember(file, result.Attributes, sequence));

    public Task<WriteResult> WriteAsync(NfsFileHandle file, ulong offset, ReadOnlyMemory<byte> data, StableHow stable, CancellationToken cancellationToken = default) =>
        ObserveAsync(file, () => _nfs.WriteAsync(file, offset, data, stable, cancellationToken), (result, sequence) => Volume.RememberOwnChange(file, result.Wcc, sequence));

    public Task<CommitResult> CommitAsync(NfsFileHandle file, ulong offset, uint count, CancellationToken cancellationToken = default) =>
        ObserveAsync(file, () => _nfs.CommitAsync(file, offset, count, cancellationToken), (result, sequence) => Volume.RememberOwnChange(file, result.Wcc, sequence));

    public Task<CreateResult> CreateAsync(NfsFileHandle directory, string name, CreateMode mode, Sattr3? attributes, ulong exclusiveVerifier = 0, CancellationToken cancellationToken = default) =>
        CreatingAsync(directory, name, () => _nfs.CreateAsync(directory, name, mode, attributes, exclusiveVerifier, cancellationToken));

    public Task<CreateResult> MkdirAsync(NfsFileHandle directory, string name, Sattr3 attributes, CancellationToken cancellationToken = default) =>
        CreatingAsync(directory, name, () => _nfs.MkdirAsync(directory, name, attributes, cancellationToken));

    public Task<CreateResult> SymlinkAsync(NfsFileHandle directory, string name, string target, Sattr3 attributes, CancellationToken cancellationToken = default) =>
        CreatingAsync(directory, name, () => _nfs.SymlinkAsync(directory, name, target, attributes, cancellationToken));

    public Task<CreateResult> MknodAsync(NfsFileHandle directory, string name, Nfs3FileType type, Sattr3 attributes, SpecData device = default, CancellationToken cancellationToken = default) =>
        CreatingAsync(directory, name, () => _nfs.MknodAsync(directory, name, type, attributes, device, cancellationToken));

    private async Task<CreateResult> CreatingAsync(NfsFileHandle directory, string name, Func<Task<CreateResult>> create)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var result = await create().ConfigureAwait(false);
            Volume.RememberCreated(directory, result.DirWcc, name, result.Handle, result.Attributes, Credential, sequence);
            return result;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, directory);
            throw;
        }
    }

    public Task<WccData> RemoveAsync(NfsFileHandle directory, string name, CancellationToken cancellationToken = default) =>
        RemovingAsync(directory, name, () => _nfs.RemoveAsync(directory, name, cancellationToken));

    public Task<WccData> RmdirAsync(NfsFileHandle directory, string name, CancellationToken cancellationToken = default) =>
        RemovingAsync(directory, name, () => _nfs.RmdirAsync(directory, name, cancellationToken));

    private async Task<WccData> RemovingAsync(NfsFileHandle directory, string name, Func<Task<WccData>> remove)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var wcc = await remove().ConfigureAwait(false);
            Volume.RememberOwnChange(directory, wcc, sequence);
            Volume.Forget(directory, name);
            return wcc;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, directory);
            if (e.Status == Nfs3Status.NoEnt) Volume.Forget(directory, name);
            throw;
        }
    }

    public async Task<RenameResult> RenameAsync(NfsFileHandle fromDirectory, string fromName, NfsFileHandle toDirectory, string toName, CancellationToken cancellationToken = default)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var result = await _nfs.RenameAsync(fromDirectory, fromName, toDirectory, toName, cancellationToken).ConfigureAwait(false);
            Volume.RememberRename(fromDirectory, fromName, toDirectory, toName, result, sequence);
            return result;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, fromDirectory, toDirectory);
            throw;
        }
    }

    public async Task<LinkResult> LinkAsync(NfsFileHandle file, NfsFileHandle directory, string name, CancellationToken cancellationToken = default)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var result = await _nfs.LinkAsync(file, directory, name, cancellationToken).ConfigureAwait(false);
            // The file's link count and ctime changed: its post-operation attributes say how.
            Volume.Remember(file, result.FileAttributes, sequence);
            Volume.RememberCreated(directory, result.LinkDirWcc, name, file, null, Credential, sequence);
            return result;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, file, directory);
            throw;
        }
    }

    public Task<ReadDirResult> ReadDirAsync(NfsFileHandle directory, ulong cookie, ulong cookieVerifier, uint count, CancellationToken cancellationToken = default) =>
        ObserveAsync(directory, () => _nfs.ReadDirAsync(directory, cookie, cookieVerifier, count, cancellationToken), (result, sequence) => Volume.Remember(directory, result.DirAttributes, sequence));

    /// <summary>READDIRPLUS: every entry with a handle becomes a cached LOOKUP result (not "." and ".."), as Linux fills its dcache from it.</summary>
    public async Task<ReadDirPlusResult> ReadDirPlusAsync(NfsFileHandle directory, ulong cookie, ulong cookieVerifier, uint dirCount, uint maxCount, CancellationToken cancellationToken = default)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var result = await _nfs.ReadDirPlusAsync(directory, cookie, cookieVerifier, dirCount, maxCount, cancellationToken).ConfigureAwait(false);
            Volume.Remember(directory, result.DirAttributes, sequence);
            foreach (var entry in result.Entries)
            {
                if (entry.Handle is not { } handle || entry.Name is "." or "..") continue;
                // Listing needs read permission, looking up needs search: no proof for the credential here.
                Volume.RememberLookup(directory, entry.Name, handle, entry.Attributes, null, credential: null, sequence);
            }
            return result;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, directory);
            throw;
        }
    }

    public Task<FsStatResult> FsStatAsync(NfsFileHandle root, CancellationToken cancellationToken = default) =>
        ObserveAsync(root, () => _nfs.FsStatAsync(root, cancellationToken), (result, sequence) => Volume.Remember(root, result.Attributes, sequence));

    public Task<FsInfoResult> FsInfoAsync(NfsFileHandle root, CancellationToken cancellationToken = default) =>
        ObserveAsync(root, () => _nfs.FsInfoAsync(root, cancellationToken), (result, sequence) => Volume.Remember(root, result.Attributes, sequence));

    public Task<PathConfResult> PathConfAsync(NfsFileHandle handle, CancellationToken cancellationToken = default) =>
        ObserveAsync(handle, () => _nfs.PathConfAsync(handle, cancellationToken), (result, sequence) => Volume.Remember(handle, result.Attributes, sequence));

    /// <summary>
    /// What a failure says (RFC 1813 §3.3, each procedure's resfail arm): attributes or wcc_data of
    /// <paramref name="handle"/> (and for RENAME and LINK of <paramref name="second"/>), or, for STALE and BADHANDLE,
    /// that nothing cached about the handles is worth keeping.
    /// </summary>
    /// <summary>
    /// One call about <paramref name="handle"/> as a volume request: its reply feeds the volume through
    /// <paramref name="observe"/> (with the request's sequence, so that older replies never overwrite newer ones), a
    /// failure through <see cref="Failed"/>.
    /// </summary>
    private async Task<T> ObserveAsync<T>(NfsFileHandle handle, Func<Task<T>> call, Action<T, long> observe)
    {
        long sequence = Volume.BeginRequest();
        try
        {
            var result = await call().ConfigureAwait(false);
            observe(result, sequence);
            return result;
        }
        catch (Nfs3Exception e)
        {
            Failed(e, sequence, handle);
            throw;
        }
    }

    private void Failed(Nfs3Exception e, long sequence, NfsFileHandle handle, NfsFileHandle? second = null)
    {
        if (e.Status is Nfs3Status.Stale or Nfs3Status.BadHandle)
        {
            Volume.ForgetHandle(handle);
            if (second is { } other) Volume.ForgetHandle(other);
            return;
        }
        switch (e.FailureDetails)
        {
            case Fattr3 attributes:
                Volume.Remember(handle, attributes, sequence);
                break;
            case WccData wcc:
                Volume.RememberOwnChange(handle, wcc, sequence);
                break;
            case RenameResult rename:
                Volume.RememberOwnChange(handle, rename.FromDirWcc, sequence);
                if (second is { } to && to != handle) Volume.RememberOwnChange(to, rename.ToDirWcc, sequence);
                break;
            case LinkResult link:
                Volume.Remember(handle, link.FileAttributes, sequence);
                if (second is { } directory) Volume.RememberOwnChange(directory, link.LinkDirWcc, sequence);
                break;
        }
    }
}
