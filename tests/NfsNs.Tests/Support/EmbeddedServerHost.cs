using System.Net;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Server;
using NfsNs.Server.FileSystem;

namespace NfsNs.Tests.Support;

/// <summary>
/// A test namespace (random suffix) with an embedded <see cref="NfsServer"/> at 127.0.0.1:2049/20048/111 inside,
/// or (<see cref="StartInAsync"/>) a server in a namespace the caller made, at an address of that namespace.
/// Disposing stops the server and deletes the namespace if the host made it, also when the test failed.
/// </summary>
public sealed class EmbeddedServerHost : IAsyncDisposable
{
    private readonly List<string> _log = [];
    private readonly bool _ownsNamespace;

    private EmbeddedServerHost(TestNamespace ns, NetworkNamespace handle, IPAddress address, bool ownsNamespace)
    {
        Namespace = ns;
        Handle = handle;
        Address = address;
        _ownsNamespace = ownsNamespace;
    }

    public TestNamespace Namespace { get; }
    /// <summary>Where the server listens (NFS, MOUNT and portmap) inside <see cref="Namespace"/>.</summary>
    public IPAddress Address { get; }
    public NetworkNamespace Handle { get; }
    public NfsServer Server { get; private set; } = null!;
    public IReadOnlyList<NfsExport> Exports { get; private set; } = [];

    public IReadOnlyList<string> Log
    {
        get { lock (_log) return [.. _log]; }
    }

    /// <summary>An export of a fresh MemoryFileSystem at /export with no squashing (the tests run as root).</summary>
    public static NfsExport MemoryExport(string path = "/export", NfsExportOptions? options = null, uint exportId = 1) =>
        new(path, new MemoryFileSystem(HandleCodec.CreateEphemeral(exportId)), options ?? new NfsExportOptions { Squash = SquashMode.None });

    /// <summary>
    /// Adjusts the options of every (re)start, e.g. the lock manager's grace period or call-back resolver. The
    /// defaults already keep the NSM state in the namespace's state directory (so it survives <see cref="RestartAsync"/>
    /// and is deleted with the namespace).
    /// </summary>
    public Func<NfsServerOptions, NfsServerOptions>? Configure { get; set; }

    /// <summary>The lock manager's state directory: inside the namespace's state directory.</summary>
    public string LockStateDirectory => Path.Combine(Namespace.StateDirectory, "nsm-server");

    public static Task<EmbeddedServerHost> StartAsync(string prefix, params NfsExport[] exports) =>
        StartAsync(prefix, _ => exports.Length == 0 ? [MemoryExport()] : exports);

    /// <summary>Starts with the exports <paramref name="makeExports"/> builds (e.g. under the namespace's state directory).</summary>
    public static Task<EmbeddedServerHost> StartAsync(string prefix, Func<TestNamespace, IReadOnlyList<NfsExport>> makeExports) =>
        StartAsync(prefix, makeExports, configure: null);

    /// <summary>Starts with one memory export and options adjusted by <paramref name="configure"/> (see <see cref="Configure"/>).</summary>
    public static Task<EmbeddedServerHost> StartAsync(string prefix, Func<NfsServerOptions, NfsServerOptions> configure) =>
        StartAsync(prefix, _ => [MemoryExport()], configure);

    public static async Task<EmbeddedServerHost> StartAsync(string prefix, Func<TestNamespace, IReadOnlyList<NfsExport>> makeExports,
        Func<NfsServerOptions, NfsServerOptions>? configure)
    {
        var ns = await TestNamespace.CreateAsync(prefix);
        try
        {
            return await StartAsync(ns, IPAddress.Loopback, ownsNamespace: true, makeExports, configure);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a server in <paramref name="ns"/>, which the caller made and keeps (it is not deleted on dispose),
    /// listening on <paramref name="address"/> (one of the namespace's addresses, e.g. a tenant's server address).
    /// </summary>
    public static Task<EmbeddedServerHost> StartInAsync(TestNamespace ns, IPAddress address,
        Func<TestNamespace, IReadOnlyList<NfsExport>> makeExports, Func<NfsServerOptions, NfsServerOptions>? configure = null) =>
        StartAsync(ns, address, ownsNamespace: false, makeExports, configure);

    private static async Task<EmbeddedServerHost> StartAsync(TestNamespace ns, IPAddress address, bool ownsNamespace,
        Func<TestNamespace, IReadOnlyList<NfsExport>> makeExports, Func<NfsServerOptions, NfsServerOptions>? configure)
    {
        var handle = NetworkNamespace.Open(ns.Path);
        // From here the host owns the handle (and, if ownsNamespace, the namespace): its disposal releases them.
        var host = new EmbeddedServerHost(ns, handle, address, ownsNamespace) { Configure = configure };
        try
        {
            await host.RestartAsync(makeExports(ns));
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Stops the running server (if any) and starts a new one on the same ports with <paramref name="exports"/>;
    /// backends of the old exports that the new ones do not reuse are disposed.
    /// </summary>
    public async Task RestartAsync(IReadOnlyList<NfsExport>? exports = null)
    {
        if (Server is not null) await Server.DisposeAsync();
        if (exports is not null)
        {
            foreach (var replaced in Exports.Where(old => !exports.Any(e => ReferenceEquals(e.Backend, old.Backend))))
                (replaced.Backend as IDisposable)?.Dispose();
            Exports = exports;
        }
        var options = new NfsServerOptions
        {
            Namespace = Handle,
            Address = Address,
            Exports = Exports,
            Log = line => { lock (_log) _log.Add(line); },
            StateDirectory = LockStateDirectory,
        };
        Server = await NfsServer.StartAsync(Configure?.Invoke(options) ?? options);
    }

    public string Url(string path = "/export", string extra = "") =>
        $"nfs://{Libnfs.UrlHost(Address)}{path}?netns={Namespace.Name}{extra}";

    public Task<NfsMount> MountAsync(string path = "/export", string extra = "") => NfsMount.MountAsync(Url(path, extra));

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Server is not null) await Server.DisposeAsync();
        }
        finally
        {
            foreach (var export in Exports) (export.Backend as IDisposable)?.Dispose();
            Handle.Dispose();
            if (_ownsNamespace) await Namespace.DisposeAsync();
        }
    }
}
