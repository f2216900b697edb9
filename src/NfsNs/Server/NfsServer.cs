using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;

namespace NfsNs.Server;

/// <summary>How clients of an <see cref="NfsServer"/> find its NFS and MOUNT ports.</summary>
public enum RpcbindMode
{
    /// <summary>The server answers portmap v2 and rpcbind v3/v4 itself, on <see cref="NfsServerOptions.PortmapPort"/>.</summary>
    Embedded,
    /// <summary>
    /// The server registers NFS v3 and MOUNT v3 with the rpcbind already running in its network namespace
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
}

/// <summary>
/// An NFSv3 server running in this process, listening in one network namespace: NFS (100003 v3), MOUNT (100005 v3)
/// and an embedded portmap/rpcbind (100000 v2–v4) on which both are registered, all on one <see cref="RpcServer"/>;
/// or, with <see cref="RpcbindMode.External"/>, NFS and MOUNT registered with that namespace's own rpcbind.
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
            }
            if (options.Rpcbind == RpcbindMode.External)
            {
                server._registration = await RpcbindRegistration.RegisterAsync(sockets, options.ExternalRpcbind,
                    [new(Nfs3.Program, Nfs3.Version, server.NfsEndPoint), new(Mount3.Program, Mount3.Version, server.MountEndPoint)],
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        options.Log?.Invoke($"serving {string.Join(", ", options.Exports)} on NFS {server.NfsEndPoint}, MOUNT {server.MountEndPoint}"
            + (server.PortmapEndPoint is { } pm ? $", portmap {pm}" : "")
            + (server._registration is { } registered ? $", registered with rpcbind at {registered.Rpcbind} ({registered.Protocol})" : "")
            + $" in namespace {rpc.Namespace}");
        return server;
    }

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
        await _rpc.DisposeAsync().ConfigureAwait(false);
        _ownedNamespace?.Dispose();
    }

    public override string ToString() => $"NFS server on {NfsEndPoint} in namespace {_rpc.Namespace}";
}
