using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>
/// The mission's real topology for two tenants: A and B each have a client namespace (10.0.0.2) and a server
/// namespace (10.0.0.3) of their own, and each tenant's server exports different content at the same
/// <c>10.0.0.3:/export</c>. Shared by every test of one collection; tests must not stop or reconfigure these servers
/// (start their own <see cref="TenantServerHost"/> for that).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public abstract class TenantPairFixture : IAsyncLifetime
{
    private readonly GaneshaOptions? _ganeshaOptions;
    private TenantServerHost? _a, _b;

    protected TenantPairFixture(TenantServerKind kind, GaneshaOptions? ganeshaOptions = null)
    {
        Kind = kind;
        _ganeshaOptions = ganeshaOptions;
    }

    public TenantServerKind Kind { get; }
    public TenantServerHost A => _a ?? throw new InvalidOperationException("the tenant pair is not started");
    public TenantServerHost B => _b ?? throw new InvalidOperationException("the tenant pair is not started");

    public async Task InitializeAsync()
    {
        try
        {
            _a = await TenantServerHost.StartAsync("A", Kind, _ganeshaOptions);
            _b = await TenantServerHost.StartAsync("B", Kind, _ganeshaOptions);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        var failures = new List<Exception>();
        foreach (var tenant in new[] { _b, _a })
        {
            if (tenant is null) continue;
            try { await tenant.DisposeAsync(); }
            catch (Exception e) { failures.Add(e); }
        }
        _a = _b = null;
        if (failures.Count > 0) throw new AggregateException($"stopping the {Kind} tenant pair failed", failures);
    }
}

/// <summary>Tenants A and B, each with ganesha (NLM enabled: rpc.statd and nlockmgr on 32803) at 10.0.0.3.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class GaneshaTenantPairFixture() : TenantPairFixture(TenantServerKind.Ganesha, new GaneshaOptions { EnableNlm = true });

/// <summary>Tenants A and B, each with the embedded server (and its portmap on 111) at 10.0.0.3.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class EmbeddedTenantPairFixture() : TenantPairFixture(TenantServerKind.Embedded);

[CollectionDefinition(Name)]
public sealed class GaneshaTenantPairCollection : ICollectionFixture<GaneshaTenantPairFixture>
{
    public const string Name = "Ganesha tenant pair";
}

[CollectionDefinition(Name)]
public sealed class EmbeddedTenantPairCollection : ICollectionFixture<EmbeddedTenantPairFixture>
{
    public const string Name = "Embedded tenant pair";
}
