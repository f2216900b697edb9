using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>Many calls on one connection: XID matching, the in-flight cap, cancellation, bad replies.</summary>
public class RpcConcurrencyTests
{
    [Fact]
    public async Task Two_hundred_calls_in_flight_answered_in_reverse_order()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { MaxInFlight = 256 });
        var calls = Enumerable.Range(0, 200).Select(i => connection.CallUInt32(1, (uint)i)).ToArray();
        await using var server = await peer.AcceptAsync();
        var received = new List<ScriptedCall>();
        for (int i = 0; i < 200; i++) received.Add(await server.ReadCallAsync());
        Assert.Equal(200, received.Select(c => c.Xid).Distinct().Count());
        received.Reverse();
        foreach (var call in received)
            await server.ReplyAsync(call, w => w.WriteUInt32(call.ReadUInt32Argument() * 3 + 1));
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 200; i++) Assert.Equal((uint)(i * 3 + 1), results[i]);
        Assert.Equal(200, connection.Stats.Calls);
        Assert.Equal(200, connection.Stats.Replies);
        Assert.Equal(1, connection.Stats.Connects);
        // 200 calls of 48 bytes with markers; 200 replies of 32.
        await Eventually(() => connection.Stats.BytesSent == 200 * 48, $"counting bytes sent ({connection.Stats})");
        Assert.Equal(200 * 32, connection.Stats.BytesReceived);
    }

    [Fact]
    public async Task Calls_in_flight_never_exceed_the_cap()
    {
        const int cap = 4, total = 11;
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { MaxInFlight = cap });
        var calls = Enumerable.Range(0, total).Select(i => connection.CallUInt32(1, (uint)i)).ToArray();
        await using var server = await peer.AcceptAsync();
        var outstanding = new List<ScriptedCall>();
        int answered = 0;
        while (answered < total)
        {
            while (await server.TryReadCallAsync(TimeSpan.FromMilliseconds(outstanding.Count < Math.Min(cap, total - answered) ? 2000 : 100)) is { } call)
            {
                outstanding.Add(call);
                Assert.True(outstanding.Count <= cap, $"the server sees {outstanding.Count} calls outstanding, over the cap of {cap}");
            }
            Assert.Equal(Math.Min(cap, total - answered), outstanding.Count);
            // Answer two at a time, so that slots free up in bursts.
            foreach (var call in outstanding.Take(2).ToList())
            {
                await server.ReplyAsync(call, w => w.WriteUInt32(call.ReadUInt32Argument()));
                outstanding.Remove(call);
                answered++;
            }
        }
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(0, total).Select(i => (uint)i), results);
    }

    [Fact]
    public async Task Cancelling_one_call_does_not_disturb_the_others()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        using var cts = new CancellationTokenSource();
        var a = connection.CallUInt32(1, 1);
        var b = connection.CallUInt32(1, 2, cts.Token);
        var c = connection.CallUInt32(1, 3);
        await using var server = await peer.AcceptAsync();
        var received = new[] { await server.ReadCallAsync(), await server.ReadCallAsync(), await server.ReadCallAsync() };

        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.Within());
        foreach (var call in received)
            await server.ReplyAsync(call, w => w.WriteUInt32(call.ReadUInt32Argument() + 10));
        Assert.Equal(11u, await a.Within());
        Assert.Equal(13u, await c.Within());
        await Eventually(() => connection.Stats.DroppedReplies == 1, "dropping the reply to the cancelled call");

        var d = connection.CallUInt32(1, 4);
        var next = await server.ReadCallAsync();
        await server.ReplyAsync(next, w => w.WriteUInt32(14));
        Assert.Equal(14u, await d.Within());
        Assert.Equal(1, peer.AcceptedCount);
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task Cancelling_a_call_waiting_for_a_slot_frees_nothing_it_did_not_take()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer, Fast with { MaxInFlight = 1 });
        using var cts = new CancellationTokenSource();
        var first = connection.CallUInt32(1, 1);
        var waiting = connection.CallUInt32(1, 2, cts.Token);
        await using var server = await peer.AcceptAsync();
        var call = await server.ReadCallAsync();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());
        var third = connection.CallUInt32(1, 3);
        Assert.Null(await server.TryReadCallAsync(TimeSpan.FromMilliseconds(100)));
        await server.ReplyAsync(call, w => w.WriteUInt32(1));
        Assert.Equal(1u, await first.Within());
        var thirdCall = await server.ReadCallAsync();
        Assert.Equal(3u, thirdCall.ReadUInt32Argument());
        await server.ReplyAsync(thirdCall, w => w.WriteUInt32(3));
        Assert.Equal(3u, await third.Within());
    }

    [Fact]
    public async Task Malformed_reply_fails_only_its_call_and_unknown_or_runt_records_are_dropped()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var bad = connection.CallUInt32(1, 1);
        var good = connection.CallUInt32(1, 2);
        await using var server = await peer.AcceptAsync();
        var badCall = await server.ReadCallAsync();
        var goodCall = await server.ReadCallAsync();

        await server.SendRecordAsync(ScriptedRpcPeer.Encode(w =>
        {
            w.WriteUInt32(badCall.Xid);
            w.WriteUInt32(1);
            w.WriteUInt32(7); // no such reply_stat
        }));
        await server.SendRecordAsync(ScriptedRpcPeer.EncodeAcceptedReply(0xDEADBEEF, results: w => w.WriteUInt32(0)));
        await server.SendRecordAsync(new byte[] { 1, 2 });
        await server.ReplyAsync(goodCall, w => w.WriteUInt32(2));

        var e = await Assert.ThrowsAsync<RpcProtocolException>(() => bad.Within());
        Assert.Contains("unknown reply_stat 7", e.Message);
        Assert.Contains($"xid 0x{badCall.Xid:x8}", e.Message);
        Assert.Equal(2u, await good.Within());
        Assert.Equal(2, connection.Stats.DroppedReplies);
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task Truncated_results_are_a_protocol_error_of_that_call()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var call = connection.CallAsync(RpcPrograms.Nfs, 3, 1, RpcCredentials.None, XdrVoid.Value,
            static (ref XdrReader r) => r.ReadUInt64(), CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var received = await server.ReadCallAsync();
        await server.ReplyAsync(received, w => w.WriteUInt32(1));
        var e = await Assert.ThrowsAsync<RpcProtocolException>(() => call.Within());
        Assert.Contains("malformed results", e.Message);
        Assert.IsType<XdrException>(e.InnerException);
    }

    [Fact]
    public async Task Accepted_and_denied_errors_surface_as_typed_exceptions()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var mismatch = connection.CallUInt32(1, 1);
        var auth = connection.CallUInt32(1, 2);
        await using var server = await peer.AcceptAsync();
        await server.ReplyErrorAsync(await server.ReadCallAsync(), RpcAcceptStat.ProgMismatch, 2, 3);
        await server.ReplyDeniedAsync(await server.ReadCallAsync(), RpcRejectStat.AuthError, RpcAuthStat.BadCred);
        var e1 = await Assert.ThrowsAsync<RpcAcceptedException>(() => mismatch.Within());
        Assert.Equal((RpcAcceptStat.ProgMismatch, 2u, 3u), (e1.Stat, e1.LowVersion, e1.HighVersion));
        var e2 = await Assert.ThrowsAsync<RpcDeniedException>(() => auth.Within());
        Assert.Equal(RpcAuthStat.BadCred, e2.AuthStat);
    }

    [Fact]
    public async Task Program_client_calls_its_program_and_describes_itself()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var credentials = new AuthSysCredentials(1000, 100, [10, 20], "client", stamp: 7);
        IRpcCaller mount = new RpcProgramClient(connection, RpcPrograms.Mount, 3, credentials);
        Assert.Equal($"MOUNT v3 at {peer.EndPoint} in namespace {TestSockets.ProcessNamespaceName}", mount.Describe());
        var result = mount.CallAsync(5, new UInt32Value(9), UInt32Value.Decoder, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var call = await server.ReadCallAsync();
        Assert.Equal((2u, RpcPrograms.Mount, 3u, 5u), (call.RpcVersion, call.Program, call.Version, call.Procedure));
        Assert.Equal(RpcAuthFlavor.Sys, call.Credential.Flavor);
        var sys = AuthSysCredentials.Read(call.Credential.Body);
        Assert.Equal((1000u, 100u, "client"), (sys.Uid, sys.Gid, sys.MachineName));
        await server.ReplyAsync(call, w => w.WriteUInt32(call.ReadUInt32Argument() + 1));
        Assert.Equal(10u, await result.Within());
    }

    [Fact]
    public async Task Dispose_fails_pending_calls_and_refuses_new_ones()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var connection = Connect(peer);
        var call = connection.CallUInt32(1, 1);
        await using var server = await peer.AcceptAsync();
        await server.ReadCallAsync();
        await connection.DisposeAsync();
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => call.Within());
        Assert.Contains("disposed", e.Message);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => connection.CallUInt32(1, 2));
        Assert.True(await server.WaitForCloseAsync());
        await connection.DisposeAsync();
    }
}
