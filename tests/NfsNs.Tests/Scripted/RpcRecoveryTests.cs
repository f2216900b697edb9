using System.Net;
using NfsNs.Rpc;
using NfsNs.Tests.Support;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>Reconnection, retransmission and timeouts (cases J2, J3 of cases/nfs3.md, client side).</summary>
public class RpcRecoveryTests
{
    private static async Task<uint> Answer(ScriptedConnection server, uint result)
    {
        var call = await server.ReadCallAsync();
        await server.ReplyAsync(call, w => w.WriteUInt32(result));
        return call.Xid;
    }

    [Fact]
    public async Task J2_server_closes_idle_connection_and_the_next_call_reconnects()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var first = connection.CallUInt32(1, 1);
        await using (var server = await peer.AcceptAsync())
        {
            await Answer(server, 10);
            Assert.Equal(10u, await first.Within());
            server.Close();
        }
        await Eventually(() => !connection.IsConnected, "noticing the close");

        var second = connection.CallUInt32(1, 2);
        await using var again = await peer.AcceptAsync();
        await Answer(again, 20);
        Assert.Equal(20u, await second.Within());
        Assert.Equal(2, connection.Stats.Connects);
        Assert.Equal(1, connection.Stats.Reconnects);
        Assert.Equal(0, connection.Stats.Retransmits);
    }

    [Fact]
    public async Task J2_without_reconnection_the_next_call_fails_at_once()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { Reconnect = false });
        var first = connection.CallUInt32(1, 1);
        await using (var server = await peer.AcceptAsync())
        {
            await Answer(server, 10);
            Assert.Equal(10u, await first.Within());
            server.Close();
        }
        await Eventually(() => !connection.IsConnected, "noticing the close");

        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => connection.CallUInt32(1, 2).Within(TimeSpan.FromSeconds(1)));
        Assert.Equal($"connection to {peer.EndPoint} in namespace {TestSockets.ProcessNamespaceName} was closed " +
                     "(the server closed the connection); reconnection is disabled", e.Message);
        Assert.Null(await peer.TryAcceptAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task J2_without_reconnection_a_pending_call_fails_when_the_connection_is_lost()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { Reconnect = false });
        var call = connection.CallUInt32(1, 1);
        await using var server = await peer.AcceptAsync();
        await server.ReadCallAsync();
        server.Abort();
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => call.Within());
        Assert.EndsWith("reconnection is disabled", e.Message);
    }

    [Fact]
    public async Task J3_unanswered_call_is_resent_with_the_same_xid_and_bytes_on_a_new_connection()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { Timeout = TimeSpan.FromMilliseconds(300) });
        var call = connection.CallUInt32(8, 42);
        await using var first = await peer.AcceptAsync();
        var original = await first.ReadCallAsync();

        // No answer within timeo: the client gives up on this connection and retransmits on a new one.
        await using var second = await peer.AcceptAsync();
        var retransmitted = await second.ReadCallAsync();
        Assert.Equal(original.Xid, retransmitted.Xid);
        Assert.Equal(original.Record, retransmitted.Record);
        Assert.True(await first.WaitForCloseAsync(), "the stuck connection should be closed");

        await second.ReplyAsync(retransmitted, w => w.WriteUInt32(43));
        Assert.Equal(43u, await call.Within());
        Assert.Equal(1, connection.Stats.Retransmits);
        Assert.Equal(1, connection.Stats.Reconnects);
        Assert.Equal(1, connection.Stats.Replies);
        Assert.Null(await second.TryReadCallAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Every_pending_call_is_resent_after_a_connection_loss_and_replies_are_matched()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var calls = Enumerable.Range(0, 5).Select(i => connection.CallUInt32(1, (uint)i)).ToArray();
        var first = await peer.AcceptAsync();
        var originals = new List<ScriptedCall>();
        for (int i = 0; i < 5; i++) originals.Add(await first.ReadCallAsync());
        // Answer two, then reset the connection with three outstanding.
        await first.ReplyAsync(originals[0], w => w.WriteUInt32(100));
        await first.ReplyAsync(originals[3], w => w.WriteUInt32(103));
        Assert.Equal(100u, await calls[0].Within());
        Assert.Equal(103u, await calls[3].Within());
        first.Abort();

        await using var second = await peer.AcceptAsync();
        var resent = new List<ScriptedCall>();
        for (int i = 0; i < 3; i++) resent.Add(await second.ReadCallAsync());
        Assert.Equal(new[] { originals[1].Xid, originals[2].Xid, originals[4].Xid }, resent.Select(c => c.Xid));
        foreach (var call in resent)
            await second.ReplyAsync(call, w => w.WriteUInt32(100 + call.ReadUInt32Argument()));
        Assert.Equal(new uint[] { 101, 102, 104 }, new[] { await calls[1].Within(), await calls[2].Within(), await calls[4].Within() });
        Assert.Equal(3, connection.Stats.Retransmits);
    }

    [Fact]
    public async Task Soft_timeout_says_what_was_sent_to_whom_and_how_long_it_waited()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var options = Fast with { Hard = false, Timeout = TimeSpan.FromMilliseconds(250), Retransmits = 1 };
        await using var connection = Connect(peer, options);
        await using var first = await WarmUp(connection, peer);
        var call = connection.CallUInt32(7, 1);
        var sent = await first.ReadCallAsync();
        await using var second = await peer.AcceptAsync();
        Assert.Equal(sent.Xid, (await second.ReadCallAsync()).Xid);

        var e = await Assert.ThrowsAsync<RpcTimeoutException>(() => call.Within());
        Assert.Contains($"no reply from {peer.EndPoint} in namespace {TestSockets.ProcessNamespaceName}", e.Message);
        Assert.Contains($"NFS v3 WRITE (xid 0x{sent.Xid:x8})", e.Message);
        Assert.Contains("2 transmission(s)", e.Message);
        Assert.Contains("soft: timeo=0.25 s, retrans=1", e.Message);
        // timeo, then 2·timeo for the retransmission.
        Assert.True(e.Waited >= TimeSpan.FromMilliseconds(750), $"waited only {e.Waited}");
        Assert.Equal(2, e.Transmissions);
        Assert.Equal(sent.Xid, e.Call.Xid);
        Assert.Equal(7u, e.Call.Procedure);
        Assert.Equal(2, connection.Stats.Timeouts);

        // The connection is still usable afterwards.
        var next = connection.CallUInt32(1, 2);
        var nextCall = await second.ReadCallAsync();
        await second.ReplyAsync(nextCall, w => w.WriteUInt32(5));
        Assert.Equal(5u, await next.Within());
    }

    [Fact]
    public async Task Soft_timeout_without_retransmissions_fails_after_one_timeo()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { Hard = false, Timeout = TimeSpan.FromMilliseconds(100), Retransmits = 0 });
        await using var server = await WarmUp(connection, peer);
        var call = connection.CallUInt32(7, 1);
        await server.ReadCallAsync();
        var e = await Assert.ThrowsAsync<RpcTimeoutException>(() => call.Within());
        Assert.Equal(1, e.Transmissions);
        Assert.True(connection.IsConnected, "a soft timeout with no retransmission left does not condemn the connection");
        Assert.Null(await peer.TryAcceptAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Without_reconnection_a_hard_call_keeps_waiting_on_the_same_connection_and_a_soft_one_times_out()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var hard = Connect(peer, Fast with { Reconnect = false, Timeout = TimeSpan.FromMilliseconds(100) });
        await using var server = await WarmUp(hard, peer);
        var late = hard.CallUInt32(1, 1);
        var call = await server.ReadCallAsync();
        await Eventually(() => hard.Stats.Timeouts >= 2, "two timeouts");
        await server.ReplyAsync(call, w => w.WriteUInt32(1));
        Assert.Equal(1u, await late.Within());
        Assert.Equal(0, hard.Stats.Retransmits);

        await using var soft = Connect(peer, Fast with { Reconnect = false, Hard = false, Retransmits = 1, Timeout = TimeSpan.FromMilliseconds(100) });
        await using var softServer = await WarmUp(soft, peer);
        var doomed = soft.CallUInt32(1, 2);
        var e = await Assert.ThrowsAsync<RpcTimeoutException>(() => doomed.Within());
        Assert.Equal(1, e.Transmissions);
        Assert.True(soft.IsConnected);
        Assert.Equal(2, peer.AcceptedCount);
    }

    [Fact]
    public async Task Hard_call_keeps_retransmitting_until_cancelled()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { Hard = true, Timeout = TimeSpan.FromMilliseconds(100) });
        using var cts = new CancellationTokenSource();
        var call = connection.CallUInt32(7, 1, cts.Token);
        var xids = new List<uint>();
        for (int i = 0; i < 3; i++)
        {
            await using var server = await peer.AcceptAsync();
            xids.Add((await server.ReadCallAsync()).Xid);
        }
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.Within());
        Assert.Single(xids.Distinct());
        Assert.True(connection.Stats.Retransmits >= 2);
    }

    [Fact]
    public async Task Connection_refused_fails_soft_calls_after_retrans_attempts()
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, TestSockets.UnusedLoopbackPort());
        await using var connection = new RpcConnection(TestSockets.ProcessNamespace, endPoint, Fast with { Hard = false, Retransmits = 2 });
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => connection.CallUInt32(1, 1).Within());
        Assert.Equal($"connection refused by {endPoint} in namespace {TestSockets.ProcessNamespaceName} (3 attempts)", e.Message);
        Assert.Equal(3, connection.Stats.ConnectFailures);
    }

    [Fact]
    public async Task Connection_refused_without_reconnection_fails_at_once()
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, TestSockets.UnusedLoopbackPort());
        await using var connection = new RpcConnection(TestSockets.ProcessNamespace, endPoint, Fast with { Reconnect = false });
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => connection.CallUInt32(1, 1).Within());
        Assert.Equal($"connection refused by {endPoint} in namespace {TestSockets.ProcessNamespaceName}", e.Message);
        Assert.Equal(1, connection.Stats.ConnectFailures);
    }

    [Fact]
    public async Task A_namespace_that_cannot_be_used_fails_even_hard_calls_at_once()
    {
        var ns = NfsNs.Namespaces.NetworkNamespace.Current();
        ns.Dispose();
        await using var connection = new RpcConnection(new NfsNs.Namespaces.NamespaceSocketFactory(ns), new IPEndPoint(IPAddress.Loopback, 2049), Fast);
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => connection.CallUInt32(1, 1).Within());
        Assert.StartsWith("cannot connect to 127.0.0.1:2049 in namespace current", e.Message);
        Assert.IsType<ObjectDisposedException>(e.InnerException);
        Assert.Equal(1, connection.Stats.ConnectFailures);
    }

    [Fact]
    public async Task Connection_refused_on_a_hard_connection_keeps_trying_until_cancelled_then_connects_when_the_server_appears()
    {
        int port = TestSockets.UnusedLoopbackPort();
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        await using var connection = new RpcConnection(TestSockets.ProcessNamespace, endPoint, Fast);
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.CallUInt32(1, 1, cts.Token).Within());
        Assert.True(connection.Stats.ConnectFailures >= 2, connection.Stats.ToString());

        await using var peer = ScriptedRpcPeer.Listen(local: endPoint);
        var call = connection.CallUInt32(1, 2);
        await using var server = await peer.AcceptAsync();
        await Answer(server, 3);
        Assert.Equal(3u, await call.Within());
    }
}
