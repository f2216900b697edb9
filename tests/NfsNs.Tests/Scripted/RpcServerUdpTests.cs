using System.Collections.Concurrent;
using System.Net;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Tests.Support;
using NfsNs.Xdr;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>
/// RPC over UDP on the server (RFC 5531: one call per datagram, no record marking), in a test namespace: the same
/// dispatch, errors, duplicate request cache and counters as TCP; bad datagrams and overload dropped, never a crash.
/// </summary>
public sealed class RpcServerUdpTests : IDisposable
{
    private const uint N = TestRpcProgram.Number;
    private static readonly TimeSpan Silence = TimeSpan.FromMilliseconds(400);

    private readonly TestNetworkNamespace _ns = TestNetworkNamespace.Create();
    private readonly ConcurrentQueue<string> _log = new();
    private readonly TestRpcProgram _test = new();

    public void Dispose()
    {
        _test.OpenGate();
        _ns.Dispose();
    }

    private string Log => string.Join('\n', _log);

    private RpcServer NewServer(RpcServerOptions? options = null)
    {
        var server = new RpcServer(_ns.Sockets, (options ?? RpcServerOptions.Default) with { Log = _log.Enqueue });
        server.Register(_test.Program);
        return server;
    }

    private static byte[] Call(uint xid, uint program, uint version, uint procedure, Action<XdrWriter>? args = null) =>
        RawRpcClient.CallBody(xid, program, version, procedure, args);

    [Fact]
    public async Task Calls_are_answered_in_one_unframed_datagram_each_with_the_replies_of_RFC_5531()
    {
        await using var server = NewServer();
        var at = server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal([at], server.UdpEndPoints);
        Assert.Empty(server.EndPoints);
        using var peer = new UdpRpcPeer(_ns.Sockets);

        var nullReply = DecodedReply.Parse(await peer.CallAsync(Call(1, N, 1, 0), at));
        Assert.Equal((RpcReplyStat.Accepted, RpcAcceptStat.Success), (nullReply.ReplyStat, nullReply.AcceptStat));
        Assert.Empty(nullReply.Results);

        var echo = DecodedReply.Parse(await peer.CallAsync(Call(2, N, 2, TestRpcProgram.Echo, w => w.WriteUInt32(42)), at));
        Assert.Equal([0, 0, 0, 42], echo.Results);

        Assert.Equal(RpcAcceptStat.ProcUnavail, DecodedReply.Parse(await peer.CallAsync(Call(3, N, 1, 99), at)).AcceptStat);
        Assert.Equal(RpcAcceptStat.GarbageArgs, DecodedReply.Parse(await peer.CallAsync(Call(4, N, 1, TestRpcProgram.Echo), at)).AcceptStat);
        Assert.Equal(RpcAcceptStat.ProgUnavail, DecodedReply.Parse(await peer.CallAsync(Call(5, N + 1, 1, 0), at)).AcceptStat);
        var mismatch = DecodedReply.Parse(await peer.CallAsync(Call(6, N, 9, 0), at));
        Assert.Equal((RpcAcceptStat.ProgMismatch, 1u, 2u), (mismatch.AcceptStat, mismatch.Low, mismatch.High));
        Assert.Equal(RpcAcceptStat.SystemErr, DecodedReply.Parse(await peer.CallAsync(Call(7, N, 1, TestRpcProgram.Fail), at)).AcceptStat);
        Assert.Contains($"procedure {TestRpcProgram.Fail} (xid 0x00000007) from {peer.LocalEndPoint} over UDP", Log);

        // Replies go to each sender's own address and port.
        using var other = new UdpRpcPeer(_ns.Sockets);
        await other.SendAsync(Call(8, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(8)), at);
        await peer.SendAsync(Call(9, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(9)), at);
        Assert.Equal([0, 0, 0, 8], DecodedReply.Parse((await other.ReceiveAsync(TimeSpan.FromSeconds(10)))!.Value.Datagram).Results);
        Assert.Equal([0, 0, 0, 9], DecodedReply.Parse((await peer.ReceiveAsync(TimeSpan.FromSeconds(10)))!.Value.Datagram).Results);

        Assert.Equal((9L, 5L, 0L), (server.Stats.Calls, server.Stats.Errors, server.Stats.Connections));
        var row = Assert.Single(server.Clients);
        Assert.Equal((IPAddress.Loopback, 9L), (row.Address, row.Stats.Calls));
        Assert.True(row.Stats.BytesReceived > 0 && row.Stats.BytesSent > 0);
    }

    [Fact]
    public async Task Handlers_see_UDP_and_the_address_the_datagram_was_sent_to_even_on_a_wildcard_socket()
    {
        await using var server = NewServer();
        const uint Probe = 0x2000_0002;
        server.Register(new RpcProgram(Probe).On(1, 1, (call, _) =>
        {
            call.Results.WriteString(call.Transport.ToString());
            call.Results.WriteString(call.LocalEndPoint.ToString());
            call.Results.WriteString(call.RemoteEndPoint.ToString());
            return RpcReplyStatus.SuccessTask;
        }));
        var at = server.ListenUdp(new IPEndPoint(IPAddress.Any, 0));
        using var peer = new UdpRpcPeer(_ns.Sockets);
        var reply = DecodedReply.Parse(await peer.CallAsync(Call(1, Probe, 1, 1), new IPEndPoint(IPAddress.Loopback, at.Port)));
        var reader = new XdrReader(reply.Results);
        Assert.Equal("Udp", reader.ReadString(64, "transport"));
        Assert.Equal($"127.0.0.1:{at.Port}", reader.ReadString(64, "local"));
        Assert.Equal(peer.LocalEndPoint.ToString(), reader.ReadString(64, "remote"));
    }

    [Fact]
    public async Task DRC_a_retransmitted_non_idempotent_call_gets_the_cached_reply_unframed_also_after_TCP()
    {
        await using var server = NewServer();
        var udp = server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0));
        var tcp = server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        using var peer = new UdpRpcPeer(_ns.Sockets);

        var call = Call(0xD1, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(0));
        byte[] first = await peer.CallAsync(call, udp);
        byte[] again = await peer.CallAsync(call, udp);
        Assert.Equal(first, again);
        Assert.Equal([0, 0, 0, 1], DecodedReply.Parse(again).Results);
        Assert.Equal((1, 1L), (_test.Counted, server.Stats.Duplicates));

        // First over TCP, then retransmitted over UDP (same address, XID and body): the UDP datagram is the TCP
        // record's message without its marker, and the procedure did not run again.
        var overTcp = Call(0xD2, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(0));
        byte[] record;
        using (var raw = new RawRpcClient(await _ns.Sockets.ConnectTcpAsync(tcp, CancellationToken.None)))
        {
            await raw.SendRecordAsync(overTcp);
            record = await raw.ReadReplyAsync();
        }
        Assert.Equal(record, await peer.CallAsync(overTcp, udp));
        Assert.Equal((2, 2L), (_test.Counted, server.Stats.Duplicates));

        // And the other way round: a UDP call's cached reply goes out framed on TCP.
        var overUdp = Call(0xD3, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(0));
        byte[] datagram = await peer.CallAsync(overUdp, udp);
        using (var raw = new RawRpcClient(await _ns.Sockets.ConnectTcpAsync(tcp, CancellationToken.None)))
        {
            await raw.SendRecordAsync(overUdp);
            Assert.Equal(datagram, await raw.ReadReplyAsync());
        }
        Assert.Equal((3, 3L), (_test.Counted, server.Stats.Duplicates));
    }

    [Fact]
    public async Task Oversize_empty_garbage_and_reply_datagrams_are_dropped_and_the_socket_serves_on()
    {
        await using var server = NewServer(new RpcServerOptions { MaxDatagramSize = 1024 });
        var at = server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0));
        using var peer = new UdpRpcPeer(_ns.Sockets);

        // Over the cap: an echo call of 2000 bytes, and one exactly one byte too long (a call that fits plus a
        // trailing byte, which would be answered GARBAGE_ARGS if it were taken).
        await peer.SendAsync(Call(1, N, 1, TestRpcProgram.EchoOpaque, w => w.WriteOpaque(new byte[2000])), at);
        var fits = Call(3, N, 1, TestRpcProgram.EchoOpaque, w => w.WriteOpaque(new byte[1024 - 44]));
        Assert.Equal(1024, fits.Length);
        await peer.SendAsync([.. fits, 0], at);
        Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await peer.CallAsync(fits, at)).AcceptStat);

        await peer.SendAsync([], at);
        await peer.SendAsync([1, 2, 3, 4, 5, 6, 7], at);
        var reply = Call(4, N, 1, 0);
        reply[7] = (byte)RpcMessageType.Reply;
        await peer.SendAsync(reply, at);
        var random = new byte[700];
        new Random(5531).NextBytes(random);
        await peer.SendAsync(random, at);
        Assert.Null(await peer.ReceiveAsync(Silence));

        Assert.Equal([0, 0, 0, 5], DecodedReply.Parse(await peer.CallAsync(Call(5, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(5)), at)).Results);
        Assert.Equal(2, _log.Count(line => line.Contains("over the 1024-byte limit", StringComparison.Ordinal)));
        Assert.True(server.Stats.Dropped >= 5, server.Stats.ToString());
    }

    [Fact]
    public async Task At_the_cap_of_calls_in_progress_further_datagrams_are_dropped_not_queued()
    {
        await using var server = NewServer(new RpcServerOptions { MaxInFlightDatagrams = 2 });
        var at = server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0));
        using var peer = new UdpRpcPeer(_ns.Sockets);

        for (uint xid = 1; xid <= 2; xid++) await peer.SendAsync(Call(xid, N, 1, TestRpcProgram.Slow, w => w.WriteUInt32(xid)), at);
        await Eventually(() => _test.SlowRunning == 2, "two slow calls running");
        await peer.SendAsync(Call(3, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(3)), at);
        await Eventually(() => server.Stats.Dropped == 1, "the third datagram dropped");
        Assert.Null(await peer.ReceiveAsync(Silence));

        _test.OpenGate();
        var replies = new List<uint>();
        for (int i = 0; i < 2; i++) replies.Add(DecodedReply.Parse((await peer.ReceiveAsync(TimeSpan.FromSeconds(10)))!.Value.Datagram).Xid);
        Assert.Equal([1u, 2u], replies.Order());
        // The client's retransmission gets through once there is room.
        Assert.Equal([0, 0, 0, 3], DecodedReply.Parse(await peer.CallAsync(Call(3, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(3)), at)).Results);
    }

    [Fact]
    public async Task Shutdown_stops_receiving_lets_the_call_in_progress_reply_then_closes_the_socket()
    {
        var server = NewServer();
        var at = server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0));
        using var peer = new UdpRpcPeer(_ns.Sockets);
        await peer.SendAsync(Call(1, N, 1, TestRpcProgram.Slow, w => w.WriteUInt32(1)), at);
        await Eventually(() => _test.SlowRunning == 1, "the slow call running");

        var stopping = server.StopAsync();
        await Task.Delay(100);
        Assert.False(stopping.IsCompleted);
        await peer.SendAsync(Call(2, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(2)), at); // not read any more
        _test.OpenGate();
        var reply = (await peer.ReceiveAsync(TimeSpan.FromSeconds(10)))!.Value;
        Assert.Equal(1u, DecodedReply.Parse(reply.Datagram).Xid);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(await peer.ReceiveAsync(Silence));
        Assert.Throws<ObjectDisposedException>(() => server.ListenUdp(new IPEndPoint(IPAddress.Loopback, 0)));
        await server.DisposeAsync();

        // The port is free again: the socket is closed.
        _ns.Sockets.BindUdp(at).Dispose();
    }
}
