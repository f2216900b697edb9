using System.Net;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>rpcbind/portmap client against a scripted rpcbind (case P1 of cases/nfs3.md).</summary>
public class PortmapTests
{
    private static readonly IPEndPoint WellKnownRpcbind = new(IPAddress.Loopback, PortmapProtocol.Port);

    /// <summary>A factory whose connections to 127.0.0.1:111 reach the scripted peer instead.</summary>
    private static RecordingSocketFactory RedirectedTo(ScriptedRpcPeer peer)
    {
        var sockets = new RecordingSocketFactory(TestSockets.ProcessNamespace);
        sockets.Redirect(WellKnownRpcbind, peer.EndPoint);
        return sockets;
    }

    private static RpcbindEntry ReadRpcbindArguments(ScriptedCall call)
    {
        var reader = call.BodyReader();
        var entry = RpcbindEntry.Read(ref reader);
        reader.EnsureFullyConsumed("rpcb");
        return entry;
    }

    private static PortmapMapping ReadMappingArguments(ScriptedCall call)
    {
        var reader = call.BodyReader();
        var mapping = PortmapMapping.Read(ref reader);
        reader.EnsureFullyConsumed("mapping");
        return mapping;
    }

    [Fact]
    public async Task P1_getport_answering_0_reports_the_program_as_not_registered_and_never_connects_to_port_0()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var sockets = RedirectedTo(peer);
        var lookup = RpcBinder.GetPortAsync(sockets, IPAddress.Loopback, RpcPrograms.Mount, 3, CancellationToken.None);
        await using var server = await peer.AcceptAsync();

        // rpcbind v4 and v3 are unknown to this server: the client falls back to portmap v2.
        var v4 = await server.ReadCallAsync();
        Assert.Equal((PortmapProtocol.Program, 4u, PortmapProtocol.RpcbindProcedure.GetAddr), (v4.Program, v4.Version, v4.Procedure));
        Assert.Equal(new RpcbindEntry(RpcPrograms.Mount, 3, "tcp", "127.0.0.1.0.111", ""), ReadRpcbindArguments(v4));
        await server.ReplyErrorAsync(v4, RpcAcceptStat.ProgMismatch, 2, 2);
        var v3 = await server.ReadCallAsync();
        Assert.Equal(3u, v3.Version);
        await server.ReplyErrorAsync(v3, RpcAcceptStat.ProgMismatch, 2, 2);
        var v2 = await server.ReadCallAsync();
        Assert.Equal((2u, PortmapProtocol.PortmapProcedure.GetPort), (v2.Version, v2.Procedure));
        Assert.Equal(new PortmapMapping(RpcPrograms.Mount, 3, PortmapProtocol.IpProtocolTcp, 0), ReadMappingArguments(v2));
        await server.ReplyAsync(v2, w => w.WriteUInt32(0));

        var e = await Assert.ThrowsAsync<RpcProgramNotRegisteredException>(() => lookup.Within());
        Assert.Equal($"MOUNT v3 over TCP is not registered on 127.0.0.1 in namespace {TestSockets.ProcessNamespaceName} " +
                     "(rpcbind answered port 0); give the port explicitly, e.g. mountport=", e.Message);
        Assert.Equal((RpcPrograms.Mount, 3u), (e.Program, e.Version));
        Assert.Equal([WellKnownRpcbind], sockets.Connects);
        Assert.True(await server.WaitForCloseAsync(), "the rpcbind connection should be closed after the lookup");
        Assert.Equal(1, peer.AcceptedCount);
    }

    [Fact]
    public async Task Rpcbind_v4_getaddr_answer_gives_the_port()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, RpcPrograms.Nfs, 3, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var call = await server.ReadCallAsync();
        Assert.Equal(4u, call.Version);
        await server.ReplyAsync(call, w => w.WriteString("127.0.0.1.8.1"));
        Assert.Equal(2049, await lookup.Within());
    }

    [Fact]
    public async Task Rpcbind_v3_is_tried_when_v4_is_unavailable()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, RpcPrograms.Mount, 3, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyErrorAsync(await server.ReadCallAsync(), RpcAcceptStat.ProgUnavail);
        var v3 = await server.ReadCallAsync();
        Assert.Equal(3u, v3.Version);
        await server.ReplyAsync(v3, w => w.WriteString("127.0.0.1.78.80"));
        Assert.Equal(20048, await lookup.Within());
    }

    [Theory]
    [InlineData("", "(rpcbind answered with an empty address)")]
    [InlineData("127.0.0.1.0.0", "(rpcbind answered port 0)")]
    public async Task Rpcbind_empty_address_or_port_0_is_not_registered(string answer, string detail)
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, RpcPrograms.Nfs, 4, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyAsync(await server.ReadCallAsync(), w => w.WriteString(answer));
        var e = await Assert.ThrowsAsync<RpcProgramNotRegisteredException>(() => lookup.Within());
        Assert.Contains($"NFS v4 over TCP is not registered on 127.0.0.1 in namespace {TestSockets.ProcessNamespaceName} {detail}", e.Message);
        Assert.EndsWith("e.g. nfsport=", e.Message);
        // Nothing else was asked: the connection closes with no further call on it.
        Assert.True(await server.WaitForCloseAsync());
        await Assert.ThrowsAsync<EndOfStreamException>(() => server.ReadCallAsync());
    }

    [Theory]
    [InlineData("not an address")]
    [InlineData("127.0.0.1.8")]
    public async Task Rpcbind_garbage_address_is_a_protocol_error(string answer)
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, 100099, 1, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyAsync(await server.ReadCallAsync(), w => w.WriteString(answer));
        var e = await Assert.ThrowsAsync<RpcProtocolException>(() => lookup.Within());
        Assert.Contains($"'{answer}', which is not a universal address", e.Message);
        Assert.Contains("program 100099 v1", e.Message);
    }

    [Fact]
    public async Task Portmap_port_out_of_range_is_a_protocol_error()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, RpcPrograms.Mount, 3, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyErrorAsync(await server.ReadCallAsync(), RpcAcceptStat.ProgUnavail);
        await server.ReplyErrorAsync(await server.ReadCallAsync(), RpcAcceptStat.ProgUnavail);
        await server.ReplyAsync(await server.ReadCallAsync(), w => w.WriteUInt32(70000));
        var e = await Assert.ThrowsAsync<RpcProtocolException>(() => lookup.Within());
        Assert.Contains("70000, which is not a TCP port", e.Message);
    }

    [Fact]
    public async Task Other_rpc_errors_are_not_a_reason_to_fall_back()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        var lookup = RpcBinder.GetPortAsync(RedirectedTo(peer), IPAddress.Loopback, RpcPrograms.Mount, 3, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyDeniedAsync(await server.ReadCallAsync(), RpcRejectStat.AuthError, RpcAuthStat.TooWeak);
        var e = await Assert.ThrowsAsync<RpcDeniedException>(() => lookup.Within());
        Assert.Contains("PORTMAP v4 procedure 3", e.Message);
    }

    [Fact]
    public async Task Rpcbind_refusing_connections_fails_clearly()
    {
        var sockets = new RecordingSocketFactory(TestSockets.ProcessNamespace);
        var closed = new IPEndPoint(IPAddress.Loopback, TestSockets.UnusedLoopbackPort());
        var options = RpcBinder.DefaultOptions with { ReconnectDelay = TimeSpan.FromMilliseconds(10) };
        var e = await Assert.ThrowsAsync<RpcConnectionException>(() =>
            RpcBinder.GetPortAsync(sockets, closed, RpcPrograms.Mount, 3, options, CancellationToken.None).Within());
        Assert.StartsWith($"connection refused by {closed} in namespace {TestSockets.ProcessNamespaceName}", e.Message);
        Assert.All(sockets.Connects, endPoint => Assert.Equal(closed, endPoint));
    }

    [Fact]
    public async Task Portmap_client_dump_null_and_getport()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var portmap = new PortmapClient(new RpcProgramClient(connection, PortmapProtocol.Program, PortmapProtocol.PortmapVersion, RpcCredentials.None));
        Assert.Equal($"PORTMAP v2 at {peer.EndPoint} in namespace {TestSockets.ProcessNamespaceName}", portmap.Describe());
        var mappings = new[]
        {
            new PortmapMapping(PortmapProtocol.Program, 2, PortmapProtocol.IpProtocolTcp, 111),
            new PortmapMapping(RpcPrograms.Nfs, 3, PortmapProtocol.IpProtocolTcp, 2049),
        };

        var nullCall = portmap.NullAsync(CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var received = await server.ReadCallAsync();
        Assert.Equal(0, received.Body.Length);
        await server.ReplyAsync(received);
        await nullCall.WaitAsync(TimeSpan.FromSeconds(10));

        var dump = portmap.DumpAsync(CancellationToken.None);
        received = await server.ReadCallAsync();
        Assert.Equal(PortmapProtocol.PortmapProcedure.Dump, received.Procedure);
        await server.ReplyAsync(received, w =>
        {
            foreach (var mapping in mappings)
            {
                w.WriteBool(true);
                mapping.Write(w);
            }
            w.WriteBool(false);
        });
        Assert.Equal(mappings, await dump.Within());

        var getport = portmap.GetPortAsync(RpcPrograms.Nfs, 3, PortmapProtocol.IpProtocolTcp, CancellationToken.None);
        await server.ReplyAsync(await server.ReadCallAsync(), w => w.WriteUInt32(2049));
        Assert.Equal(2049u, await getport.Within());
    }

    [Fact]
    public async Task Portmap_dump_longer_than_the_limit_is_refused()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var portmap = new PortmapClient(new RpcProgramClient(connection, PortmapProtocol.Program, PortmapProtocol.PortmapVersion, RpcCredentials.None));
        var dump = portmap.DumpAsync(CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        await server.ReplyAsync(await server.ReadCallAsync(), w =>
        {
            for (int i = 0; i <= PortmapProtocol.MaxDumpEntries; i++)
            {
                w.WriteBool(true);
                new PortmapMapping(1, 1, 6, 1).Write(w);
            }
            w.WriteBool(false);
        });
        var e = await Assert.ThrowsAsync<RpcProtocolException>(() => dump.Within());
        Assert.Contains($"more than {PortmapProtocol.MaxDumpEntries} mappings", e.Message);
    }

    [Fact]
    public async Task Rpcbind_client_getaddr_sends_the_rpcb_structure()
    {
        await using var peer = ScriptedRpcPeer.Listen();
        await using var connection = Connect(peer);
        var rpcbind = new RpcbindClient(new RpcProgramClient(connection, PortmapProtocol.Program, PortmapProtocol.RpcbindVersion4, RpcCredentials.None));
        var query = new RpcbindEntry(RpcPrograms.Nfs, 3, "tcp6", "::1.0.111", "owner");
        var answer = rpcbind.GetAddrAsync(query, CancellationToken.None);
        await using var server = await peer.AcceptAsync();
        var call = await server.ReadCallAsync();
        Assert.Equal(ScriptedRpcPeer.Encode(query.Write), call.Body.ToArray());
        await server.ReplyAsync(call, w => w.WriteString("::1.8.1"));
        Assert.Equal("::1.8.1", await answer.Within());
    }
}
