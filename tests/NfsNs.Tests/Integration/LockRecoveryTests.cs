using System.Diagnostics;
using NfsNs.Client;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// Server restart, as the issue states it: after the embedded server restarts, its status monitor tells the client
/// (SM_NOTIFY into the tenant's client namespace, through the agent's portmap there), the client reclaims its locks
/// within the grace period, and a competing new lock waits until the grace period ends.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LockRecoveryTests : IAsyncLifetime
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(4);
    private TenantServerHost _tenant = null!;

    public async Task InitializeAsync() =>
        _tenant = await TenantServerHost.StartAsync("r", TenantServerKind.Embedded,
            configureEmbedded: o => o with { GracePeriod = Grace });

    public async Task DisposeAsync() => await _tenant.DisposeAsync();

    [Fact]
    public async Task After_a_server_restart_locks_are_reclaimed_in_grace_and_new_locks_wait_for_its_end()
    {
        await using var mount = await _tenant.MountAsync();
        await using var holder = await mount.OpenWriteAsync("recovered.lock", FileMode.OpenOrCreate);
        await using var rival = await mount.OpenWriteAsync("recovered.lock", FileMode.Open);
        await using var newcomer = await mount.OpenWriteAsync("other.lock", FileMode.OpenOrCreate);
        var exclusive = await holder.LockAsync(0, 100);
        var shared = await holder.LockAsync(200, 0, exclusive: false);
        var lockClient = mount.Server.LockClient!;
        var agent = lockClient.Agent;
        var server = _tenant.Embedded!;
        Assert.Equal(2, server.Server.Locks.Count);
        Assert.Contains(_tenant.ClientAddress.ToString(), server.Server.MonitoredClients);

        await server.RestartAsync();
        var restarted = Stopwatch.StartNew();
        Assert.True(server.Server.InGracePeriod);
        Assert.Empty(server.Server.Locks);

        // SM_NOTIFY reaches the agent inside the tenant; the reclaims follow, within the grace period.
        for (int i = 0; i < 200 && lockClient.Reclaims < 2; i++) await Task.Delay(25);
        Assert.Equal(1, agent.Notifications);
        Assert.Equal(2, lockClient.Reclaims);
        Assert.True(restarted.Elapsed < Grace, $"reclaimed only after {restarted.Elapsed}");
        Assert.Equal(0, lockClient.LostLocks);
        Assert.True(exclusive.IsHeld && shared.IsHeld);
        Assert.Equal(2, server.Server.Locks.Count);

        // A new lock on a free file is refused at once without waiting, saying why ...
        var refused = await Assert.ThrowsAsync<NfsNs.Client.Locking.NfsLockException>(() => newcomer.LockAsync(wait: false));
        Assert.Equal(NfsNs.Protocols.Nlm4.Nlm4Status.DeniedGracePeriod, refused.Status);
        Assert.Contains("grace period", refused.Message);
        Assert.True(restarted.Elapsed < Grace);
        // ... and waits when asked to: the grace period admits only reclaims.
        await using var late = await newcomer.LockAsync(wait: true).WaitAsync(Grace * 3);
        Assert.True(restarted.Elapsed >= Grace - TimeSpan.FromMilliseconds(200), $"a new lock was granted {restarted.Elapsed} after the restart, inside the {Grace} grace period");
        Assert.True(lockClient.GraceWaits >= 1);

        // The reclaimed lock still excludes others, as before the restart.
        Assert.Null(await rival.TryLockAsync(0, 10));
        await exclusive.UnlockAsync();
        await using var now = await rival.LockAsync(0, 10, wait: false);
    }

    [Fact]
    public async Task A_client_that_died_holding_a_lock_is_announced_by_the_next_start_and_the_server_frees_it()
    {
        // Process 1 takes the lock and is killed (no UNLOCK, no clean-up): the server keeps the lock for it.
        var url = _tenant.Url("orphan.lock");
        string pidFile = Path.Combine(_tenant.ClientNamespace.StateDirectory, "command.pid");
        await using (var crashed = await ServeProcess.StartAsync(["lock", "-v", url, "--", "sh", "-c", $"echo $$ > {pidFile}; exec sleep 600"], "holding"))
        {
            // Once the command runs, kill nfsns; the command outlives it (our grandchild), so end it too.
            for (int i = 0; i < 400 && !(File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n')); i++) await Task.Delay(25);
            await ProcessKill(crashed.Pid);
            for (int i = 0; i < 400 && !crashed.HasExited; i++) await Task.Delay(25);
            await ProcessKill(int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Single(_tenant.Embedded!.Server.Locks);

        // The next NfsNs start in that namespace is the first since all others ended: the namespace's client
        // "rebooted". Its new NSM state goes to the server recorded by the dead process, which drops the orphan lock.
        var warnings = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var mount = await NfsMount.MountAsync(NfsUrl.Parse(_tenant.Url()), o => o with { Warn = warnings.Enqueue });
        await using var file = await mount.OpenWriteAsync("orphan.lock", FileMode.Open);
        NfsNs.Client.Locking.NfsFileLock mine;
        try
        {
            mine = await file.LockAsync(wait: true).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            var agent = mount.Server.LockClient!.Agent;
            string dir = NfsNs.Protocols.Nsm.NsmStateStore.DefaultDirectory("client", _tenant.ClientNamespace.Name, 0);
            Assert.Fail($"the orphan lock was not freed; agent state {agent.State}, dir {dir}: {string.Join(",", Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories))}; client: {string.Join(" | ", warnings)}; server: {string.Join(" | ", _tenant.Embedded.Server.Locks)} log: {string.Join(" | ", _tenant.Embedded.Log.TakeLast(15))}");
            throw;
        }
        await using var _ = mine;
        Assert.True(mine.IsHeld);
        var only = Assert.Single(_tenant.Embedded.Server.Locks);
        Assert.StartsWith($"nfsns:{Environment.ProcessId}:", System.Text.Encoding.ASCII.GetString(only.Owner.Handle.Bytes));
    }

    [Fact]
    public async Task A_client_whose_namespace_the_server_shares_notices_the_restart_by_the_servers_state_and_reclaims()
    {
        // Client and server in one namespace: the server's own lock manager and status monitor hold the namespace's
        // rpcbind entries, so its SM_NOTIFY after a restart cannot reach us. SM_STAT polling notices the new state.
        var saved = NfsNs.Client.Locking.NfsLockClient.StateWatchWithoutNotices;
        NfsNs.Client.Locking.NfsLockClient.StateWatchWithoutNotices = TimeSpan.FromMilliseconds(300);
        try
        {
            await using var host = await EmbeddedServerHost.StartAsync("nfsns-lockstat", ns => { Directory.CreateDirectory(EmbeddedSide.ExportDirectoryOf(ns)); return [EmbeddedSide.LocalExport(ns)]; },
                o => o with { GracePeriod = Grace });
            await using var mount = await host.MountAsync();
            await using var holder = await mount.OpenWriteAsync("watched.lock", FileMode.OpenOrCreate);
            await using var rival = await mount.OpenWriteAsync("watched.lock", FileMode.Open);
            var held = await holder.LockAsync();
            var client = mount.Server.LockClient!;
            Assert.False(client.Agent.CallbacksRegistered);
            for (int i = 0; i < 100 && client.ServerState is null; i++) await Task.Delay(20);
            int before = client.ServerState ?? throw new Xunit.Sdk.XunitException("the server's NSM state was never read");

            await host.RestartAsync();
            var restarted = Stopwatch.StartNew();
            for (int i = 0; i < 200 && client.Reclaims == 0; i++) await Task.Delay(20);
            Assert.Equal(1, client.Reclaims);
            Assert.True(restarted.Elapsed < Grace, $"reclaimed {restarted.Elapsed} after the restart, outside the grace period");
            Assert.True(client.ServerState > before);
            await Task.Delay(Grace - restarted.Elapsed + TimeSpan.FromMilliseconds(300));
            Assert.False(host.Server.InGracePeriod);
            Assert.True(held.IsHeld);
            Assert.Null(await rival.TryLockAsync());
        }
        finally
        {
            NfsNs.Client.Locking.NfsLockClient.StateWatchWithoutNotices = saved;
        }
    }

    private static Task ProcessKill(int pid) =>
        NfsNs.Peers.ProcessRunner.RunAsync("kill", ["-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
}

/// <summary>Locking with a server that runs no portmapper: nlmport= is how a client finds its lock manager.</summary>
public sealed class LockWithoutPortmapperTests
{
    [Fact]
    public async Task Without_a_portmapper_nlmport_finds_the_lock_manager_and_without_it_the_error_says_so()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-nopm", o => o with { Rpcbind = NfsNs.Server.RpcbindMode.None });
        await using (var mount = await NfsMount.MountAsync(host.Url(extra: "&nfsport=2049&mountport=20048")))
        {
            await using var file = await mount.OpenWriteAsync("f.lock");
            var e = await Assert.ThrowsAsync<NfsNs.Client.Locking.NfsLockException>(() => file.LockAsync());
            Assert.Contains("nlmport=", e.Message);
            Assert.Contains(host.Namespace.Name, e.Message);
        }
        await using (var mount = await NfsMount.MountAsync(host.Url(extra: "&nfsport=2049&mountport=20048&nlmport=2049")))
        {
            await using var file = await mount.OpenWriteAsync("f.lock");
            await using var held = await file.LockAsync(wait: false);
            Assert.Single(host.Server.Locks);
        }
    }
}
