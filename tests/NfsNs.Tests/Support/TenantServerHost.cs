using System.Net;
using NfsNs.Client;
using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>Which NFS server a <see cref="TenantServerHost"/> runs on its tenant's server side.</summary>
public enum TenantServerKind
{
    /// <summary>nfs-ganesha with its own rpcbind (and rpc.statd with NLM), bound to the tenant's server address.</summary>
    Ganesha,
    /// <summary>The embedded <see cref="NfsNs.Server.NfsServer"/> in this test process, with its embedded portmap.</summary>
    Embedded,
}

/// <summary>
/// One tenant: a <see cref="TenantNetwork"/> whose server namespace runs an NFS server at the tenant's server address
/// (10.0.0.3) exporting <c>/export</c> with the <see cref="ServerPairContent"/> layout, whose <see cref="MarkerFile"/>
/// names the tenant. Clients reach it only from the tenant's client namespace (10.0.0.2). Disposing stops the
/// server, then deletes both namespaces; a failed start does the same before the exception leaves.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TenantServerHost : IAsyncDisposable
{
    /// <summary>The file naming the tenant, at the export's root.</summary>
    public const string MarkerFile = ServerPairContent.HelloFile;

    private TenantServerHost(string label, TenantServerKind kind, TenantNetwork network, string markerText)
    {
        Label = label;
        Kind = kind;
        Network = network;
        MarkerText = markerText;
    }

    public string Label { get; }
    public TenantServerKind Kind { get; }
    public TenantNetwork Network { get; }
    public TestNamespace ClientNamespace => Network.Client;
    public TestNamespace ServerNamespace => Network.Server;
    public IPAddress ServerAddress => Network.ServerAddress;
    public IPAddress ClientAddress => Network.ClientAddress;
    /// <summary>The exported directory: tests may add files here and see them over NFS at once.</summary>
    public string ExportDirectory => EmbeddedSide.ExportDirectoryOf(ServerNamespace);
    /// <summary>The content of <see cref="MarkerFile"/>: names the tenant's label and server namespace.</summary>
    public string MarkerText { get; }
    /// <summary>The server when <see cref="Kind"/> is <see cref="TenantServerKind.Ganesha"/>.</summary>
    public GaneshaServer? Ganesha { get; private set; }
    /// <summary>The server when <see cref="Kind"/> is <see cref="TenantServerKind.Embedded"/>.</summary>
    public EmbeddedServerHost? Embedded { get; private set; }

    /// <summary>
    /// Creates the tenant network <c>nfsns-t{label}-client/server-XXXXXX</c> and starts the server. Ganesha gets
    /// <paramref name="ganeshaOptions"/> (e.g. EnableNlm) with its bind address set to the tenant's server address.
    /// </summary>
    /// <param name="label">The tenant's name, e.g. "A": lower-case, it becomes part of the namespace names.</param>
    /// <param name="configureEmbedded">Adjusts the embedded server's options (e.g. a short grace period).</param>
    public static async Task<TenantServerHost> StartAsync(string label, TenantServerKind kind, GaneshaOptions? ganeshaOptions = null,
        TenantNetworkOptions? networkOptions = null, Func<NfsNs.Server.NfsServerOptions, NfsNs.Server.NfsServerOptions>? configureEmbedded = null)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown tenant server kind");
        var network = await TenantNetwork.CreateAsync($"nfsns-t{label.ToLowerInvariant()}", networkOptions);
        TenantServerHost? host = null;
        try
        {
            string marker = ServerPairContent.Create(EmbeddedSide.ExportDirectoryOf(network.Server), label, network.Server);
            host = new TenantServerHost(label, kind, network, marker);
            if (kind == TenantServerKind.Ganesha)
            {
                var options = (ganeshaOptions ?? GaneshaOptions.Default) with { BindAddress = network.ServerAddress };
                host.Ganesha = await GaneshaServer.StartAsync(network.Server, host.ExportDirectory, options);
            }
            else
            {
                host.Embedded = await EmbeddedServerHost.StartInAsync(network.Server, network.ServerAddress,
                    ns => [EmbeddedSide.LocalExport(ns)], configureEmbedded);
            }
            return host;
        }
        catch (Exception startFailure)
        {
            try
            {
                if (host is not null) await host.DisposeAsync();
                else await network.DisposeAsync();
            }
            catch (Exception cleanupFailure)
            {
                throw new AggregateException($"starting tenant {label} failed, and cleaning up failed too", startFailure, cleanupFailure);
            }
            throw;
        }
    }

    /// <summary>
    /// The URL of <paramref name="pathInExport"/> for this process's client: the server address, reached through the
    /// tenant's client namespace (<c>netns=</c>); <paramref name="query"/> adds more options (no '?').
    /// </summary>
    public string Url(string pathInExport = "", string? query = null) =>
        Libnfs.Url(ServerAddress, pathInExport, string.IsNullOrEmpty(query) ? $"netns={ClientNamespace.Name}" : $"netns={ClientNamespace.Name}&{query}");

    /// <summary>The URL of <paramref name="pathInExport"/> for a tool run inside the client namespace (libnfs).</summary>
    public string PeerUrl(string pathInExport = "", string? query = null) => Libnfs.Url(ServerAddress, pathInExport, query);

    public Task<NfsMount> MountAsync(string pathInExport = "", string? query = null) => NfsMount.MountAsync(Url(pathInExport, query));

    /// <summary>Stops the server (each daemon by its PID, or the in-process server), then deletes both namespaces.</summary>
    public async ValueTask DisposeAsync()
    {
        var failures = new List<Exception>();
        try
        {
            if (Ganesha is { } ganesha) await ganesha.DisposeAsync();
            if (Embedded is { } embedded) await embedded.DisposeAsync();
        }
        catch (Exception e)
        {
            failures.Add(e);
        }
        Ganesha = null;
        Embedded = null;
        try { await Network.DisposeAsync(); }
        catch (Exception e) { failures.Add(e); }
        if (failures.Count > 0) throw new AggregateException($"stopping tenant {Label} failed", failures);
    }

    public override string ToString() => $"tenant {Label} ({Kind} server in {Network})";
}
