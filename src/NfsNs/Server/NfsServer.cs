using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Server.Locking;

namespace NfsNs.Server;

/// <summary>How clients of an <see cref="NfsServer"/> find its NFS and MOUNT ports.</summary>
public enum RpcbindMode
{
    /// <summary>The server answers portmap v2 and rpcbind v3/v4 itself, on <see cref="NfsServerOptions.PortmapPort"/>.</summary>
    Embedded,
    /// <summary>
    /// The server registers NFS v3 and MOUNT v3 (and NLM v4 and NSM v1 when locking) with the rpcbind already running in its network namespace
    /// (<see cref="NfsServerOptions.ExternalRpcbind"/>, reached through the server's socket factory) and unregisters
    /// them when it stops.
    /// </summary>
    External,
    /// <summary>No portmapper: clients must be told the ports.</summary>
    None,
}

/// <summary>Where and what an <see cref="NfsServer"/> serves.</summary>
public sealed record NfsServerOptions
{
    public const int DefaultMountPort = 20048;

    /// <summary>The exports; their paths and export ids must be distinct.</summary>
    public required IReadOnlyList<NfsExport> Exports { get; init; }

    /// <summary>Creates the listening sockets; wins over <see cref="Namespace"/>.</summary>
    public ISocketFactory? Sockets { get; init; }

    /// <summary>The network namespace to listen in (the caller keeps ownership); the current one when both are null.</summary>
    public NetworkNamespace? Namespace { get; init; }

    public IPAddress Address { get; init; } = IPAddress.Loopback;
    public int NfsPort { get; init; } = Nfs3.DefaultPort;
    public int MountPort { get; init; } = DefaultMountPort;

    public RpcbindMode Rpcbind { get; init; } = RpcbindMode.Embedded;

    /// <summary>
    /// With <see cref="RpcbindMode.Embedded"/>: the embedded portmap/rpcbind's port (111); null serves no portmapper,
    /// like <see cref="RpcbindMode.None"/>.
    /// </summary>
    public int? PortmapPort { get; init; } = PortmapProtocol.Port;

    /// <summary>With <see cref="RpcbindMode.External"/>: the rpcbind to register with, in the server's namespace.</summary>
    public IPEndPoint ExternalRpcbind { get; init; } = new(IPAddress.Loopback, PortmapProtocol.Port);

    /// <summary>One line per mount, unmount, error and connection closed for cause.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>RPC limits; the record cap must stay above a 1 MiB WRITE with its headers.</summary>
    public RpcServerOptions? Rpc { get; init; }

    /// <summary>Linux lockd's default grace period (its <c>nlm_grace_period</c> follows the NFSv4 lease, 90 s).</summary>
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromSeconds(90);

    /// <summary>
    /// Serve byte-range locks: NLM v4 (100021) and the server's status monitor NSM v1 (100024), registered next to
    /// NFS and MOUNT. Without it clients must mount with <c>nolock</c> (or lock locally only).
    /// </summary>
    public bool EnableLocking { get; init; } = true;

    /// <summary>
    /// NLM's port: null (the default) serves NLM on the NFS listener — one port fewer to open and nothing to collide
    /// with, and clients find it through rpcbind either way; 0 picks a free port (as Linux lockd does unless
    /// <c>nlm_tcpport</c> is set); any other value listens there (ganesha's usual fixed port is 32803).
    /// </summary>
    public int? NlmPort { get; init; }

    /// <summary>NSM's port, as <see cref="NlmPort"/>: null serves it wherever NLM is served.</summary>
    public int? NsmPort { get; init; }

    /// <summary>
    /// Where the NSM state number and the monitored clients are kept across restarts; null:
    /// <see cref="NsmStateStore.DefaultDirectory"/>("server", namespace name, namespace inode). Created only when the
    /// first client takes a lock.
    /// </summary>
    public string? StateDirectory { get; init; }

    /// <summary>
    /// How long after a restart (a start that finds clients monitored by the previous run) only lock reclaims are
    /// accepted.
    /// </summary>
    public TimeSpan GracePeriod { get; init; } = DefaultGracePeriod;

    /// <summary>
    /// The name SM_NOTIFY announces after a restart, which clients match against the server they monitor; null: the
    /// listening <see cref="Address"/> (or, when that is a wildcard, the address the server reaches each client from).
    /// </summary>
    public string? ServerName { get; init; }

    /// <summary>Limits of the lock table (locks and waiting requests per client and in all).</summary>
    public ByteRangeLockLimits? LockLimits { get; init; }

    /// <summary>
    /// Where call-backs to a client's NLM (GRANTED) and NSM (SM_NOTIFY) go; null asks the client's rpcbind through
    /// the server's socket factory. For tests, whose call-back services cannot register in the rpcbind the server
    /// itself answers.
    /// </summary>
    internal RpcServiceResolver? CallbackResolver { get; init; }

    /// <summary>The wait between GRANTED attempts and the first wait between SM_NOTIFY attempts.</summary>
    internal TimeSpan CallbackRetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one call-back waits for its reply.</summary>
    internal TimeSpan CallbackTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// An NFSv3 server running in this process, listening in one network namespace: NFS (100003 v3), MOUNT (100005 v3),
/// byte-range locking — NLM v4 (100021) with its status monitor NSM v1 (100024), see <see cref="LockManager"/> — and an
/// embedded portmap/rpcbind (100000 v2–v4) on which all are registered, all on one <see cref="RpcServer"/>; or, with
/// <see cref="RpcbindMode.External"/>, registered with that namespace's own rpcbind.
/// <code>
/// await using var server = await NfsServer.StartAsync(new NfsServerOptions
/// {
///     Namespace = NetworkNamespace.Open("A"),
///     Exports = [new NfsExport("/export", new MemoryFileSystem())],
/// });
/// </code>
/// </summary>
public sealed class NfsServer : IAsyncDisposable
{
    private readonly RpcServer _rpc;
    private readonly NetworkNamespace? _ownedNamespace;
    private readonly Nfs3Program _nfs;
    private readonly Mount3Program _mount;
    private readonly Action<string>? _log;
    private RpcbindRegistration? _registration;
    private LockManager? _locking;

    private NfsServer(RpcServer rpc, NetworkNamespace? ownedNamespace, Nfs3Program nfs, Mount3Program mount, IReadOnlyList<NfsExport> exports,
        Action<string>? log)
    {
        _log = log;
        _rpc = rpc;
        _ownedNamespace = ownedNamespace;
        _nfs = nfs;
        _mount = mount;
        Exports = exports;
    }

    public IReadOnlyList<NfsExport> Exports { get; }
    public IPEndPoint NfsEndPoint { get; private set; } = null!;
    public IPEndPoint MountEndPoint { get; private set; } = null!;
    public IPEndPoint? PortmapEndPoint { get; private set; }

    /// <summary>Where NLM v4 is served; null without <see cref="NfsServerOptions.EnableLocking"/>.</summary>
    public IPEndPoint? NlmEndPoint { get; private set; }

    /// <summary>Where the status monitor (NSM v1) is served; null without locking.</summary>
    public IPEndPoint? NsmEndPoint { get; private set; }

    /// <summary>Every byte-range lock held by a client: who (host and process), which file, which range, which kind.</summary>
    public IReadOnlyList<HeldLock<LockedFile>> Locks => _locking?.Locks.Locks ?? [];

    /// <summary>Lock requests waiting for a conflicting lock to go (blocked LOCKs).</summary>
    public IReadOnlyList<QueuedLock<LockedFile>> WaitingLocks => _locking?.Locks.Queued ?? [];

    /// <summary>DOS share reservations (NLM SHARE) held by clients.</summary>
    public IReadOnlyList<ShareReservation<LockedFile>> ShareReservations => _locking?.Shares.Reservations ?? [];

    /// <summary>When the grace period of this start ends (or ended); null when the start needed none.</summary>
    public DateTimeOffset? GraceEndsAt => _locking?.GraceEndsAt;

    /// <summary>Whether only lock reclaims are accepted right now.</summary>
    public bool InGracePeriod => _locking?.InGrace ?? false;

    /// <summary>This start's NSM state number (odd, larger after every restart); null without locking.</summary>
    public int? NsmState => _locking?.State;

    /// <summary>The directory with the NSM state and the monitored clients; null without locking.</summary>
    public string? LockStateDirectory => _locking?.StateDirectory;

    /// <summary>The client addresses monitored in this run, with the NSM state each reported.</summary>
    public IReadOnlyDictionary<string, int> MonitoredClients => _locking?.MonitoredClients ?? new Dictionary<string, int>();

    /// <summary>With <see cref="RpcbindMode.External"/>, what is registered with which rpcbind (until the server stops).</summary>
    public RpcbindRegistration? RpcbindRegistration => _registration;

    /// <summary>The write verifier of this start (changes on every start).</summary>
    public ulong WriteVerifier => _nfs.WriteVerifier;

    /// <summary>Clients that mounted and have not unmounted (MOUNT DUMP).</summary>
    public IReadOnlyList<MountEntry> Mounts => _mount.Mounts;

    /// <summary>Per-client-address RPC counters (calls, errors, duplicates, bytes) across all three programs.</summary>
    public IReadOnlyList<RpcClientStats> Clients => _rpc.Clients;

    public RpcServer Rpc => _rpc;

    /// <summary>
    /// Starts listening (and registers with the external rpcbind); a port in use, a bad export list or a failed
    /// registration fails here, with nothing left running.
    /// </summary>
    public static async Task<NfsServer> StartAsync(NfsServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        if (options.Exports.Count == 0)
            throw new ArgumentException("an NFS server needs at least one export", nameof(options));
        if (options.Exports.GroupBy(e => e.Path).FirstOrDefault(g => g.Count() > 1) is { } samePath)
            throw new ArgumentException($"export path {samePath.Key} is given twice", nameof(options));
        if (options.Exports.GroupBy(e => e.ExportId).FirstOrDefault(g => g.Count() > 1) is { } sameId)
            throw new ArgumentException($"exports {string.Join(", ", sameId.Select(e => e.Path))} share export id {sameId.Key}: give each its own HandleCodec export id", nameof(options));
        if (!Enum.IsDefined(options.Rpcbind))
            throw new ArgumentException($"unknown rpcbind mode {options.Rpcbind}", nameof(options));
        if (options.Rpcbind == RpcbindMode.External && options.ExternalRpcbind is not { Port: > 0 })
            throw new ArgumentException("the external rpcbind needs an address with a port", nameof(options));

        NetworkNamespace? owned = options.Sockets is null && options.Namespace is null ? NetworkNamespace.Current() : null;
        ISocketFactory sockets = options.Sockets ?? new NamespaceSocketFactory(options.Namespace ?? owned!);
        var rpcOptions = (options.Rpc ?? RpcServerOptions.Default) with { Log = options.Rpc?.Log ?? options.Log };
        var rpc = new RpcServer(sockets, rpcOptions);
        var nfs = new Nfs3Program(options.Exports, options.Log);
        var mount = new Mount3Program(options.Exports, options.Log);
        var server = new NfsServer(rpc, owned, nfs, mount, options.Exports, options.Log);
        try
        {
            rpc.Register(nfs);
            rpc.Register(mount);
            server.NfsEndPoint = rpc.Listen(new IPEndPoint(options.Address, options.NfsPort));
            server.MountEndPoint = options.MountPort == options.NfsPort
                ? server.NfsEndPoint
                : rpc.Listen(new IPEndPoint(options.Address, options.MountPort));
            if (options.EnableLocking) server.StartLocking(options, sockets);
            if (options.Rpcbind == RpcbindMode.Embedded && options.PortmapPort is { } portmapPort)
            {
                var portmap = new PortmapServer(log: options.Log);
                rpc.Register(portmap);
                server.PortmapEndPoint = portmapPort == server.NfsEndPoint.Port ? server.NfsEndPoint
                    : portmapPort == server.MountEndPoint.Port ? server.MountEndPoint
                    : rpc.Listen(new IPEndPoint(options.Address, portmapPort));
                portmap.Registry.RegisterPortmapper(server.PortmapEndPoint);
                // Also over UDP, where status monitors look (sm-notify's GETPORT, rpcinfo -u).
                portmap.Registry.RegisterPortmapper(rpc.ListenUdp(new IPEndPoint(options.Address, server.PortmapEndPoint.Port)), udp: true);
                portmap.Registry.Register(Nfs3.Program, Nfs3.Version, server.NfsEndPoint);
                portmap.Registry.Register(Mount3.Program, Mount3.Version, server.MountEndPoint);
                foreach (var service in server.LockServices()) portmap.Registry.Register(service.Program, service.Version, service.EndPoint);
            }
            if (options.Rpcbind == RpcbindMode.External)
            {
                // A statd of the namespace's own (for a kernel NFS client there) would be replaced as NSM: one status
                // monitor per host is all rpcbind can name, and this server needs its own for its clients.
                server._registration = await RpcbindRegistration.RegisterAsync(sockets, options.ExternalRpcbind,
                    [new(Nfs3.Program, Nfs3.Version, server.NfsEndPoint), new(Mount3.Program, Mount3.Version, server.MountEndPoint),
                        .. server.LockServices()],
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            server._locking?.Start();
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        options.Log?.Invoke($"serving {string.Join(", ", options.Exports)} on NFS {server.NfsEndPoint}, MOUNT {server.MountEndPoint}"
            + (server.NlmEndPoint is { } nlm ? $", NLM {nlm}" : "")
            + (server.NsmEndPoint is { } nsm && nsm != server.NlmEndPoint ? $", NSM {nsm}" : "")
            + (server.PortmapEndPoint is { } pm ? $", portmap {pm}" : "")
            + (server._registration is { } registered ? $", registered with rpcbind at {registered.Rpcbind} ({registered.Protocol})" : "")
            + $" in namespace {rpc.Namespace}");
        return server;
    }

    /// <summary>Creates the lock manager and serves NLM and NSM (on their own listeners when ports are given).</summary>
    private void StartLocking(NfsServerOptions options, ISocketFactory sockets)
    {
        string directory = options.StateDirectory
            ?? (sockets.Namespace is { } ns
                ? NsmStateStore.DefaultDirectory("server", ns.Name, ns.Id.Inode)
                : throw new ArgumentException("locking needs a StateDirectory when the socket factory has no namespace", nameof(options)));
        _locking = new LockManager(new LockManagerOptions
        {
            StateDirectory = directory,
            GracePeriod = options.GracePeriod,
            ServerName = options.ServerName ?? (IsWildcard(options.Address) ? null : options.Address.ToString()),
            Resolver = options.CallbackResolver,
            Log = options.Log,
            Limits = options.LockLimits ?? ByteRangeLockLimits.Default,
            CallbackTimeout = options.CallbackTimeout,
            RetryDelay = options.CallbackRetryDelay,
        }, sockets, IsOwnEndPoint);
        _rpc.Register(new Nlm4Program(options.Exports, _locking, options.Log));
        _rpc.Register(new NsmProgram(_locking, options.Log));
        NlmEndPoint = ListenOn(options.Address, options.NlmPort, NfsEndPoint);
        NsmEndPoint = ListenOn(options.Address, options.NsmPort, NlmEndPoint);
    }

    /// <summary>The listener on <paramref name="port"/> (an existing one when it is already listened on); null: <paramref name="otherwise"/>.</summary>
    private IPEndPoint ListenOn(IPAddress address, int? port, IPEndPoint otherwise)
    {
        if (port is not { } wanted) return otherwise;
        if (wanted != 0 && _rpc.EndPoints.FirstOrDefault(e => e.Port == wanted) is { } existing) return existing;
        return _rpc.Listen(new IPEndPoint(address, wanted));
    }

    private IEnumerable<RpcService> LockServices()
    {
        if (NlmEndPoint is { } nlm) yield return new RpcService(Nlm4.Program, Nlm4.Version, nlm);
        if (NsmEndPoint is { } nsm) yield return new RpcService(Nsm.Program, Nsm.Version, nsm);
    }

    /// <summary>Whether a call-back target is this server itself (see <see cref="LockCallbacks.ResolveAsync"/>).</summary>
    private bool IsOwnEndPoint(IPEndPoint target)
    {
        var address = target.Address.IsIPv4MappedToIPv6 ? target.Address.MapToIPv4() : target.Address;
        return _rpc.EndPoints.Any(listener => listener.Port == target.Port &&
            (listener.Address.Equals(address) || IsWildcard(listener.Address) || (IPAddress.IsLoopback(listener.Address) && IPAddress.IsLoopback(address))));
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>Stops accepting, lets calls in progress finish (up to the RPC shutdown timeout) and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        // Unregister first, so that no client is sent to ports about to close.
        if (Interlocked.Exchange(ref _registration, null) is { } registration)
        {
            try
            {
                await registration.UnregisterAsync().ConfigureAwait(false);
                _log?.Invoke($"unregistered from rpcbind at {registration.Rpcbind}");
            }
            catch (RpcException e)
            {
                _log?.Invoke($"could not unregister from rpcbind at {registration.Rpcbind}: {e.Message}");
            }
        }
        if (_locking is not null) await _locking.DisposeAsync().ConfigureAwait(false);
        await _rpc.DisposeAsync().ConfigureAwait(false);
        _ownedNamespace?.Dispose();
    }

    public override string ToString() => $"NFS server on {NfsEndPoint} in namespace {_rpc.Namespace}";
}
