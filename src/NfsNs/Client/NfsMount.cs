using System.Net;
using System.Runtime.CompilerServices;
using NfsNs.Namespaces;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;

namespace NfsNs.Client;

/// <summary>
/// One NFSv3 export mounted through one network namespace: what a library user holds. Paths given to its methods are
/// relative to the export root ("/" is the root itself; a leading slash is optional).
/// </summary>
/// <remarks>
/// <para>Attributes and LOOKUP results come from the mount's <see cref="Volume"/>, shared by every mount of the same
/// file system through the same connection, within the mount's attribute timeouts (nfs(5) <c>acregmin</c> …,
/// <c>noac</c>); opening a file always asks the server (close-to-open consistency, unless <c>nocto</c>), and closing a
/// written one commits it before dispose returns.</para>
/// Every socket of the mount (rpcbind, MOUNT, NFS, and every reconnect) is created by one
/// <see cref="NamespaceSocketFactory"/> that holds its own reference to the namespace, so the mount keeps talking to the
/// same server after the namespace's name is deleted or the caller moves to another namespace.
/// </remarks>
public sealed class NfsMount : IAsyncDisposable
{
    private readonly NfsServerConnection _server;
    private readonly NfsVolume _volume;
    private readonly NfsClientRegistry _registry;
    private readonly NetworkNamespace _namespace;
    private static long s_nextMountId;
    private int _disposed;

    /// <summary>Raised once when disposal starts, while the mount's counters can still be read (for <c>--stats</c>).</summary>
    public event Action<NfsMount>? Unmounting;

    /// <summary>This mount's number in the mount table.</summary>
    public long MountId { get; } = Interlocked.Increment(ref s_nextMountId);

    /// <summary>The connection this mount shares with every other mount of the same server through the same namespace.</summary>
    public NfsServerConnection Server => _server;

    /// <summary>The file system this mount is on, whose attribute and LOOKUP caches it shares with every other mount of it through <see cref="Server"/>.</summary>
    public NfsVolume Volume => _volume;
    private readonly RpcCredentials _credentials;
    private int _readDirPlusUnsupported;

    public NfsMountOptions Options { get; }

    /// <summary>The export that was mounted (a MOUNT dirpath such as <c>/export</c>).</summary>
    public string ExportPath { get; }

    /// <summary>What remains of <see cref="NfsMountOptions.Path"/> below the export, always starting with '/'.</summary>
    public string PathInExport { get; }

    public NetworkNamespace Namespace => _namespace;
    public IPEndPoint NfsEndPoint { get; }
    public IPEndPoint? MountEndPoint { get; }
    public NfsFileHandle RootHandle { get; }
    public FsInfoResult FsInfo { get; }

    /// <summary>READ size in use: the server's rtmax clamped to <see cref="NfsMountOptions.MaxReadSize"/> (R4).</summary>
    public int ReadSize { get; }
    public int WriteSize { get; }

    internal NfsVolumeClient Nfs { get; }
    public RpcConnection Connection => _server.Rpc;

    private NfsMount(NfsMountOptions options, NetworkNamespace ns, NfsClientRegistry registry, NfsServerConnection server, RpcCredentials credentials,
        NfsVolumeClient nfs, string exportPath, string pathInExport, IPEndPoint nfsEndPoint, IPEndPoint? mountEndPoint,
        NfsFileHandle root, FsInfoResult fsInfo)
    {
        Options = options;
        _namespace = ns;
        _registry = registry;
        _server = server;
        _volume = nfs.Volume;
        _credentials = credentials;
        Nfs = nfs;
        ExportPath = exportPath;
        PathInExport = pathInExport;
        NfsEndPoint = nfsEndPoint;
        MountEndPoint = mountEndPoint;
        RootHandle = root;
        FsInfo = fsInfo;
        // A shared connection keeps the record cap of the mount that opened it.
        int recordRoom = server.Rpc.Options.MaxRecordSize - 64 * 1024;
        ReadSize = ClampTransferSize(fsInfo.ReadMax, fsInfo.ReadPreferred, Math.Min(options.MaxReadSize, recordRoom));
        WriteSize = ClampTransferSize(fsInfo.WriteMax, fsInfo.WritePreferred, Math.Min(options.MaxWriteSize, recordRoom));
    }

    private static int ClampTransferSize(uint serverMax, uint serverPreferred, int clientMax)
    {
        // RFC 1813 §3.3.19: rtmax is the largest READ the server accepts; rtpref the preferred size. Use the larger
        // of the two the server names, never above our own buffers, never below 4 KiB, a multiple of 4 KiB.
        long size = Math.Min(Math.Max(serverMax, serverPreferred), (uint)clientMax);
        if (size == 0) size = clientMax;
        size = Math.Max(4096, size & ~4095L);
        return (int)size;
    }

    /// <summary>Mounts from a URL such as <c>nfs://127.0.0.1/export/dir?netns=A&amp;uid=1000</c>.</summary>
    public static Task<NfsMount> MountAsync(string url, CancellationToken cancellationToken = default) =>
        MountAsync(NfsUrl.Parse(url), null, cancellationToken);

    public static Task<NfsMount> MountAsync(NfsUrl parsed, CancellationToken cancellationToken = default) =>
        MountAsync(parsed, null, cancellationToken);

    /// <summary>
    /// Mounts the export that holds a parsed URL's path, through the URL's <c>netns=</c> or the caller's namespace;
    /// <paramref name="configure"/> may adjust the options the URL gives (a warning sink, sizes, …).
    /// </summary>
    public static async Task<NfsMount> MountAsync(NfsUrl parsed, Func<NfsMountOptions, NfsMountOptions>? configure, CancellationToken cancellationToken = default)
    {
        NetworkNamespace? ns = parsed.Netns is null ? null : NetworkNamespace.Open(parsed.Netns);
        try
        {
            var options = NfsMountOptions.FromUrl(parsed, ns);
            return await MountAsync(configure is null ? options : configure(options), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ns?.Dispose();
        }
    }

    /// <summary>
    /// Mounts: resolves the server inside the namespace, finds MOUNT (rpcbind unless a port is given), picks the
    /// export, mounts it, finds NFS and reads FSINFO. Nothing is left open if any step fails.
    /// </summary>
    public static Task<NfsMount> MountAsync(NfsMountOptions options, CancellationToken cancellationToken = default) =>
        MountAsync(options, NfsClientRegistry.Shared, cancellationToken);

    /// <summary>Mounts through <paramref name="registry"/>: mounts of one server through one namespace share its connection.</summary>
    public static async Task<NfsMount> MountAsync(NfsMountOptions options, NfsClientRegistry registry, CancellationToken cancellationToken = default)
    {
        NfsServerConnection? server = null;
        NfsVolume? volume = null;
        options.AttributeTimeouts.Validate(nameof(options));
        // The mount holds its own reference: the caller may dispose theirs, delete the name, or move elsewhere.
        var ns = options.Namespace?.Clone() ?? NetworkNamespace.Current();
        var cleanup = new List<IAsyncDisposable>();
        try
        {
            var sockets = new NamespaceSocketFactory(ns);
            var address = ResolveServer(sockets, options.Host, ns);
            RpcCredentials credentials = options.Auth == RpcAuthFlavor.None
                ? RpcCredentials.None
                : new AuthSysCredentials(options.Uid, options.Gid, options.SupplementaryGids);
            var connectionOptions = new RpcConnectionOptions
            {
                Timeout = options.Timeout,
                Retransmits = options.Retransmits,
                Hard = !options.Soft,
                Reconnect = options.Reconnect,
                Warn = options.Warn,
                // A READ reply or WRITE call carries up to rsize/wsize bytes plus headers and attributes.
                MaxRecordSize = Math.Max(Math.Max(options.MaxReadSize, options.MaxWriteSize), (int)options.DirMaxCount) + 64 * 1024,
            };

            var (mountConnection, mountEndPoint) = await ConnectMountAsync(sockets, address, options, connectionOptions, cancellationToken).ConfigureAwait(false);
            cleanup.Add(mountConnection);
            var mount3 = new Mount3Client(new RpcProgramClient(mountConnection, Mount3.Program, Mount3.Version, credentials));

            string path = NfsPath.Normalize(options.Path);
            var (exportPath, root) = await MountExportAsync(mount3, path, cancellationToken).ConfigureAwait(false);

            int nfsPort = options.NfsPort
                ?? await GetNfsPortAsync(sockets, address, cancellationToken).ConfigureAwait(false);
            var nfsEndPoint = new IPEndPoint(address, nfsPort);
            if (options.NConnect is < 1 or > NfsUrl.MaxNConnect)
                throw new ArgumentOutOfRangeException(nameof(options), $"nconnect must be from 1 to {NfsUrl.MaxNConnect}, not {options.NConnect}");
            var key = new NfsServerKey(ns.Id, nfsEndPoint, Nfs3.Version, options.Auth, !options.Soft, options.Timeout, options.Retransmits, options.NConnect);
            server = registry.Acquire(key, ns.Clone(), serverNamespace =>
            {
                var sockets = new NamespaceSocketFactory(serverNamespace);
                return Enumerable.Range(0, options.NConnect).Select(_ => new RpcConnection(sockets, nfsEndPoint, connectionOptions)).ToList();
            });
            var nfs = new Nfs3Client(new ServerConnectionCaller(server, Nfs3.Program, Nfs3.Version, credentials), options.Jukebox);
            var fsInfo = await FsInfoWithinMountTimeoutAsync(nfs, root, server, options, cancellationToken).ConfigureAwait(false);
            // The volume is the file system the root is on (fattr3 fsid, RFC 1813 §2.5).
            var rootAttributes = fsInfo.Attributes ?? await nfs.GetAttrAsync(root, cancellationToken).ConfigureAwait(false);
            volume = registry.AcquireVolume(server, rootAttributes.Fsid);
            volume.Remember(root, rootAttributes, volume.BeginRequest());
            var volumeClient = new NfsVolumeClient(nfs, volume, options.AttributeTimeouts, credentials);

            // MOUNT is needed again only for UMNT; don't hold its socket for the life of the mount.
            await mountConnection.DisposeAsync().ConfigureAwait(false);
            cleanup.Remove(mountConnection);

            string inExport = NfsPath.RelativeTo(exportPath, path);
            var mount = new NfsMount(options, ns, registry, server, credentials, volumeClient, exportPath, inExport, nfsEndPoint, mountEndPoint, root, fsInfo);
            registry.Add(mount);
            return mount;
        }
        catch
        {
            foreach (var item in cleanup) await item.DisposeAsync().ConfigureAwait(false);
            if (volume is not null) registry.ReleaseVolume(volume);
            if (server is not null) await registry.ReleaseAsync(server).ConfigureAwait(false);
            ns.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The first NFS call of a mount. A hard mount would retry it forever; mounting instead gives up after
    /// <see cref="NfsMountOptions.EffectiveMountTimeout"/>, as mount(8) does, saying why.
    /// </summary>
    private static async Task<FsInfoResult> FsInfoWithinMountTimeoutAsync(Nfs3Client nfs, NfsFileHandle root, NfsServerConnection server,
        NfsMountOptions options, CancellationToken cancellationToken)
    {
        var limit = options.EffectiveMountTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            return await nfs.FsInfoAsync(root, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            string why = server.Rpc.LastConnectError is { } error ? error : "no reply";
            throw new NfsClientException($"mount: NFS server {server.Rpc.Describe()} did not answer within {limit.TotalSeconds:0.#} s: {why}");
        }
    }

    private static async Task<(RpcConnection Connection, IPEndPoint EndPoint)> ConnectMountAsync(ISocketFactory sockets, IPAddress address,
        NfsMountOptions options, RpcConnectionOptions connectionOptions, CancellationToken cancellationToken)
    {
        int mountPort = options.MountPort
            ?? await RpcBinder.GetPortAsync(sockets, address, Mount3.Program, Mount3.Version, cancellationToken).ConfigureAwait(false);
        var endPoint = new IPEndPoint(address, mountPort);
        // MOUNT calls are few and short: never hang on them like a hard NFS mount would.
        return (new RpcConnection(sockets, endPoint, connectionOptions with { Hard = false }), endPoint);
    }

    /// <summary>The server's export list (MOUNT EXPORT), asked through the options' namespace, as <c>showmount -e</c>.</summary>
    public static async Task<IReadOnlyList<ExportEntry>> ListExportsAsync(NfsMountOptions options, CancellationToken cancellationToken = default)
    {
        using var ns = options.Namespace?.Clone() ?? NetworkNamespace.Current();
        var sockets = new NamespaceSocketFactory(ns);
        var address = ResolveServer(sockets, options.Host, ns);
        var connectionOptions = new RpcConnectionOptions { Timeout = options.Timeout, Retransmits = options.Retransmits, Hard = false };
        var (connection, _) = await ConnectMountAsync(sockets, address, options, connectionOptions, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var mount3 = new Mount3Client(new RpcProgramClient(connection, Mount3.Program, Mount3.Version, RpcCredentials.None));
            return await mount3.ExportAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Connects to a server's NFS program without mounting anything (no MOUNT, no file handle): for NULL-call
    /// probes such as <c>nfsns ping</c>. The caller owns the returned connection; it holds its own namespace reference.
    /// </summary>
    public static async Task<RpcConnection> ConnectNfsAsync(NfsMountOptions options, CancellationToken cancellationToken = default)
    {
        var ns = options.Namespace?.Clone() ?? NetworkNamespace.Current();
        IPAddress address;
        int port;
        try
        {
            // rpcbind's short-lived connection must not take the namespace with it: a factory that does not own it.
            var lookups = new NamespaceSocketFactory(ns);
            address = ResolveServer(lookups, options.Host, ns);
            port = options.NfsPort ?? await GetNfsPortAsync(lookups, address, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ns.Dispose();
            throw;
        }
        return new RpcConnection(new NamespaceSocketFactory(ns, ownsNamespace: true), new IPEndPoint(address, port), new RpcConnectionOptions
        {
            Timeout = options.Timeout,
            Retransmits = options.Retransmits,
            Hard = false,
            Reconnect = options.Reconnect,
        });
    }

    private static IPAddress ResolveServer(ISocketFactory sockets, string host, NetworkNamespace ns)
    {
        try
        {
            var addresses = sockets.ResolveHost(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault()
                ?? throw new NfsClientException($"cannot resolve '{host}' in network namespace {ns}: no addresses");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new NfsClientException($"cannot resolve '{host}' in network namespace {ns}: {e.Message}", e);
        }
    }

    private static async Task<int> GetNfsPortAsync(ISocketFactory sockets, IPAddress address, CancellationToken cancellationToken)
    {
        try
        {
            return await RpcBinder.GetPortAsync(sockets, address, Nfs3.Program, Nfs3.Version, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcConnectionException)
        {
            // NFS's port is well known (2049); only MOUNT truly needs rpcbind.
            return Nfs3.DefaultPort;
        }
    }

    /// <summary>
    /// The export is the longest exported path that is a component-wise prefix of <paramref name="path"/> (from
    /// MOUNT EXPORT). When the server will not list its exports, or none matches, MNT of the path itself and then of
    /// its directory are tried.
    /// </summary>
    private static async Task<(string Export, NfsFileHandle Root)> MountExportAsync(Mount3Client mount3, string path, CancellationToken cancellationToken)
    {
        var candidates = new List<string>();
        try
        {
            var exports = await mount3.ExportAsync(cancellationToken).ConfigureAwait(false);
            var best = exports.Select(e => NfsPath.Normalize(e.Directory))
                .Where(e => NfsPath.IsPrefix(e, path))
                .OrderByDescending(e => e.Length)
                .FirstOrDefault();
            if (best is not null) candidates.Add(best);
        }
        catch (RpcException)
        {
            // Some servers refuse EXPORT to unprivileged callers; MNT may still work.
        }
        if (!candidates.Contains(path)) candidates.Add(path);
        string parent = NfsPath.Parent(path);
        if (!candidates.Contains(parent)) candidates.Add(parent);

        Mount3Exception? firstFailure = null;
        foreach (string candidate in candidates)
        {
            try
            {
                var result = await mount3.MntAsync(candidate, cancellationToken).ConfigureAwait(false);
                return (candidate, result.Handle);
            }
            catch (Mount3Exception e)
            {
                firstFailure ??= e;
            }
        }
        throw firstFailure!;
    }

    /// <summary>Full server path of a path inside the export, for messages.</summary>
    public string ServerPath(string path)
    {
        string normal = NfsPath.Normalize(path);
        return normal == "/" ? ExportPath : ExportPath.TrimEnd('/') + normal;
    }

    // ---- path resolution -------------------------------------------------------------------------------------

    /// <summary>Symbolic links followed in one resolution before it fails with ELOOP, as Linux's MAXSYMLINKS.</summary>
    public const int MaxSymlinkHops = 40;

    /// <summary>
    /// LOOKUPs each component from the export root, following symbolic links in the directories on the way like
    /// path resolution does (and the last component too when <paramref name="followLast"/>, as open(2) does; stat-like
    /// callers pass false, as lstat(2)). ".." is passed to the server, which stops at the export root. A link whose
    /// target is absolute names a path on the client's side of a kernel mount, which this client does not have, so it
    /// is refused with a clear error rather than resolved against the export root. Components are answered from the
    /// volume's LOOKUP cache while their directory's attributes are fresh.
    /// </summary>
    public Task<NfsFileHandle> LookupAsync(string path, bool followLast = false, CancellationToken cancellationToken = default) =>
        ResolveAsync(path, followLast, revalidate: false, cancellationToken);

    /// <summary>As <see cref="LookupAsync(string, bool, CancellationToken)"/>; with <paramref name="revalidate"/>, every component is asked of the server.</summary>
    private async Task<NfsFileHandle> ResolveAsync(string path, bool followLast, bool revalidate, CancellationToken cancellationToken)
    {
        var pending = new LinkedList<string>(NfsPath.Components(path));
        var handle = RootHandle;
        int hops = 0;
        while (pending.First is { } node)
        {
            string component = node.Value;
            pending.RemoveFirst();
            LookupResult found;
            try
            {
                found = revalidate
                    ? await Nfs.LookupAsync(handle, component, cancellationToken).ConfigureAwait(false)
                    : await Nfs.LookupCachedAsync(handle, component, cancellationToken).ConfigureAwait(false);
            }
            catch (Nfs3Exception e)
            {
                throw e.WithPath(ServerPath(path));
            }
            bool isLast = pending.Count == 0;
            if (isLast && !followLast)
                return found.Handle;
            var type = found.Attributes?.Type ?? (await Nfs.GetAttrAsync(found.Handle, cancellationToken).ConfigureAwait(false)).Type;
            if (type != Nfs3FileType.Symlink)
            {
                handle = found.Handle;
                continue;
            }
            if (++hops > MaxSymlinkHops)
                throw new NfsClientException($"{ServerPath(path)}: too many levels of symbolic links (ELOOP, more than {MaxSymlinkHops})");
            string target = await Nfs.ReadLinkAsync(found.Handle, cancellationToken).ConfigureAwait(false);
            if (target.StartsWith('/'))
                throw new NfsClientException($"{ServerPath(path)}: symbolic link '{component}' points to the absolute path '{target}', " +
                    "which only a kernel mount's client side could resolve");
            // Continue from the directory holding the link, with the target's components in front of the rest.
            var rest = NfsPath.Components(target);
            for (int i = rest.Count - 1; i >= 0; i--) pending.AddFirst(rest[i]);
        }
        return handle;
    }

    /// <summary>As <see cref="LookupAsync(string, bool, CancellationToken)"/> without following the last component.</summary>
    public Task<NfsFileHandle> LookupAsync(string path, CancellationToken cancellationToken) => LookupAsync(path, false, cancellationToken);

    /// <summary>Handle of the directory that holds <paramref name="path"/>, and the last component's name.</summary>
    private async Task<(NfsFileHandle Directory, string Name)> ResolveParentAsync(string path, bool revalidate, CancellationToken cancellationToken)
    {
        string normal = NfsPath.Normalize(path);
        if (normal == "/")
            throw new NfsClientException($"{ServerPath(path)} is the export root: it has no parent directory inside the export");
        var directory = await ResolveAsync(NfsPath.Parent(normal), followLast: true, revalidate, cancellationToken).ConfigureAwait(false);
        return (directory, NfsPath.Name(normal));
    }

    /// <summary>Whether this mount answers anything from its volume's caches (not with <c>noac</c> or all timeouts 0).</summary>
    private bool UsesCache => !Nfs.Timeouts.IsDisabled;

    /// <summary>
    /// Runs <paramref name="operation"/>, which resolves its path(s) and acts on the handles. If the server calls a
    /// handle stale, and the resolution may have used cached LOOKUP results (the object was removed or replaced on the
    /// server meanwhile), the operation runs once more resolving every component from the server, as Linux's VFS
    /// repeats a path walk with LOOKUP_REVAL after ESTALE. A stale reply means the operation was not performed
    /// (RFC 1813 §2.6, NFS3ERR_STALE), so running it again is safe.
    /// </summary>
    private async Task<T> WithRevalidationAsync<T>(string path, Func<bool, Task<T>> operation)
    {
        try
        {
            return await OnPathAsync(path, () => operation(false)).ConfigureAwait(false);
        }
        catch (Nfs3Exception e) when (e.Status == Nfs3Status.Stale && UsesCache)
        {
            return await OnPathAsync(path, () => operation(true)).ConfigureAwait(false);
        }
    }

    private async Task<T> OnPathAsync<T>(string path, Func<Task<T>> operation)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (Nfs3Exception e) when (e.Path is null)
        {
            throw e.WithPath(ServerPath(path));
        }
    }

    // ---- metadata --------------------------------------------------------------------------------------------

    /// <summary>The attributes of <paramref name="path"/> (not following a final symbolic link, as lstat(2)): from the volume while fresh, else GETATTR.</summary>
    public Task<Fattr3> GetAttributesAsync(string path, CancellationToken cancellationToken = default) =>
        OnResolvedAsync(path, followLast: false, handle => Nfs.GetAttrCachedAsync(handle, cancellationToken), cancellationToken);

    public Task SetAttributesAsync(string path, Sattr3 attributes, CancellationToken cancellationToken = default) =>
        OnResolvedAsync(path, followLast: true, handle => Nfs.SetAttrAsync(handle, attributes, null, cancellationToken), cancellationToken);

    public async Task<Access3> AccessAsync(string path, Access3 wanted, CancellationToken cancellationToken = default) =>
        (await OnResolvedAsync(path, followLast: true, handle => Nfs.AccessAsync(handle, wanted, cancellationToken), cancellationToken).ConfigureAwait(false)).Granted;

    public Task<string> ReadLinkAsync(string path, CancellationToken cancellationToken = default) =>
        OnResolvedAsync(path, followLast: false, handle => Nfs.ReadLinkAsync(handle, cancellationToken), cancellationToken);

    public Task<FsStatResult> FsStatAsync(string path = "/", CancellationToken cancellationToken = default) =>
        OnResolvedAsync(path, followLast: true, handle => Nfs.FsStatAsync(handle, cancellationToken), cancellationToken);

    public Task<PathConfResult> PathConfAsync(string path = "/", CancellationToken cancellationToken = default) =>
        OnResolvedAsync(path, followLast: true, handle => Nfs.PathConfAsync(handle, cancellationToken), cancellationToken);

    /// <summary>Resolves <paramref name="path"/> and runs <paramref name="operation"/> on its handle (see <see cref="WithRevalidationAsync"/>).</summary>
    private Task<T> OnResolvedAsync<T>(string path, bool followLast, Func<NfsFileHandle, Task<T>> operation, CancellationToken cancellationToken) =>
        WithRevalidationAsync(path, async revalidate =>
            await operation(await ResolveAsync(path, followLast, revalidate, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false));

    /// <summary>Resolves the directory holding <paramref name="path"/> and runs <paramref name="operation"/> on it and the last name.</summary>
    private Task<T> InParentAsync<T>(string path, Func<NfsFileHandle, string, Task<T>> operation, CancellationToken cancellationToken) =>
        WithRevalidationAsync(path, async revalidate =>
        {
            var (directory, name) = await ResolveParentAsync(path, revalidate, cancellationToken).ConfigureAwait(false);
            return await operation(directory, name).ConfigureAwait(false);
        });

    /// <summary>One NULL call: the round-trip time of the NFS connection.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        await Nfs.NullAsync(cancellationToken).ConfigureAwait(false);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start);
    }

    // ---- namespace operations ---------------------------------------------------------------------------------

    public async Task<NfsFileHandle> CreateDirectoryAsync(string path, uint mode = 0x1ED /* 0755 */, CancellationToken cancellationToken = default)
    {
        var result = await InParentAsync(path, (directory, name) => Nfs.MkdirAsync(directory, name, new Sattr3 { Mode = mode }, cancellationToken), cancellationToken).ConfigureAwait(false);
        return result.Handle ?? await LookupAsync(path, cancellationToken).ConfigureAwait(false);
    }

    public Task RemoveFileAsync(string path, CancellationToken cancellationToken = default) =>
        InParentAsync(path, (directory, name) => Nfs.RemoveAsync(directory, name, cancellationToken), cancellationToken);

    public Task RemoveDirectoryAsync(string path, CancellationToken cancellationToken = default) =>
        InParentAsync(path, (directory, name) => Nfs.RmdirAsync(directory, name, cancellationToken), cancellationToken);

    public Task RenameAsync(string fromPath, string toPath, CancellationToken cancellationToken = default) =>
        WithRevalidationAsync(fromPath, async revalidate =>
        {
            var (fromDirectory, fromName) = await ResolveParentAsync(fromPath, revalidate, cancellationToken).ConfigureAwait(false);
            var (toDirectory, toName) = await ResolveParentAsync(toPath, revalidate, cancellationToken).ConfigureAwait(false);
            return await Nfs.RenameAsync(fromDirectory, fromName, toDirectory, toName, cancellationToken).ConfigureAwait(false);
        });

    /// <summary>Hard link: <paramref name="newPath"/> becomes another name of <paramref name="existingPath"/>.</summary>
    public Task LinkAsync(string existingPath, string newPath, CancellationToken cancellationToken = default) =>
        WithRevalidationAsync(newPath, async revalidate =>
        {
            var file = await ResolveAsync(existingPath, followLast: false, revalidate, cancellationToken).ConfigureAwait(false);
            var (directory, name) = await ResolveParentAsync(newPath, revalidate, cancellationToken).ConfigureAwait(false);
            return await Nfs.LinkAsync(file, directory, name, cancellationToken).ConfigureAwait(false);
        });

    public Task SymlinkAsync(string target, string linkPath, CancellationToken cancellationToken = default) =>
        InParentAsync(linkPath, (directory, name) => Nfs.SymlinkAsync(directory, name, target, new Sattr3(), cancellationToken), cancellationToken);

    // ---- directories -------------------------------------------------------------------------------------------

    /// <summary>
    /// Lists a directory page by page: READDIRPLUS (names, attributes, handles), or READDIR where the server answers
    /// NOTSUPP (D1). Cookies and the cookie verifier are carried between pages as RFC 1813 §3.3.16 says; a server
    /// that sends an empty page without EOF, or a cookie that does not advance or comes back to one already resumed
    /// from, fails the listing (D2) instead of looping forever. "." and ".." are returned when the server sends them.
    /// </summary>
    public async IAsyncEnumerable<NfsDirectoryEntry> ListAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The first page is where a stale cached handle of the directory shows.
        var (directory, result) = await WithRevalidationAsync(path, async revalidate =>
        {
            var handle = await ResolveAsync(path, followLast: true, revalidate, cancellationToken).ConfigureAwait(false);
            return (handle, await ReadDirectoryPageAsync(handle, 0, 0, cancellationToken).ConfigureAwait(false));
        }).ConfigureAwait(false);
        ulong cookie = 0, verifier = 0;
        // Cookies are opaque (RFC 1813 §3.3.16), not necessarily increasing: the only sure sign of a loop is resuming
        // from a position already resumed from. One cookie per page, so this grows with the listing, not beyond it.
        var resumedFrom = new HashSet<ulong> { 0 };
        for (int page = 0; ; page++)
        {
            if (page > 0)
            {
                try
                {
                    result = await ReadDirectoryPageAsync(directory, cookie, verifier, cancellationToken).ConfigureAwait(false);
                }
                catch (Nfs3Exception e)
                {
                    throw e.WithPath(ServerPath(path));
                }
            }
            foreach (var entry in result.Entries)
                yield return entry;
            if (result.Eof) yield break;
            if (result.Entries.Count == 0)
                throw new NfsClientException($"READDIR {ServerPath(path)}: the server returned an empty page without EOF at cookie {cookie} (page {page}); giving up instead of looping");
            ulong next = result.Entries[^1].Cookie;
            if (next == cookie)
                throw new NfsClientException($"READDIR {ServerPath(path)}: the server's cookie did not advance past {cookie} (page {page}); giving up instead of looping");
            if (!resumedFrom.Add(next))
                throw new NfsClientException($"READDIR {ServerPath(path)}: the server returned cookie {next} again after page {page}, which would list the same entries again; giving up instead of looping");
            cookie = next;
            verifier = result.CookieVerifier;
        }
    }

    private readonly record struct NfsDirectoryPage(IReadOnlyList<NfsDirectoryEntry> Entries, ulong CookieVerifier, bool Eof);

    private async Task<NfsDirectoryPage> ReadDirectoryPageAsync(NfsFileHandle directory, ulong cookie, ulong verifier, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _readDirPlusUnsupported) == 0)
        {
            try
            {
                var plus = await Nfs.ReadDirPlusAsync(directory, cookie, verifier, Options.DirCount, Options.DirMaxCount, cancellationToken).ConfigureAwait(false);
                var entries = plus.Entries.Select(e => new NfsDirectoryEntry(e.Name, e.FileId, e.Cookie, e.Attributes, e.Handle)).ToList();
                return new NfsDirectoryPage(entries, plus.CookieVerifier, plus.Eof);
            }
            catch (Nfs3Exception e) when (e.Status == Nfs3Status.NotSupp)
            {
                Volatile.Write(ref _readDirPlusUnsupported, 1);
            }
        }
        var plain = await Nfs.ReadDirAsync(directory, cookie, verifier, Options.DirMaxCount, cancellationToken).ConfigureAwait(false);
        var plainEntries = plain.Entries.Select(e => new NfsDirectoryEntry(e.Name, e.FileId, e.Cookie, null, null)).ToList();
        return new NfsDirectoryPage(plainEntries, plain.CookieVerifier, plain.Eof);
    }

    // ---- files -------------------------------------------------------------------------------------------------

    public async Task<NfsFileStream> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        var (handle, attributes) = await OpenExistingAsync(path, cancellationToken).ConfigureAwait(false);
        if (attributes.Type == Nfs3FileType.Directory)
            throw new Nfs3Exception(Nfs3Procedure.Read, Nfs3Status.IsDir).WithPath(ServerPath(path));
        return new NfsFileStream(this, handle, ServerPath(path), attributes, canRead: true, canWrite: false);
    }

    /// <summary>
    /// Opens a file for writing. <see cref="FileMode.Create"/> creates or truncates, <see cref="FileMode.CreateNew"/>
    /// fails if it exists (GUARDED), <see cref="FileMode.Open"/> needs it to exist, <see cref="FileMode.OpenOrCreate"/>
    /// creates without truncating, <see cref="FileMode.Append"/> starts at the end.
    /// </summary>
    public async Task<NfsFileStream> OpenWriteAsync(string path, FileMode mode = FileMode.Create, uint createMode = 0x1A4 /* 0644 */, CancellationToken cancellationToken = default)
    {
        NfsFileHandle handle;
        Fattr3 attributes;
        if (mode == FileMode.Open || mode == FileMode.Append || mode == FileMode.Truncate)
        {
            (handle, attributes) = await OpenExistingAsync(path, cancellationToken).ConfigureAwait(false);
            if (mode == FileMode.Truncate && attributes.Type != Nfs3FileType.Directory)
            {
                var wcc = await OnPathAsync(path, () => Nfs.SetAttrAsync(handle, new Sattr3 { Size = 0 }, null, cancellationToken)).ConfigureAwait(false);
                attributes = wcc.After ?? await OnPathAsync(path, () => Nfs.GetAttrAsync(handle, cancellationToken)).ConfigureAwait(false);
            }
        }
        else
        {
            var how = mode == FileMode.CreateNew ? CreateMode.Guarded : CreateMode.Unchecked;
            // RFC 1813 §3.3.8: UNCHECKED with a size of 0 truncates an existing file; without a size it is left as is.
            var attrs = new Sattr3 { Mode = createMode, Size = mode == FileMode.Create ? 0 : null };
            var (directory, name, created) = await WithRevalidationAsync(path, async revalidate =>
            {
                var (directory, name) = await ResolveParentAsync(path, revalidate, cancellationToken).ConfigureAwait(false);
                return (directory, name, await Nfs.CreateAsync(directory, name, how, attrs, 0, cancellationToken).ConfigureAwait(false));
            }).ConfigureAwait(false);
            handle = created.Handle ?? (await OnPathAsync(path, () => Nfs.LookupAsync(directory, name, cancellationToken)).ConfigureAwait(false)).Handle;
            attributes = await OnPathAsync(path, () => OpenAttributesAsync(handle, cancellationToken)).ConfigureAwait(false);
        }
        if (attributes.Type == Nfs3FileType.Directory)
            throw new Nfs3Exception(Nfs3Procedure.Write, Nfs3Status.IsDir).WithPath(ServerPath(path));
        var stream = new NfsFileStream(this, handle, ServerPath(path), attributes, canRead: false, canWrite: true);
        if (mode == FileMode.Append) stream.Position = (long)attributes.Size;
        return stream;
    }

    /// <summary>This server's NLM client (shared by every mount of the server through this namespace), started on first use.</summary>
    internal Task<Locking.NfsLockClient> GetLockClientAsync(CancellationToken cancellationToken) =>
        _server.GetLockClientAsync(_registry, Options, cancellationToken);

    /// <summary>
    /// Resolves an existing file to open it (following a final symbolic link) and gets its attributes as
    /// <see cref="OpenAttributesAsync"/> says. A cached name whose file has since been removed on the server (link
    /// count 0: the server still has it because someone holds it open) no longer names that file, so the path is
    /// looked up again from the server, as for a stale handle.
    /// </summary>
    private async Task<(NfsFileHandle Handle, Fattr3 Attributes)> OpenExistingAsync(string path, CancellationToken cancellationToken)
    {
        var opened = await WithRevalidationAsync(path, revalidate => OpenResolvedAsync(path, revalidate, cancellationToken)).ConfigureAwait(false);
        if (opened.Attributes.Nlink == 0 && UsesCache)
            opened = await OnPathAsync(path, () => OpenResolvedAsync(path, revalidate: true, cancellationToken)).ConfigureAwait(false);
        return opened;
    }

    private async Task<(NfsFileHandle Handle, Fattr3 Attributes)> OpenResolvedAsync(string path, bool revalidate, CancellationToken cancellationToken)
    {
        var handle = await ResolveAsync(path, followLast: true, revalidate, cancellationToken).ConfigureAwait(false);
        return (handle, await OpenAttributesAsync(handle, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Close-to-open consistency (nfs(5) "Close-to-open cache consistency"): opening a file asks the server for its
    /// attributes "regardless of the freshness of the file's cached attributes", and what comes back replaces what the
    /// volume held (a changed size, mtime or ctime ends everything derived from the old ones). With <c>nocto</c>,
    /// fresh cached attributes are used.
    /// </summary>
    private Task<Fattr3> OpenAttributesAsync(NfsFileHandle handle, CancellationToken cancellationToken) =>
        Options.NoCto ? Nfs.GetAttrCachedAsync(handle, cancellationToken) : Nfs.GetAttrAsync(handle, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Unmounting?.Invoke(this);
        // Locks of streams left open go with the mount; another mount may share the server's lock client.
        if (_server.LockClient is { } locks) await locks.ReleaseAsync(held => held.Stream.Mount == this).ConfigureAwait(false);
        _registry.Remove(this);
        // UMNT is advisory (RFC 1813 appendix I.4.3): the server forgets us from its DUMP list. Best effort, brief.
        if (MountEndPoint is not null)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var sockets = new NamespaceSocketFactory(_namespace);
                await using var connection = new RpcConnection(sockets, MountEndPoint,
                    new RpcConnectionOptions { Timeout = TimeSpan.FromSeconds(2), Retransmits = 0, Hard = false, Reconnect = false });
                var mount3 = new Mount3Client(new RpcProgramClient(connection, Mount3.Program, Mount3.Version, _credentials));
                await mount3.UmntAsync(ExportPath, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or Mount3Exception or OperationCanceledException or System.Net.Sockets.SocketException)
            {
            }
        }
        _registry.ReleaseVolume(_volume);
        await _registry.ReleaseAsync(_server).ConfigureAwait(false);
        _namespace.Dispose();
    }

    public override string ToString() => $"nfs://{NfsEndPoint}{ExportPath} in network namespace {_namespace}";

    /// <summary>This mount's row of the mount table.</summary>
    public NfsMountInfo Describe()
    {
        string host = NfsEndPoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{NfsEndPoint.Address}]" : NfsEndPoint.Address.ToString();
        return new NfsMountInfo(
            MountId,
            $"nfs://{host}:{NfsEndPoint.Port}{ServerPath(PathInExport)}",
            ExportPath,
            _namespace.Id.Inode,
            _namespace.Name,
            Connection.LocalEndPoint?.ToString(),
            NfsEndPoint.ToString(),
            "tcp",
            Nfs3.Version,
            _server.Id,
            _registry.MountsSharing(_server),
            _server.Transports.Count,
            Connection.Stats,
            _server.LockClient is { } locks ? [.. _server.Procedures, .. locks.Connection.Stats.Procedures] : _server.Procedures,
            _volume.Id,
            _volume.Fsid,
            _volume.Stats,
            _server.LockClient?.Describe());
    }
}

/// <summary>One directory entry; <see cref="Attributes"/> and <see cref="Handle"/> come with READDIRPLUS only.</summary>
public sealed record NfsDirectoryEntry(string Name, ulong FileId, ulong Cookie, Fattr3? Attributes, NfsFileHandle? Handle);

/// <summary>A client-side failure that is not an NFS status: a misbehaving server, a bad path, an unusable answer.</summary>
public sealed class NfsClientException(string message, Exception? inner = null) : IOException(message, inner);
