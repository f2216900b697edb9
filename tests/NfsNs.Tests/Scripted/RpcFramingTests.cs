using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>Cases F1–F3 of cases/nfs3.md, client side, against a scripted server.</summary>
public class RpcFramingTests
{
    [Theory]
    [InlineData(new[] { 12, 12 })]
    [InlineData(new[] { 8, 8, 8 })]
    [InlineData(new[] { 9, 1, 14 })]
    [InlineData(new[] { 24 })]
    [InlineData(new[] { 0, 24, 0 })]
    public async Task F1_fragmented_void_reply_decodes_like_a_single_fragment(int[] fragments)
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var call = connection.CallNull();
        await using var server = await peer.AcceptAsync();
        var received = await server.ReadCallAsync();
        var reply = ScriptedRpcPeer.EncodeAcceptedReply(received.Xid);
        Assert.Equal(24, reply.Length);
        await server.SendRecordAsync(reply, fragments);
        await call.Within();
        Assert.Equal(1, connection.Stats.Replies);
    }

    [Fact]
    public async Task F1_fragmented_reply_with_results()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var call = connection.CallUInt32(6, 20);
        await using var server = await peer.AcceptAsync();
        var received = await server.ReadCallAsync();
        await server.ReplyAsync(received, w => w.WriteUInt32(received.ReadUInt32Argument() + 1), fragments: [9, 1, 14], pause: TimeSpan.FromMilliseconds(20));
        Assert.Equal(21u, await call.Within());
    }

    [Fact]
    public async Task F1_one_MiB_reply_in_four_fragments()
    {
        var data = new byte[1 << 20];
        new Random(1).NextBytes(data);
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var call = connection.CallAsync(RpcPrograms.Nfs, 3, 6, RpcCredentials.None, new UInt32Value(0),
            static (ref XdrReader r) => r.ReadOpaque(2 << 20, "READ data").ToArray(), CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var received = await server.ReadCallAsync();
        var reply = ScriptedRpcPeer.EncodeAcceptedReply(received.Xid, results: w => w.WriteOpaque(data));
        int quarter = reply.Length / 4;
        await server.SendRecordAsync(reply, [quarter, quarter, quarter]);
        Assert.Equal(data, await call.Within());
    }

    [Fact]
    public async Task F2_marker_sent_one_byte_at_a_time_with_pauses()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var first = connection.CallUInt32(1, 5);
        var second = connection.CallUInt32(1, 6);
        await using var server = await peer.AcceptAsync();
        var calls = new[] { await server.ReadCallAsync(), await server.ReadCallAsync() };
        // Two records back to back, every byte of each marker in its own segment.
        foreach (var call in calls)
        {
            var framed = ScriptedRpcPeer.Frame(ScriptedRpcPeer.EncodeAcceptedReply(call.Xid, results: w => w.WriteUInt32(call.ReadUInt32Argument() * 10)));
            await server.WriteRawAsync(framed, [1, 1, 1, 1, framed.Length - 4], TimeSpan.FromMilliseconds(30));
        }
        Assert.Equal(50u, await first.Within());
        Assert.Equal(60u, await second.Within());
    }

    [Fact]
    public async Task F3_record_announcing_2_GiB_fails_the_connection_without_allocating_it()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var other = ScriptedRpcPeer.Listen();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var options = Fast with { Reconnect = false, Log = log.Enqueue };
        await using var connection = Connect(peer, options);
        await using var unaffected = Connect(other, options);

        var doomed = connection.CallUInt32(1, 1);
        var healthy = unaffected.CallUInt32(1, 2);
        await using var server = await peer.AcceptAsync();
        await using var otherServer = await other.AcceptAsync();
        var doomedCall = await server.ReadCallAsync();
        var healthyCall = await otherServer.ReadCallAsync();

        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        // Marker 0xFFFFFFFF: last fragment, 2^31-1 bytes; then the start of a plausible reply.
        await server.WriteRawAsync(ScriptedConnection.Marker(RecordMarking.MaxFragmentLength)
            .Concat(ScriptedRpcPeer.EncodeAcceptedReply(doomedCall.Xid)).ToArray());
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() => doomed.Within());
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Contains("2147483647", e.Message);
        Assert.Contains($"over the limit of {RpcConnectionOptions.DefaultMaxRecordSize} bytes", e.Message);
        Assert.Contains($"{peer.EndPoint} in namespace {TestSockets.ProcessNamespaceName}", e.Message);
        Assert.Contains("reconnection is disabled", e.Message);
        Assert.True(allocated < 256L << 20, $"{allocated} bytes allocated while refusing a 2 GiB record");
        Assert.True(await server.WaitForCloseAsync(), "the client should close the connection");
        Assert.Contains(log, line => line.StartsWith($"connection #1 to {peer.EndPoint} in namespace") && line.Contains("over the limit"));

        await otherServer.ReplyAsync(healthyCall, w => w.WriteUInt32(7));
        Assert.Equal(7u, await healthy.Within());
        Assert.Equal(7u, await Task.Run(async () =>
        {
            var again = unaffected.CallUInt32(1, 3);
            await otherServer.ReplyAsync(await otherServer.ReadCallAsync(), w => w.WriteUInt32(7));
            return await again;
        }).Within());
    }

    [Fact]
    public async Task F3_with_reconnection_the_call_is_resent_on_a_new_connection()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var call = connection.CallUInt32(1, 9);
        await using var first = await peer.AcceptAsync();
        var sent = await first.ReadCallAsync();
        await first.WriteRawAsync(ScriptedConnection.Marker(RecordMarking.MaxFragmentLength));
        await using var second = await peer.AcceptAsync();
        var resent = await second.ReadCallAsync();
        Assert.Equal(sent.Record, resent.Record);
        await second.ReplyAsync(resent, w => w.WriteUInt32(99));
        Assert.Equal(99u, await call.Within());
        Assert.Equal(1, connection.Stats.Reconnects);
        Assert.Equal(1, connection.Stats.Retransmits);
    }
}
