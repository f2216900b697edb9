using System.Net;
using NfsNs.Peers;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Tests.Support;
using static NfsNs.Tests.Support.RpcTestHelpers;

namespace NfsNs.Tests.Scripted;

/// <summary>The embedded portmap/rpcbind, asked by our own clients and by rpcinfo inside a test namespace.</summary>
public class PortmapServerTests
{
    private static readonly IPEndPoint Rpcbind = new(IPAddress.Loopback, PortmapProtocol.Port);

    private static PortmapServer NewPortmap(IPEndPoint portmapperAt)
    {
        var portmap = new PortmapServer();
        portmap.Registry.RegisterPortmapper(portmapperAt);
        portmap.Registry.Register(RpcPrograms.Mount, 3, new IPEndPoint(IPAddress.Any, 20048));
        portmap.Registry.Register(RpcPrograms.Nfs, 3, new IPEndPoint(IPAddress.Any, 2049));
        return portmap;
    }

    [Fact]
    public async Task Our_clients_find_registrations_and_loopback_callers_can_set_and_unset()
    {
        var portmap = new PortmapServer();
        await using var server = new RpcServer(TestSockets.ProcessNamespace);
        server.Register(portmap);
        var endPoint = server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        portmap.Registry.Register(RpcPrograms.Mount, 3, new IPEndPoint(IPAddress.Any, 20048));

        await using var connection = new RpcConnection(TestSockets.ProcessNamespace, endPoint, Fast);
        var v2 = new PortmapClient(new RpcProgramClient(connection, PortmapProtocol.Program, 2, RpcCredentials.None));
        await v2.NullAsync(CancellationToken.None);
        Assert.Equal(20048u, await v2.GetPortAsync(RpcPrograms.Mount, 3, PortmapProtocol.IpProtocolTcp, CancellationToken.None).Within());
        Assert.Equal(0u, await v2.GetPortAsync(RpcPrograms.Mount, 1, PortmapProtocol.IpProtocolTcp, CancellationToken.None).Within());

        var set = new PortmapMapping(RpcPrograms.NetworkLockManager, 4, PortmapProtocol.IpProtocolTcp, 32803);
        var caller = new RpcProgramClient(connection, PortmapProtocol.Program, 2, RpcCredentials.None);
        Assert.True(await caller.CallAsync(PortmapProtocol.PortmapProcedure.Set, set, (ref Xdr.XdrReader r) => r.ReadBool(), CancellationToken.None).Within());
        Assert.Contains(set, await v2.DumpAsync(CancellationToken.None).Within());

        var v4 = new RpcbindClient(new RpcProgramClient(connection, PortmapProtocol.Program, 4, RpcCredentials.None));
        // A wildcard registration is answered with the address the caller reached rpcbind on.
        Assert.Equal("127.0.0.1.128.35", await v4.GetAddrAsync(new RpcbindEntry(RpcPrograms.NetworkLockManager, 4, "tcp", "", ""), CancellationToken.None).Within());
        Assert.Equal("", await v4.GetAddrAsync(new RpcbindEntry(RpcPrograms.Nfs, 3, "tcp", "", ""), CancellationToken.None).Within());

        Assert.True(await caller.CallAsync(PortmapProtocol.PortmapProcedure.Unset, set, (ref Xdr.XdrReader r) => r.ReadBool(), CancellationToken.None).Within());
        Assert.DoesNotContain(set, await v2.DumpAsync(CancellationToken.None).Within());
    }

    [Fact]
    public async Task A_client_cannot_unset_the_servers_own_registrations()
    {
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var portmap = new PortmapServer(log: log.Enqueue);
        await using var server = new RpcServer(TestSockets.ProcessNamespace);
        server.Register(portmap);
        var endPoint = server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        portmap.Registry.Register(RpcPrograms.Nfs, 3, new IPEndPoint(IPAddress.Any, 2049));

        await using var connection = new RpcConnection(TestSockets.ProcessNamespace, endPoint, Fast);
        var v2 = new PortmapClient(new RpcProgramClient(connection, PortmapProtocol.Program, 2, RpcCredentials.None));
        var v4 = new RpcbindClient(new RpcProgramClient(connection, PortmapProtocol.Program, 4, RpcCredentials.None));
        // Both protocols' UNSET are refused for what the server registered itself, and say so in the log.
        Assert.False(await v2.UnsetAsync(RpcPrograms.Nfs, 3, CancellationToken.None).Within());
        Assert.False(await v4.UnsetAsync(new RpcbindEntry(RpcPrograms.Nfs, 3, "", "", ""), CancellationToken.None).Within());
        Assert.Equal(2049u, await v2.GetPortAsync(RpcPrograms.Nfs, 3, PortmapProtocol.IpProtocolTcp, CancellationToken.None).Within());
        Assert.Contains(log, line => line.Contains("refused UNSET of 100003 v3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rpcinfo_and_RpcBinder_find_the_registrations_inside_a_namespace()
    {
        using var ns = TestNetworkNamespace.Create();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = new RpcServer(ns.Sockets, new RpcServerOptions { Log = log.Enqueue });
        server.Register(NewPortmap(Rpcbind));
        server.Listen(Rpcbind);

        var list = await ProcessRunner.RunAsync("ip", ["netns", "exec", ns.Name, "rpcinfo", "-p", "127.0.0.1"], TimeSpan.FromSeconds(20));
        Assert.True(list.Succeeded, list.ToString());
        Assert.Matches(@"100000\s+2\s+tcp\s+111", list.Stdout);
        Assert.Matches(@"100005\s+3\s+tcp\s+20048", list.Stdout);
        Assert.Matches(@"100003\s+3\s+tcp\s+2049", list.Stdout);

        var ping = await ProcessRunner.RunAsync("ip", ["netns", "exec", ns.Name, "rpcinfo", "-T", "tcp", "127.0.0.1", "100000", "2"], TimeSpan.FromSeconds(20));
        Assert.True(ping.Succeeded, ping.ToString() + "\n" + string.Join('\n', log));
        Assert.Contains("program 100000 version 2 ready and waiting", ping.Stdout);

        Assert.Equal(20048, await RpcBinder.GetPortAsync(ns.Sockets, IPAddress.Loopback, RpcPrograms.Mount, 3, CancellationToken.None).Within());
        await Assert.ThrowsAsync<RpcProgramNotRegisteredException>(() =>
            RpcBinder.GetPortAsync(ns.Sockets, IPAddress.Loopback, RpcPrograms.Mount, 1, CancellationToken.None).Within());
    }
}
