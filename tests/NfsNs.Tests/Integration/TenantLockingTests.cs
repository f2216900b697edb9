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

    private static ulong NamespaceIdOf(TestNamespace ns)
    {
        using var handle = NetworkNamespace.Open(ns.Name);
        return handle.Id.Inode;
    }
}
