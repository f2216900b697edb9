using NfsNs.Namespaces;
using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>
/// A namespace made for one test (<see cref="TestNamespace"/>: random suffix, loopback up, deleted on dispose), held
/// open as a <see cref="NetworkNamespace"/> with a socket factory, for tests that create sockets inside it directly.
/// </summary>
public sealed class TestNetworkNamespace : IDisposable
{
    private readonly TestNamespace _created;

    public string Name => _created.Name;
    public NetworkNamespace Namespace { get; }
    public NamespaceSocketFactory Sockets { get; }

    private TestNetworkNamespace(TestNamespace created, NetworkNamespace ns)
    {
        _created = created;
        Namespace = ns;
        Sockets = new NamespaceSocketFactory(ns);
    }

    public static TestNetworkNamespace Create()
    {
        var created = TestNamespace.CreateAsync("nfsns-test").GetAwaiter().GetResult();
        try
        {
            return new TestNetworkNamespace(created, NetworkNamespace.Open(created.Name));
        }
        catch
        {
            created.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public void Dispose()
    {
        Namespace.Dispose();
        _created.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
