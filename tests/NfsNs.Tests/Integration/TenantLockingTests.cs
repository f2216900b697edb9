using System.Net;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// Locking where client and server are two hosts, as in the mission: tenant A's client namespace reaches its server at
/// 10.0.0.3 over a veth, tenant B's reaches another server at the same address. The server calls the client back
/// (NLM GRANTED) at the client's address 10.0.0.2 through rpcbind there, so the client's lock agent must listen —
/// and, the namespace having no rpcbind, serve the portmapper — inside the tenant's client namespace.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public abstract class TenantLockingTests(TenantPairFixture pair)
{
    [Collection(GaneshaTenantPairCollection.Name)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public sealed class Ganesha(GaneshaTenantPairFixture fixture) : TenantLockingTests(fixture);

    [Collection(EmbeddedTenantPairCollection.Name)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public sealed class Embedded(EmbeddedTenantPairFixture fixture) : TenantLockingTests(fixture);

    private static async Task<(NfsMount Mount, NfsFileStream First, NfsFileStream Second)> OpenTwiceAsync(TenantServerHost tenant, string file)
    {
        var mount = await tenant.MountAsync();
        var first = await mount.OpenWriteAsync(file, FileMode.OpenOrCreate);
        return (mount, first, await mount.OpenWriteAsync(file, FileMode.Open));
    }

    [Fact]
    public async Task A_blocked_lock_is_granted_by_the_servers_call_back_into_the_tenant_namespace()
    {
        string file = $"tenant-{Guid.NewGuid():N}.lock";
        var (mount, first, second) = await OpenTwiceAsync(pair.A, file);
        await using var _m = mount;
        await using var _f = first;
        await using var _s = second;

        var held = await first.LockAsync();
        var client = mount.Server.LockClient!;
        var agent = client.Agent;
        Assert.Equal(pair.A.ClientAddress.ToString(), client.CallerName);
        Assert.True(agent.CallbacksRegistered, agent.CallbackProblem);
        Assert.NotNull(agent.OwnPortmapper); // the tenant's client namespace has no rpcbind of its own

        var waiting = second.LockAsync();
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);
        long callbacksBefore = agent.GrantedCallbacks;
        await held.UnlockAsync();
        await using var granted = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        // The server reached us: its GRANTED (ganesha: GRANTED_MSG) arrived at the agent in the tenant namespace.
        for (int i = 0; i < 100 && agent.GrantedCallbacks == callbacksBefore; i++) await Task.Delay(50);
        Assert.True(agent.GrantedCallbacks > callbacksBefore, "no GRANTED call-back arrived");
        Assert.Equal(0, agent.RefusedGrants);

        // Every socket of this lock's machinery is in tenant A's client namespace: the NLM connection, the call-back
        // listener and the portmapper; none of them in the initial namespace or in B's.
        ulong tenantA = NamespaceIdOf(pair.A.ClientNamespace);
        var mine = SocketCensus.OfProcess(Environment.ProcessId);
        var nlmLocal = (IPEndPoint)client.Connection.LocalEndPoint!;
        Assert.Equal(tenantA, Assert.Single(mine, s => s.IsTcp && s.Local.Equals(nlmLocal)).NamespaceInode);
        var listeners = mine.Where(s => s.IsTcp && s.Listening && (s.Local.Port == agent.CallbackEndPoint.Port || s.Local.Port == 111)).ToList();
        Assert.Contains(listeners, s => s.Local.Port == agent.CallbackEndPoint.Port);
        Assert.Contains(listeners, s => s.Local.Port == 111 && s.NamespaceInode == tenantA);
        Assert.All(listeners.Where(s => s.Local.Port == agent.CallbackEndPoint.Port), s => Assert.Equal(tenantA, s.NamespaceInode));
        // The call-back connection the server opened to us, seen from our side, is in A too.
        Assert.All(mine.Where(s => s.IsTcp && !s.Listening && s.Local.Port == agent.CallbackEndPoint.Port), s => Assert.Equal(tenantA, s.NamespaceInode));
    }

    [Fact]
    public async Task Tenant_B_locks_the_same_path_at_the_same_address_independently()
    {
        string file = $"tenant-{Guid.NewGuid():N}.lock";
        var (mountA, firstA, _) = await OpenTwiceAsync(pair.A, file);
        var (mountB, firstB, secondB) = await OpenTwiceAsync(pair.B, file);
        await using var _a = mountA;
        await using var _b = mountB;
        await using var heldA = await firstA.LockAsync(wait: false);
        await using var heldB = await firstB.LockAsync(wait: false);
        Assert.Null(await secondB.TryLockAsync());
        var agentA = mountA.Server.LockClient!.Agent;
        var agentB = mountB.Server.LockClient!.Agent;
        Assert.NotSame(agentA, agentB);
        Assert.NotEqual(agentA.Namespace.Id, agentB.Namespace.Id);
        Assert.Equal(mountA.Server.LockClient.CallerName, mountB.Server.LockClient.CallerName); // both 10.0.0.2, each in its own world
    }

    [Fact]
    public async Task N5_rpcbind_MOUNT_NFS_NLM_and_the_call_back_of_a_mount_through_A_happen_only_in_A()
    {
        string file = $"tenant-{Guid.NewGuid():N}.lock";
        var captures = new List<TsharkCapture>();
        foreach (var ns in new[] { pair.A.ClientNamespace, pair.A.ServerNamespace, pair.B.ClientNamespace, pair.B.ServerNamespace })
            captures.Add(await TsharkCapture.StartAsync(ns, "tcp", interfaceName: "any"));
        int callbackPort;
        try
        {
            var (mount, first, second) = await OpenTwiceAsync(pair.A, file);
            await using (mount)
            await using (first)
            await using (second)
            {
                var held = await first.LockAsync();
                var waiting = second.LockAsync();
                await Task.Delay(300);
                await held.UnlockAsync();
                await (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).UnlockAsync();
                callbackPort = mount.Server.LockClient!.Agent.CallbackEndPoint.Port;
            }
        }
        finally
        {
            foreach (var capture in captures) Assert.True((await capture.StopAsync()).IsWellFormed, capture.ToString());
        }
        int[] rpcPorts = [20048, GaneshaServer.NlmPort, GaneshaServer.StatdPort, callbackPort];
        var lists = new List<IReadOnlyList<NfsNs.Peers.RpcPacket>>();
        foreach (var capture in captures) lists.Add(await TsharkCapture.ListRpcAsync(capture.FilePath, rpcPorts));
        await Task.WhenAll(captures.Select(c => c.DisposeAsync().AsTask()));
        var (clientA, serverA, clientB, serverB) = (lists[0], lists[1], lists[2], lists[3]);
        Assert.Contains(clientA, p => p.Program == "100000"); // rpcbind: ours asked, and ganesha asking ours
        Assert.Contains(clientA, p => p.Program == "100005"); // MOUNT
        Assert.Contains(clientA, p => p.Program == "100003"); // NFS
        Assert.Contains(clientA, p => p.Program == "100021" && p.Procedure == "2"); // NLM LOCK
        // The call-back into the tenant: ganesha sends GRANTED_MSG (10), the embedded server GRANTED (5).
        Assert.Contains(clientA, p => p.Program == "100021" && p.Procedure == (pair.Kind == TenantServerKind.Ganesha ? "10" : "5"));
        if (pair.Kind == TenantServerKind.Ganesha)
            Assert.Contains(serverA, p => p.Program == "100024"); // ganesha's SM_MON of us, to its statd (the embedded one is in-process)
        Assert.Empty(clientB);
        Assert.Empty(serverB);
    }

    private static ulong NamespaceIdOf(TestNamespace ns)
    {
        using var handle = NetworkNamespace.Open(ns.Name);
        return handle.Id.Inode;
    }
}
