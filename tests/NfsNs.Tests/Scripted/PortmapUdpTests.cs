using System.Buffers.Binary;
using System.Net;
using NfsNs.Client.Locking;
using NfsNs.Peers;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;

namespace NfsNs.Tests.Scripted;

/// <summary>
/// The portmappers we serve answer over UDP and list UDP services, as a status monitor needs: sm-notify asks
/// GETPORT(100024, 1, IPPROTO_UDP) over UDP at port 111 and then sends SM_NOTIFY over UDP. Checked with the real
/// rpcinfo inside the namespace and with datagrams made by hand.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PortmapUdpTests
{
    private static readonly IPEndPoint Portmapper = new(IPAddress.Loopback, PortmapProtocol.Port);

    private static byte[] GetPort(uint xid, uint program, uint version, uint protocol) =>
        RawRpcClient.CallBody(xid, PortmapProtocol.Program, PortmapProtocol.PortmapVersion, PortmapProtocol.PortmapProcedure.GetPort,
            w => new PortmapMapping(program, version, protocol, 0).Write(w));

    private static uint UInt32Result(byte[] reply)
    {
        var decoded = DecodedReply.Parse(reply);
        Assert.Equal(RpcAcceptStat.Success, decoded.AcceptStat);
        return BinaryPrimitives.ReadUInt32BigEndian(decoded.Results);
    }

    [Fact]
    public async Task The_embedded_servers_portmap_answers_rpcinfo_over_UDP_and_lists_itself_for_udp()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-pmudp");
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, PortmapProtocol.Port), Assert.Single(host.Server.Rpc.UdpEndPoints));

        var ping = await host.Namespace.RunAsync("rpcinfo", "-u", "127.0.0.1", "100000", "2");
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("program 100000 version 2 ready and waiting", ping.Stdout);
        var ping4 = await host.Namespace.RunAsync("rpcinfo", "-T", "udp", "127.0.0.1", "100000", "4");
        Assert.True(ping4.Succeeded, ping4.ToString());

        var list = await host.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1");
        Assert.True(list.Succeeded, list.ToString());
        Assert.Matches(@"100000\s+2\s+udp\s+111", list.Stdout);
        Assert.Matches(@"100000\s+2\s+tcp\s+111", list.Stdout);
        Assert.DoesNotMatch(@"10000[35]\s+3\s+udp", list.Stdout); // NFS and MOUNT are served over TCP only

        // GETPORT over UDP, as sm-notify asks it; NFS has no UDP port.
        using var handle = Namespaces.NetworkNamespace.Open(host.Namespace.Name);
        using var peer = new UdpRpcPeer(new Namespaces.NamespaceSocketFactory(handle));
        Assert.Equal(111u, UInt32Result(await peer.CallAsync(GetPort(1, PortmapProtocol.Program, 2, PortmapProtocol.IpProtocolUdp), Portmapper)));
        Assert.Equal(0u, UInt32Result(await peer.CallAsync(GetPort(2, RpcPrograms.Nfs, 3, PortmapProtocol.IpProtocolUdp), Portmapper)));
        Assert.Equal(2049u, UInt32Result(await peer.CallAsync(GetPort(3, RpcPrograms.Nfs, 3, PortmapProtocol.IpProtocolTcp), Portmapper)));

        // rpcbind v4 GETADDR with an empty netid answers for the transport the question came on.
        var getAddr = RawRpcClient.CallBody(4, PortmapProtocol.Program, PortmapProtocol.RpcbindVersion4, PortmapProtocol.RpcbindProcedure.GetAddr,
            w => new RpcbindEntry(PortmapProtocol.Program, 2, "", "", "").Write(w));
        var reader = new XdrReader(DecodedReply.Parse(await peer.CallAsync(getAddr, Portmapper)).Results);
        Assert.Equal("127.0.0.1.0.111", reader.ReadString(64, "address"));
    }

    [Fact]
    public async Task The_lock_agents_own_portmapper_answers_over_UDP_and_an_SM_NOTIFY_by_UDP_reaches_the_agent()
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-agentudp");
        using var handle = Namespaces.NetworkNamespace.Open(ns.Name);
        string state = Path.Combine(TestStateDirectory.Path, $"agent-udp-{Guid.NewGuid():N}");
        await using var agent = await NlmClientAgent.StartAsync(handle, state);
        Assert.True(agent.CallbacksRegistered, agent.CallbackProblem);
        Assert.Equal(PortmapProtocol.Port, agent.OwnPortmapper?.Port);
        Assert.Equal(PortmapProtocol.Port, agent.OwnUdpPortmapper?.Port);
        Assert.Equal(agent.CallbackEndPoint.Port, agent.CallbackUdpEndPoint.Port); // free for UDP too in a fresh namespace

        var list = await ns.RunAsync("rpcinfo", "-p", "127.0.0.1");
        Assert.True(list.Succeeded, list.ToString());
        int udpPort = agent.CallbackUdpEndPoint.Port;
        Assert.Matches($@"100021\s+4\s+udp\s+{udpPort}", list.Stdout);
        Assert.Matches($@"100024\s+1\s+udp\s+{udpPort}", list.Stdout);
        Assert.Matches($@"100024\s+1\s+tcp\s+{agent.CallbackEndPoint.Port}", list.Stdout);
        Assert.Matches(@"100000\s+2\s+udp\s+111", list.Stdout);
        var ping = await ns.RunAsync("rpcinfo", "-u", "127.0.0.1", "100024", "1");
        Assert.True(ping.Succeeded, ping.ToString());
        Assert.Contains("program 100024 version 1 ready and waiting", ping.Stdout);

        // What sm-notify does: GETPORT for NSM over UDP at 111, then SM_NOTIFY there, both over UDP.
        using var peer = new UdpRpcPeer(new Namespaces.NamespaceSocketFactory(handle));
        uint port = UInt32Result(await peer.CallAsync(GetPort(1, Nsm.Program, Nsm.Version, PortmapProtocol.IpProtocolUdp), Portmapper));
        Assert.Equal((uint)udpPort, port);
        var notify = RawRpcClient.CallBody(2, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify, w => new StatChange("127.0.0.1", 3).Write(w));
        Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await peer.CallAsync(notify, new IPEndPoint(IPAddress.Loopback, (int)port))).AcceptStat);
        Assert.Equal(1, agent.Notifications);
        var nlmNull = RawRpcClient.CallBody(3, Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Null);
        Assert.Equal(RpcAcceptStat.Success, DecodedReply.Parse(await peer.CallAsync(nlmNull, new IPEndPoint(IPAddress.Loopback, (int)port))).AcceptStat);
    }

    [Fact]
    public async Task Udp_services_are_registered_with_a_real_rpcbind_next_to_their_tcp_entries_and_removed_again()
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-rpcbudp");
        await using var rpcbind = await RpcbindDaemon.StartAsync(ns);
        using var handle = Namespaces.NetworkNamespace.Open(ns.Name);
        var sockets = new Namespaces.NamespaceSocketFactory(handle);
        const uint Program = 0x2000_0123;
        var registration = await RpcbindRegistration.RegisterAsync(sockets, Portmapper,
            [new RpcService(Program, 1, new IPEndPoint(IPAddress.Any, 4001)), new RpcService(Program, 1, new IPEndPoint(IPAddress.Any, 4002), RpcTransport.Udp)]);
        Assert.Equal("rpcbind v4", registration.Protocol);
        string listed = await rpcbind.ListAsync();
        Assert.Matches($@"{Program}\s+1\s+tcp\s+4001", listed);
        Assert.Matches($@"{Program}\s+1\s+udp\s+4002", listed);

        // rpcbind's portmap v2 answers GETPORT for IPPROTO_UDP from the "udp" entry, over UDP.
        using var peer = new UdpRpcPeer(sockets);
        Assert.Equal(4002u, UInt32Result(await peer.CallAsync(GetPort(1, Program, 1, PortmapProtocol.IpProtocolUdp), Portmapper)));

        await registration.DisposeAsync();
        Assert.DoesNotContain($"{Program}", await rpcbind.ListAsync(), StringComparison.Ordinal);
    }
}
