using System.Net;
using System.Net.Sockets;
using NfsNs.Rpc;
using NfsNs.Tests.Support;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>An RpcConnection reaches the server in its factory's namespace, also when it reconnects.</summary>
public class RpcNamespaceTests
{
    [Fact]
    public async Task Connection_through_a_namespace_factory_reaches_the_peer_in_that_namespace_not_the_one_on_the_same_port_outside()
    {
        using var ns = TestNetworkNamespace.Create();
        var (inside, outside) = ListenOnTheSamePortInsideAndOutside(ns);
        await using var _ = inside;
        await using var __ = outside;
        Assert.Equal(inside.Port, outside.Port);

        await using var connection = new RpcConnection(ns.Sockets, inside.EndPoint, Fast);
        Assert.Equal($"{inside.EndPoint} in namespace {ns.Name} ({ns.Namespace.Id})", connection.Describe());
        var call = connection.CallUInt32(1, 1);
        await using (var server = await inside.AcceptAsync())
        {
            var received = await server.ReadCallAsync();
            await server.ReplyAsync(received, w => w.WriteUInt32(100));
            Assert.Equal(100u, await call.Within());
            server.Close();
        }
        await Eventually(() => !connection.IsConnected, "noticing the close");

        // The reconnect is made through the same factory, so it lands in the same namespace.
        var again = connection.CallUInt32(1, 2);
        await using (var server = await inside.AcceptAsync())
        {
            await server.ReplyAsync(await server.ReadCallAsync(), w => w.WriteUInt32(200));
            Assert.Equal(200u, await again.Within());
        }
        Assert.Null(await outside.TryAcceptAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0, outside.AcceptedCount);

        // The same address from the process's own namespace reaches the other peer.
        await using var local = new RpcConnection(TestSockets.ProcessNamespace, outside.EndPoint, Fast);
        var localCall = local.CallUInt32(1, 3);
        await using var outsideServer = await outside.AcceptAsync();
        await outsideServer.ReplyAsync(await outsideServer.ReadCallAsync(), w => w.WriteUInt32(300));
        Assert.Equal(300u, await localCall.Within());
        Assert.Equal(2, inside.AcceptedCount);
    }

    [Fact]
    public async Task IPv6_loopback_inside_a_namespace_works_for_listeners_and_connections()
    {
        using var ns = TestNetworkNamespace.Create();
        // .NET numbers AF_INET6 23, Linux 10: a socket made with setns must get Linux's number.
        using var listener = ns.Sockets.ListenTcp(new IPEndPoint(IPAddress.IPv6Loopback, 0), 4);
        Assert.Equal(AddressFamily.InterNetworkV6, listener.AddressFamily);
        var accept = listener.AcceptAsync();
        using var client = await ns.Sockets.ConnectTcpAsync(listener.LocalEndPoint!, CancellationToken.None);
        using var server = await accept.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(IPAddress.IPv6Loopback, ((IPEndPoint)client.RemoteEndPoint!).Address);
    }

    [Fact]
    public void A_second_listener_on_the_same_port_is_refused_not_shared()
    {
        // Without SO_REUSEPORT the kernel refuses the second bind, so two servers never split one port's clients.
        using var ns = TestNetworkNamespace.Create();
        using var first = ns.Sockets.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), 4);
        var e = Assert.Throws<SocketException>(() => ns.Sockets.ListenTcp(first.LocalEndPoint!, 4));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
    }

    [Fact]
    public async Task Connection_refused_names_the_namespace()
    {
        using var ns = TestNetworkNamespace.Create();
        // Nothing listens inside the fresh namespace, whatever listens on this port outside.
        await using var outside = ScriptedRpcPeer.Listen();
        await using var connection = new RpcConnection(ns.Sockets, outside.EndPoint, Fast with { Reconnect = false });
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => connection.CallUInt32(1, 1).Within());
        Assert.Equal($"connection refused by {outside.EndPoint} in namespace {ns.Name} ({ns.Namespace.Id})", e.Message);
        Assert.Equal(0, outside.AcceptedCount);
    }

    /// <summary>A peer on a free port in <paramref name="ns"/> and another on the same port in the process's namespace.</summary>
    private static (ScriptedRpcPeer Inside, ScriptedRpcPeer Outside) ListenOnTheSamePortInsideAndOutside(TestNetworkNamespace ns)
    {
        for (int attempt = 0; ; attempt++)
        {
            var inside = ScriptedRpcPeer.Listen(ns.Sockets);
            try
            {
                return (inside, ScriptedRpcPeer.Listen(local: inside.EndPoint));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 10)
            {
                inside.DisposeAsync().AsTask().Wait();
            }
        }
    }
}
