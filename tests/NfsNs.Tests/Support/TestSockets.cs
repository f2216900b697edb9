using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;

namespace NfsNs.Tests.Support;

/// <summary>Socket factories for tests.</summary>
public static class TestSockets
{
    private static readonly Lazy<NamespaceSocketFactory> s_processNamespace = new(() => new NamespaceSocketFactory(NetworkNamespace.Current()));

    /// <summary>A namespace-bound factory for the test process's own namespace (lives as long as the test run).</summary>
    public static NamespaceSocketFactory ProcessNamespace => s_processNamespace.Value;

    /// <summary>The namespace name as connections print it ("ADDRESS in namespace NS").</summary>
    public static string ProcessNamespaceName => ProcessNamespace.Namespace.ToString();

    /// <summary>A loopback port on which nothing listens (bound and released; racy only in theory).</summary>
    public static int UnusedLoopbackPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}

/// <summary>
/// Wraps a factory, records every endpoint asked for, and can redirect endpoints (e.g. port 111 to a scripted
/// rpcbind on a random port) so code that uses fixed well-known ports can be tested.
/// </summary>
public sealed class RecordingSocketFactory(ISocketFactory inner) : ISocketFactory
{
    private readonly ConcurrentQueue<EndPoint> _connects = new();
    private readonly ConcurrentDictionary<EndPoint, EndPoint> _redirects = new();

    public IReadOnlyCollection<EndPoint> Connects => _connects;

    public void Redirect(EndPoint from, EndPoint to) => _redirects[from] = to;

    public NetworkNamespace? Namespace => inner.Namespace;

    public ValueTask<Socket> ConnectTcpAsync(EndPoint remote, CancellationToken cancellationToken)
    {
        _connects.Enqueue(remote);
        return inner.ConnectTcpAsync(_redirects.TryGetValue(remote, out var target) ? target : remote, cancellationToken);
    }

    public Socket ListenTcp(EndPoint local, int backlog) => inner.ListenTcp(local, backlog);
    public Socket BindUdp(EndPoint local) => inner.BindUdp(local);
    public IPAddress[] ResolveHost(string host) => inner.ResolveHost(host);
}
