using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc.Server;

namespace NfsNs.Server;

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

    /// <summary>The embedded portmap/rpcbind's port (111); null serves no portmapper (clients must be told the ports).</summary>
    public int? PortmapPort { get; init; } = PortmapProtocol.Port;

    /// <summary>One line per mount, unmount, error and connection closed for cause.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>RPC limits; the record cap must stay above a 1 MiB WRITE with its headers.</summary>
    public RpcServerOptions? Rpc { get; init; }
}

/// <summary>
/// An NFSv3 server running in this process, listening in one network namespace: NFS (100003 v3), MOUNT (100005 v3)
/// and an embedded portmap/rpcbind (100000 v2–v4) on which both are registered, all on one <see cref="RpcServer"/>.
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

    private NfsServer(RpcServer rpc, NetworkNamespace? ownedNamespace, Nfs3Program nfs, Mount3Program mount, IReadOnlyList<NfsExport> exports)
    {
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

    /// <summary>The write verifier of this start (changes on every start).</summary>
    public ulong WriteVerifier => _nfs.WriteVerifier;

    /// <summary>Clients that mounted and have not unmounted (MOUNT DUMP).</summary>
    public IReadOnlyList<MountEntry> Mounts => _mount.Mounts;

    /// <summary>Per-client-address RPC counters (calls, errors, duplicates, bytes) across all three programs.</summary>
    public IReadOnlyList<RpcClientStats> Clients => _rpc.Clients;

    public RpcServer Rpc => _rpc;

    /// <summary>Starts listening; a port in use or a bad export list fails here, with nothing left running.</summary>
    public static Task<NfsServer> StartAsync(NfsServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        if (options.Exports.Count == 0)
            throw new ArgumentException("an NFS server needs at least one export", nameof(options));
        if (options.Exports.GroupBy(e => e.Path).FirstOrDefault(g => g.Count() > 1) is { } samePath)
            throw new ArgumentException($"export path {samePath.Key} is given twice", nameof(options));
        if (options.Exports.GroupBy(e => e.ExportId).FirstOrDefault(g => g.Count() > 1) is { } sameId)
            throw new ArgumentException($"exports {string.Join(", ", sameId.Select(e => e.Path))} share export id {sameId.Key}: give each its own HandleCodec export id", nameof(options));

        NetworkNamespace? owned = options.Sockets is null && options.Namespace is null ? NetworkNamespace.Current() : null;
        ISocketFactory sockets = options.Sockets ?? new NamespaceSocketFactory(options.Namespace ?? owned!);
        var rpcOptions = (options.Rpc ?? RpcServerOptions.Default) with { Log = options.Rpc?.Log ?? options.Log };
        var rpc = new RpcServer(sockets, rpcOptions);
        var nfs = new Nfs3Program(options.Exports, options.Log);
        var mount = new Mount3Program(options.Exports, options.Log);
        var server = new NfsServer(rpc, owned, nfs, mount, options.Exports);
        try
        {
            rpc.Register(nfs);
            rpc.Register(mount);
            server.NfsEndPoint = rpc.Listen(new IPEndPoint(options.Address, options.NfsPort));
            server.MountEndPoint = options.MountPort == options.NfsPort
                ? server.NfsEndPoint
                : rpc.Listen(new IPEndPoint(options.Address, options.MountPort));
            if (options.PortmapPort is { } portmapPort)
            {
                var portmap = new PortmapServer();
                rpc.Register(portmap);
                server.PortmapEndPoint = portmapPort == server.NfsEndPoint.Port ? server.NfsEndPoint
                    : portmapPort == server.MountEndPoint.Port ? server.MountEndPoint
                    : rpc.Listen(new IPEndPoint(options.Address, portmapPort));
                portmap.Registry.RegisterPortmapper(server.PortmapEndPoint);
                portmap.Registry.Register(Nfs3.Program, Nfs3.Version, server.NfsEndPoint);
                portmap.Registry.Register(Mount3.Program, Mount3.Version, server.MountEndPoint);
            }
        }
        catch
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        options.Log?.Invoke($"serving {string.Join(", ", options.Exports)} on NFS {server.NfsEndPoint}, MOUNT {server.MountEndPoint}"
            + (server.PortmapEndPoint is { } pm ? $", portmap {pm}" : "") + $" in namespace {rpc.Namespace}");
        return Task.FromResult(server);
    }

    /// <summary>Stops accepting, lets calls in progress finish (up to the RPC shutdown timeout) and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _rpc.DisposeAsync().ConfigureAwait(false);
        _ownedNamespace?.Dispose();
    }

    public override string ToString() => $"NFS server on {NfsEndPoint} in namespace {_rpc.Namespace}";
}
