using NfsNs.Peers;
using NfsNs.Server;
using NfsNs.Server.FileSystem;

namespace NfsNs.Tests.Support;

/// <summary>
/// One namespace with the embedded <see cref="NfsServer"/> serving a <see cref="LocalFileSystem"/> over a directory of
/// its own, with a handle secret kept in a file, the way <c>nfsns serve</c> runs it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class EmbeddedSide : IServerSide
{
    private const uint ExportId = 1;

    private EmbeddedSide(string label, EmbeddedServerHost host, string hello)
    {
        Label = label;
        Host = host;
        HelloText = hello;
    }

    public string Label { get; }
    public EmbeddedServerHost Host { get; }
    public TestNamespace Namespace => Host.Namespace;
    public string ExportDirectory => ExportDirectoryOf(Host.Namespace);
    public string HelloText { get; }
    /// <summary>The server runs in this test process, which stays in the initial namespace.</summary>
    public int? ProcessIdInside => null;

    /// <summary>The directory an embedded side (or tenant server) in <paramref name="ns"/> exports.</summary>
    public static string ExportDirectoryOf(TestNamespace ns) => Path.Combine(ns.StateDirectory, "export");

    /// <summary>A fresh backend over the export directory whose handle codec uses the secret persisted in the state directory.</summary>
    public static NfsExport LocalExport(TestNamespace ns)
    {
        byte[] secret = HandleCodec.LoadOrCreateSecret(Path.Combine(ns.StateDirectory, "handle-secret"));
        var backend = new LocalFileSystem(ExportDirectoryOf(ns), new HandleCodec(ExportId, secret));
        return new NfsExport("/export", backend, new NfsExportOptions { Squash = SquashMode.None });
    }

    public static async Task<EmbeddedSide> StartAsync(string label)
    {
        string? hello = null;
        var host = await EmbeddedServerHost.StartAsync($"nfsns-emb-{label.ToLowerInvariant()}", ns =>
        {
            hello = ServerPairContent.Create(ExportDirectoryOf(ns), label, ns);
            return [LocalExport(ns)];
        });
        return new EmbeddedSide(label, host, hello!);
    }

    /// <summary>A new server and a new backend on the same directory and secret: old handles still decode.</summary>
    public Task RestartAsync() => Host.RestartAsync([LocalExport(Host.Namespace)]);

    public ValueTask DisposeAsync() => Host.DisposeAsync();

    public override string ToString() => $"embedded side {Label} ({Namespace})";
}

/// <summary>
/// The acceptance setup of <see cref="GaneshaPairFixture"/> with the embedded server instead of ganesha: namespaces
/// A and B, each serving 127.0.0.1:/export with the same content layout. Shared by <see cref="EmbeddedPairCollection"/>.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class EmbeddedPairFixture : IAsyncLifetime, IServerPairFixture
{
    private EmbeddedSide? _a, _b;

    public IServerSide A => _a ?? throw new InvalidOperationException("the embedded pair is not started");
    public IServerSide B => _b ?? throw new InvalidOperationException("the embedded pair is not started");

    public async Task InitializeAsync()
    {
        try
        {
            _a = await EmbeddedSide.StartAsync("A");
            _b = await EmbeddedSide.StartAsync("B");
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task<IServerSide> StartSideAsync(string label) => await EmbeddedSide.StartAsync(label);

    public Task StopSideAsync(IServerSide side) => ((EmbeddedSide)side).DisposeAsync().AsTask();

    public async Task DisposeAsync()
    {
        var failures = new List<Exception>();
        foreach (var side in new[] { _b, _a })
        {
            if (side is null) continue;
            try { await side.DisposeAsync(); }
            catch (Exception e) { failures.Add(e); }
        }
        _a = _b = null;
        if (failures.Count > 0) throw new AggregateException("stopping the embedded pair failed", failures);
    }
}

[CollectionDefinition(Name)]
public sealed class EmbeddedPairCollection : ICollectionFixture<EmbeddedPairFixture>
{
    public const string Name = "Embedded pair";
}
