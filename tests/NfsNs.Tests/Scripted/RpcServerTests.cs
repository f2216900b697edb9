using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Tests.Support;
using NfsNs.Xdr;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>The RPC server layer (RFC 5531 server side): dispatch errors, framing, concurrency, DRC, shutdown.</summary>
public class RpcServerTests
{
    [Fact]
    public async Task Listening_errors_name_the_address_the_namespace_and_the_cause()
    {
        using var ns = TestNetworkNamespace.Create();
        await using var server = new RpcServer(ns.Sockets);
        var bound = server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var inUse = Assert.Throws<IOException>(() => server.Listen(bound));
        Assert.Contains($"cannot listen on {bound} in namespace {ns.Name}", inUse.Message);
        Assert.Contains("already in use", inUse.Message);
        var notOurs = Assert.Throws<IOException>(() => server.ListenUdp(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 0)));
        Assert.Contains("cannot listen on UDP 192.0.2.7:0", notOurs.Message);
        Assert.Contains("not one of the namespace's", notOurs.Message);
    }

    private const uint N = TestRpcProgram.Number;

    private sealed class MalformedAuthSys : RpcCredentials
    {
        public override RpcAuthFlavor Flavor => RpcAuthFlavor.Sys;
        public override void WriteCredential(XdrWriter writer)
        {
            writer.WriteUInt32((uint)RpcAuthFlavor.Sys);
            writer.WriteOpaque([0, 0, 0, 1]);
        }
    }

    [Fact]
    public async Task A_call_is_dispatched_and_answered()
    {
        await using var harness = new RpcServerHarness();
        await using var client = harness.Connect();
        Assert.Equal(42u, await harness.CallUInt32(client, TestRpcProgram.Echo, 42).Within());
        Assert.Equal(7u, await harness.CallUInt32(client, TestRpcProgram.Echo, 7, version: 2).Within());
        Assert.Equal(2, harness.Server.Stats.Calls);
        var row = Assert.Single(harness.Server.Clients);
        Assert.Equal(IPAddress.Loopback, row.Address);
        Assert.Equal(2, row.Stats.Calls);
        Assert.True(row.Stats.BytesSent > 0 && row.Stats.BytesReceived > 0);
    }

    [Fact]
    public async Task Dispatch_errors_are_the_exact_replies_of_RFC_5531()
    {
        await using var harness = new RpcServerHarness(program: new TestRpcProgram(RpcAuthFlavor.Sys));
        using var raw = await harness.ConnectRawAsync();
        var sys = new AuthSysCredentials(1000, 1000, machineName: "test");

        async Task<DecodedReply> Ask(uint xid, uint program, uint version, uint procedure, Action<XdrWriter>? args = null,
            RpcCredentials? credentials = null, uint rpcVersion = Rpc.Rpc.Version)
        {
            await raw.SendRecordAsync(RawRpcClient.CallBody(xid, program, version, procedure, args, credentials ?? sys, rpcVersion));
            var reply = DecodedReply.Parse(await raw.ReadReplyAsync());
            Assert.Equal(xid, reply.Xid);
            return reply;
        }

        var ok = await Ask(1, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(5));
        Assert.Equal((RpcReplyStat.Accepted, RpcAcceptStat.Success), (ok.ReplyStat, ok.AcceptStat));
        Assert.Equal([0, 0, 0, 5], ok.Results);

        var progUnavail = await Ask(2, N + 1, 1, 0);
        Assert.Equal((RpcReplyStat.Accepted, RpcAcceptStat.ProgUnavail), (progUnavail.ReplyStat, progUnavail.AcceptStat));

        var mismatch = await Ask(3, N, 7, 0);
        Assert.Equal((RpcAcceptStat.ProgMismatch, 1u, 2u), (mismatch.AcceptStat, mismatch.Low, mismatch.High));

        var procUnavail = await Ask(4, N, 2, 99);
        Assert.Equal(RpcAcceptStat.ProcUnavail, procUnavail.AcceptStat);

        var truncated = await Ask(5, N, 1, TestRpcProgram.Echo);
        Assert.Equal(RpcAcceptStat.GarbageArgs, truncated.AcceptStat);

        var trailing = await Ask(6, N, 1, TestRpcProgram.Echo, w => { w.WriteUInt32(5); w.WriteUInt32(6); });
        Assert.Equal(RpcAcceptStat.GarbageArgs, trailing.AcceptStat);

        var systemErr = await Ask(7, N, 1, TestRpcProgram.Fail);
        Assert.Equal(RpcAcceptStat.SystemErr, systemErr.AcceptStat);
        Assert.Contains($"procedure {TestRpcProgram.Fail} (xid 0x00000007) from 127.0.0.1:", harness.Log);
        Assert.Contains("the test handler fails on purpose", harness.Log);

        var rpcMismatch = await Ask(8, N, 1, 0, rpcVersion: 3);
        Assert.Equal((RpcReplyStat.Denied, RpcRejectStat.RpcMismatch, 2u, 2u),
            (rpcMismatch.ReplyStat, rpcMismatch.RejectStat, rpcMismatch.Low, rpcMismatch.High));

        var tooWeak = await Ask(9, N, 1, 0, credentials: RpcCredentials.None);
        Assert.Equal((RpcReplyStat.Denied, RpcRejectStat.AuthError, RpcAuthStat.TooWeak),
            (tooWeak.ReplyStat, tooWeak.RejectStat, tooWeak.AuthStat));

        var badCred = await Ask(10, N, 1, 0, credentials: new MalformedAuthSys());
        Assert.Equal((RpcRejectStat.AuthError, RpcAuthStat.BadCred), (badCred.RejectStat, badCred.AuthStat));

        // A REPLY sent to the server is dropped: the next answer is the one to the call after it.
        var bogusReply = new byte[24];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bogusReply.AsSpan(0), 11);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bogusReply.AsSpan(4), (uint)RpcMessageType.Reply);
        await raw.SendRecordAsync(bogusReply);
        var afterDrop = await Ask(12, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(9));
        Assert.Equal(RpcAcceptStat.Success, afterDrop.AcceptStat);
        Assert.Equal(1, harness.Server.Stats.Dropped);
        Assert.Equal(9, harness.Server.Stats.Errors);
    }

    [Fact]
    public async Task Our_client_sees_the_errors_as_typed_exceptions()
    {
        await using var harness = new RpcServerHarness();
        await using var client = harness.Connect();
        var mismatch = await Assert.ThrowsAsync<RpcAcceptedException>(() => harness.CallUInt32(client, 0, 0, version: 9).Within());
        Assert.Equal((RpcAcceptStat.ProgMismatch, 1u, 2u), (mismatch.Stat, mismatch.LowVersion, mismatch.HighVersion));
        var garbage = await Assert.ThrowsAsync<RpcAcceptedException>(() =>
            client.CallAsync(N, 1, TestRpcProgram.Echo, RpcCredentials.None, XdrVoid.Value, XdrVoid.Read, CancellationToken.None).Within());
        Assert.Equal(RpcAcceptStat.GarbageArgs, garbage.Stat);
    }

    public static TheoryData<int[]> Fragmentations => new() { new[] { 12, 12 }, new[] { 8, 8, 8 }, new[] { 9, 1, 14 } };

    [Theory]
    [MemberData(nameof(Fragmentations))]
    public async Task F1_a_call_split_into_fragments_decodes_the_same(int[] fragments)
    {
        await using var harness = new RpcServerHarness();
        using var raw = await harness.ConnectRawAsync();
        await raw.SendFragmentsAsync(RawRpcClient.CallBody(0x77, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(0xCAFE)), fragments);
        var reply = DecodedReply.Parse(await raw.ReadReplyAsync());
        Assert.Equal((0x77u, RpcAcceptStat.Success), (reply.Xid, reply.AcceptStat));
        Assert.Equal([0, 0, 0xCA, 0xFE], reply.Results);
    }

    [Fact]
    public async Task F1_a_1_MiB_call_in_4_fragments_decodes_the_same()
    {
        await using var harness = new RpcServerHarness();
        using var raw = await harness.ConnectRawAsync();
        var data = RandomNumberGenerator.GetBytes(1024 * 1024);
        var body = RawRpcClient.CallBody(0x78, N, 1, TestRpcProgram.EchoOpaque, w => w.WriteOpaque(data));
        int quarter = body.Length / 4;
        await raw.SendFragmentsAsync(body, quarter, quarter, quarter);
        var reply = DecodedReply.Parse(await raw.ReadReplyAsync());
        Assert.Equal(RpcAcceptStat.Success, reply.AcceptStat);
        var r = new XdrReader(reply.Results);
        Assert.True(r.ReadOpaque(data.Length).SequenceEqual(data));
    }

    [Fact]
    public async Task F2_a_marker_arriving_one_byte_at_a_time_with_pauses()
    {
        await using var harness = new RpcServerHarness();
        using var raw = await harness.ConnectRawAsync();
        raw.Socket.NoDelay = true;
        var body = RawRpcClient.CallBody(0x79, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(3));
        var marker = new byte[4];
        RecordMarking.WriteMarker(marker, body.Length, isLastFragment: true);
        foreach (byte b in marker)
        {
            await raw.SendAsync([b]);
            await Task.Delay(30);
        }
        await raw.SendAsync(body);
        var reply = DecodedReply.Parse(await raw.ReadReplyAsync());
        Assert.Equal((0x79u, RpcAcceptStat.Success), (reply.Xid, reply.AcceptStat));
    }

    [Fact]
    public async Task F3_a_2_GiB_marker_closes_that_connection_only_and_allocates_nothing_big()
    {
        var pool = new CountingArrayPool();
        await using var harness = new RpcServerHarness(new RpcServerOptions { Pool = pool });
        using var other = await harness.ConnectRawAsync();
        using var hostile = await harness.ConnectRawAsync();
        await hostile.SendAsync([0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]);
        Assert.True(await hostile.IsClosedByServerAsync());
        await Eventually(() => harness.Log.Contains("closing connection"), "the log line about the oversized record");
        Assert.Single(harness.LogLines, line => line.Contains("closing connection") && line.Contains("over the limit"));

        await other.SendRecordAsync(RawRpcClient.CallBody(5, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(1)));
        Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await other.ReadReplyAsync()).AcceptStat);
        Assert.True(pool.LargestRent <= 128 * 1024, $"largest rent {pool.LargestRent}");
    }

    [Fact]
    public async Task Idle_and_stalled_half_record_connections_are_closed_busy_ones_are_not()
    {
        await using var harness = new RpcServerHarness(new RpcServerOptions { IdleTimeout = TimeSpan.FromMilliseconds(400) });
        using var stalled = await harness.ConnectRawAsync();
        using var idle = await harness.ConnectRawAsync();
        using var busy = await harness.ConnectRawAsync();
        // Half a record: a marker announcing 100 bytes, then 10 of them, then nothing (slowloris).
        await stalled.SendAsync([0x80, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        for (uint i = 0; i < 12; i++)
        {
            await busy.SendRecordAsync(RawRpcClient.CallBody(100 + i, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(i)));
            Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await busy.ReadReplyAsync()).AcceptStat);
            await Task.Delay(100);
        }
        Assert.True(await stalled.IsClosedByServerAsync());
        Assert.True(await idle.IsClosedByServerAsync());
        Assert.Contains(harness.LogLines, line => line.Contains("nothing received or sent for 0.4 s"));
        await busy.SendRecordAsync(RawRpcClient.CallBody(999, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(7)));
        Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await busy.ReadReplyAsync()).AcceptStat);
    }

    [Fact]
    public async Task A_slow_call_does_not_hold_up_a_fast_one_on_the_same_connection()
    {
        await using var harness = new RpcServerHarness();
        await using var client = harness.Connect();
        var slow = harness.CallUInt32(client, TestRpcProgram.Slow, 1);
        await Eventually(() => harness.Test.SlowRunning == 1, "the slow call to start");
        Assert.Equal(2u, await harness.CallUInt32(client, TestRpcProgram.Echo, 2).Within());
        Assert.False(slow.IsCompleted);
        harness.Test.OpenGate();
        Assert.Equal(1u, await slow.Within());
    }

    [Fact]
    public async Task At_the_in_flight_cap_the_connection_is_not_read()
    {
        await using var harness = new RpcServerHarness(new RpcServerOptions { MaxInFlightPerConnection = 2 });
        await using var client = harness.Connect();
        var calls = Enumerable.Range(0, 4).Select(i => harness.CallUInt32(client, TestRpcProgram.Slow, (uint)i)).ToArray();
        await Eventually(() => harness.Test.SlowRunning == 2, "two slow calls to start");
        await Task.Delay(300);
        Assert.Equal(2, harness.Test.SlowRunning);
        Assert.Equal(2, harness.Server.Stats.Calls);
        harness.Test.OpenGate();
        var results = await Task.WhenAll(calls).Within();
        Assert.Equal([0u, 1u, 2u, 3u], results);
        Assert.Equal(2, harness.Test.MaxSlowRunning);
    }

    [Fact]
    public async Task DRC_a_finished_call_resent_on_a_new_connection_gets_the_cached_reply_without_running_again()
    {
        await using var harness = new RpcServerHarness();
        var call = RawRpcClient.CallBody(0xD1, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(0));
        byte[] first, second;
        using (var a = await harness.ConnectRawAsync())
        {
            await a.SendRecordAsync(call);
            first = await a.ReadReplyAsync();
        }
        using (var b = await harness.ConnectRawAsync())
        {
            await b.SendRecordAsync(call);
            second = await b.ReadReplyAsync();
        }
        Assert.Equal(first, second);
        Assert.Equal(1, harness.Test.Counted);
        Assert.Equal(1, harness.Server.Stats.Duplicates);

        // Same XID, different body: a new request.
        using var c = await harness.ConnectRawAsync();
        await c.SendRecordAsync(RawRpcClient.CallBody(0xD1, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(2)));
        var third = DecodedReply.Parse(await c.ReadReplyAsync());
        Assert.Equal([0, 0, 0, 2], third.Results);
        Assert.Equal(2, harness.Test.Counted);
    }

    [Fact]
    public async Task DRC_a_duplicate_of_a_call_in_progress_waits_for_the_first_and_gets_the_same_bytes()
    {
        await using var harness = new RpcServerHarness();
        var call = RawRpcClient.CallBody(0xD2, N, 1, TestRpcProgram.CountCalls, w => w.WriteUInt32(1));
        using var a = await harness.ConnectRawAsync();
        using var b = await harness.ConnectRawAsync();
        await a.SendRecordAsync(call);
        await Eventually(() => harness.Test.Counted == 1, "the first execution to start");
        await b.SendRecordAsync(call);
        await Eventually(() => harness.Server.Stats.Duplicates == 1, "the duplicate to arrive");
        harness.Test.OpenGate();
        var first = await a.ReadReplyAsync();
        var second = await b.ReadReplyAsync();
        Assert.Equal(first, second);
        Assert.Equal(1, harness.Test.Counted);
    }

    [Fact]
    public async Task Idempotent_procedures_are_not_cached()
    {
        await using var harness = new RpcServerHarness();
        using var a = await harness.ConnectRawAsync();
        var call = RawRpcClient.CallBody(0xE1, N, 1, TestRpcProgram.Echo, w => w.WriteUInt32(1));
        await a.SendRecordAsync(call);
        await a.ReadReplyAsync();
        await a.SendRecordAsync(call);
        await a.ReadReplyAsync();
        Assert.Equal(0, harness.Server.Stats.Duplicates);
        Assert.Equal(0, harness.Server.DuplicateCache!.Count);
    }

    [Fact]
    public void DRC_is_bounded_by_entries_and_bytes()
    {
        var cache = new DuplicateRequestCache(maxEntries: 3, maxBytes: 100, maxReplySize: 60);
        for (uint xid = 0; xid < 5; xid++)
        {
            Assert.False(cache.TryGetDuplicate(DuplicateRequestCache.Key.Create(IPAddress.Loopback, xid, 1, 1, 1, []), out var entry));
            cache.Complete(entry, new byte[10]);
        }
        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGetDuplicate(DuplicateRequestCache.Key.Create(IPAddress.Loopback, 0, 1, 1, 1, []), out var evicted));
        cache.Complete(evicted, new byte[50]);
        Assert.True(cache.CachedBytes <= 100);
        Assert.False(cache.TryGetDuplicate(DuplicateRequestCache.Key.Create(IPAddress.Loopback, 9, 1, 1, 1, []), out var huge));
        cache.Complete(huge, new byte[61]);
        Assert.Null(huge.Reply.Result);
        Assert.False(cache.TryGetDuplicate(DuplicateRequestCache.Key.Create(IPAddress.Loopback, 9, 1, 1, 1, []), out _));
    }

    [Fact]
    public async Task Graceful_shutdown_stops_accepting_and_lets_calls_in_progress_finish()
    {
        var harness = new RpcServerHarness();
        await using var client = harness.Connect(Fast with { Reconnect = false });
        var slow = harness.CallUInt32(client, TestRpcProgram.Slow, 11);
        await Eventually(() => harness.Test.SlowRunning == 1, "the slow call to start");
        var stop = harness.Server.StopAsync();
        await Eventually(() => !CanConnect(harness.EndPoint), "the listener to close");
        Assert.False(stop.IsCompleted);
        harness.Test.OpenGate();
        Assert.Equal(11u, await slow.Within());
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, harness.Server.ConnectionCount);
        await harness.DisposeAsync();
    }

    [Fact]
    public async Task Shutdown_cancels_calls_that_outlast_its_timeout()
    {
        var harness = new RpcServerHarness(new RpcServerOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(200) });
        await using var client = harness.Connect(Fast with { Reconnect = false });
        var slow = harness.CallUInt32(client, TestRpcProgram.Slow, 1);
        await Eventually(() => harness.Test.SlowRunning == 1, "the slow call to start");
        await harness.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, harness.Server.ConnectionCount);
        await Assert.ThrowsAsync<RpcConnectionException>(() => slow.Within());
        Assert.Contains("cancelling", harness.Log);
        await harness.DisposeAsync();
    }

    private static bool CanConnect(IPEndPoint endPoint)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
