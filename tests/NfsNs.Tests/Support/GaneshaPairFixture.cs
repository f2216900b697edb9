using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>One namespace with a ganesha exporting a directory of its own, reachable inside as 127.0.0.1:/export.</summary>
public sealed class GaneshaSide : IServerSide
{
    public required string Label { get; init; }
    public required TestNamespace Namespace { get; init; }
    public required GaneshaServer Server { get; init; }
    /// <summary>The exported directory: tests may add files here and see them over NFS at once.</summary>
    public string ExportDirectory => Server.ExportDirectory;
    /// <summary>The content of <see cref="GaneshaPairFixture.HelloFile"/> in this side's export, different per side.</summary>
    public required string HelloText { get; init; }
    public int? ProcessIdInside => Server.GaneshaPid;

    public Task RestartAsync() => Server.RestartAsync();

    public override string ToString() => $"side {Label} ({Namespace})";
}

/// <summary>
/// The mission's acceptance setup: two namespaces A and B, each with its own ganesha at the same address
/// 127.0.0.1:2049, exporting different content. Shared by every test in <see cref="GaneshaPairCollection"/>;
/// tests must not stop or reconfigure these servers (start their own for that).
/// </summary>
public sealed class GaneshaPairFixture : IAsyncLifetime, IServerPairFixture
{
    public const string HelloFile = ServerPairContent.HelloFile;
    public const string Subdirectory = ServerPairContent.Subdirectory;
    public const string SubdirectoryFile = ServerPairContent.SubdirectoryFile;

    private GaneshaSide? _a, _b;

    public GaneshaSide A => _a ?? throw new InvalidOperationException("the ganesha pair is not started");
    public GaneshaSide B => _b ?? throw new InvalidOperationException("the ganesha pair is not started");
    IServerSide IServerPairFixture.A => A;
    IServerSide IServerPairFixture.B => B;

    async Task<IServerSide> IServerPairFixture.StartSideAsync(string label) => await StartSideAsync(label);

    Task IServerPairFixture.StopSideAsync(IServerSide side) => StopSideAsync((GaneshaSide)side);

    public async Task InitializeAsync()
    {
        try
        {
            _a = await StartSideAsync("A");
            _b = await StartSideAsync("B");
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one side; on failure, removes what it made.</summary>
    public static async Task<GaneshaSide> StartSideAsync(string label, GaneshaOptions? options = null)
    {
        var ns = await TestNamespace.CreateAsync($"nfsns-{label.ToLowerInvariant()}");
        try
        {
            string export = Path.Combine(ns.StateDirectory, "export");
            string hello = ServerPairContent.Create(export, label, ns);
            var server = await GaneshaServer.StartAsync(ns, export, options);
            return new GaneshaSide { Label = label, Namespace = ns, Server = server, HelloText = hello };
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops a side's daemons, then deletes its namespace, even when stopping fails.</summary>
    public static async Task StopSideAsync(GaneshaSide side)
    {
        try
        {
            await side.Server.DisposeAsync();
        }
        finally
        {
            await side.Namespace.DisposeAsync();
        }
    }

    public async Task DisposeAsync()
    {
        var failures = new List<Exception>();
        foreach (var side in new[] { _b, _a })
        {
            if (side is null) continue;
            try { await StopSideAsync(side); }
            catch (Exception e) { failures.Add(e); }
        }
        _a = _b = null;
        if (failures.Count > 0) throw new AggregateException("stopping the ganesha pair failed", failures);
    }
}

[CollectionDefinition(Name)]
public sealed class GaneshaPairCollection : ICollectionFixture<GaneshaPairFixture>
{
    public const string Name = "Ganesha pair";
}
