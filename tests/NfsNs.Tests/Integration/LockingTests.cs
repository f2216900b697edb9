using NfsNs.Client;
using NfsNs.Client.Locking;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>Two namespaces A and B, each with its own ganesha with NLM and rpc.statd at the same 127.0.0.1.</summary>
public sealed class GaneshaLockFixture : IAsyncLifetime
{
    public GaneshaSide A { get; private set; } = null!;
    public GaneshaSide B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        A = await GaneshaPairFixture.StartSideAsync("LA", new GaneshaOptions { EnableNlm = true });
        try
        {
            B = await GaneshaPairFixture.StartSideAsync("LB", new GaneshaOptions { EnableNlm = true });
        }
        catch
        {
            await GaneshaPairFixture.StopSideAsync(A);
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (B is not null) await GaneshaPairFixture.StopSideAsync(B);
        }
        finally
        {
            if (A is not null) await GaneshaPairFixture.StopSideAsync(A);
        }
    }
}

/// <summary>
/// Byte-range locks through NLM v4, client and server in one namespace at 127.0.0.1, against ganesha with NLM and
/// against the embedded server, each in namespaces A and B. The server's own lock manager holds the namespace's
/// rpcbind entry, so our GRANTED listener cannot be registered there and blocked locks are re-asked (the call-back
/// route is tested on the tenant network, where client and server are two hosts).
/// </summary>
public abstract class LoopbackLockingTests(IServerSide sideA, IServerSide sideB)
{
    public sealed class Ganesha(GaneshaLockFixture fixture) : LoopbackLockingTests(fixture.A, fixture.B), IClassFixture<GaneshaLockFixture>;

    [Collection(EmbeddedPairCollection.Name)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public sealed class Embedded(EmbeddedPairFixture fixture) : LoopbackLockingTests(fixture.A, fixture.B);

    private static string Url(IServerSide side, string file) => $"nfs://127.0.0.1/export/{file}?netns={side.Namespace.Name}";

    private static async Task<(NfsMount Mount, NfsFileStream First, NfsFileStream Second)> OpenTwiceAsync(IServerSide side, string file)
    {
        File.WriteAllText(Path.Combine(side.ExportDirectory, file), "lock me\n");
        var mount = await NfsMount.MountAsync(Url(side, ""));
        return (mount, await mount.OpenWriteAsync(file, FileMode.Open), await mount.OpenWriteAsync(file, FileMode.Open));
    }

    [Fact]
    public async Task Exclusive_lock_blocks_another_owner_until_released()
    {
        var (mount, first, second) = await OpenTwiceAsync(sideA, "excl.lock");
        await using var _ = mount;
        await using var __ = first;
        await using var ___ = second;

        var held = await first.LockAsync();
        Assert.Null(await second.TryLockAsync());
        var holder = await second.TestLockAsync();
        Assert.NotNull(holder);
        Assert.True(holder!.Exclusive);
        Assert.Equal(first.LockOwner.Svid, holder.Svid);
        var conflict = await Assert.ThrowsAsync<NfsLockConflictException>(() => second.LockAsync(wait: false));
        Assert.Contains($"svid {first.LockOwner.Svid}", conflict.Message);

        var waiting = second.LockAsync(wait: true);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        await held.UnlockAsync();
        var granted = await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(granted.IsHeld);
        Assert.Null(await first.TryLockAsync(0, 10));
    }

    [Fact]
    public async Task Shared_locks_coexist_and_exclude_writers()
    {
        var (mount, first, second) = await OpenTwiceAsync(sideA, "shared.lock");
        await using var _ = mount;
        await using var __ = first;
        await using var ___ = second;
        await using var third = await mount.OpenReadAsync("shared.lock");

        await using var a = await first.LockAsync(0, 100, exclusive: false);
        await using var b = await second.LockAsync(50, 100, exclusive: false);
        Assert.Null(await third.TryLockAsync(exclusive: true));
        Assert.Null(await third.TryLockAsync(120, 1, exclusive: true));
        // Ranges that do not overlap never conflict.
        await using var c = await third.LockAsync(offset: 1 << 20, length: 10, exclusive: true, wait: false);
    }

    [Fact]
    public async Task The_same_path_through_B_is_another_server_and_another_lock()
    {
        var (mountA, firstA, _) = await OpenTwiceAsync(sideA, "ns.lock");
        var (mountB, firstB, _) = await OpenTwiceAsync(sideB, "ns.lock");
        await using var _a = mountA;
        await using var _b = mountB;
        await using var heldA = await firstA.LockAsync(wait: false);
        await using var heldB = await firstB.LockAsync(wait: false);
        Assert.NotEqual(mountA.Server.LockClient!.Connection.Describe(), mountB.Server.LockClient!.Connection.Describe());
    }

    [Fact]
    public async Task Closing_a_stream_releases_its_locks_and_cancelling_a_wait_withdraws_it()
    {
        var (mount, first, second) = await OpenTwiceAsync(sideA, "close.lock");
        await using var _ = mount;
        await using var __ = second;
        await first.LockAsync();
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.LockAsync(wait: true, cancellationToken: cancel.Token));
        await first.DisposeAsync();
        await using var now = await second.LockAsync(wait: false);
        Assert.Equal(0, mount.Server.LockClient!.LostLocks);
    }
}

/// <summary><c>nfsns lock</c> as users run it: two processes, one file, against ganesha with NLM.</summary>
public sealed class LockCommandTests(GaneshaLockFixture fixture) : IClassFixture<GaneshaLockFixture>
{
    private sealed record Run(int ExitCode, string Out, string Err);

    private static async Task<Run> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await NfsNs.Cli.NfsNsCli.RunAsync(args, output, error);
        return new Run(exitCode, output.ToString(), error.ToString());
    }

    private string Url(string file) => $"nfs://127.0.0.1/export/{file}?netns={fixture.A.Namespace.Name}";

    [Fact]
    public async Task A_second_process_waits_for_the_first_and_gets_its_commands_exit_status()
    {
        string file = $"cli-{Guid.NewGuid():N}.lock";
        // Process 1 holds the lock for 3 s; "holding" on its stderr (-v) says it has it.
        await using var holder = await ServeProcess.StartAsync(["lock", "-v", Url(file), "--", "sleep", "3"], "holding");
        Assert.True(File.Exists(Path.Combine(fixture.A.ExportDirectory, file)), "the lock file is created as flock(1) does");

        var refused = await RunAsync("lock", "--nowait", Url(file), "--", "true");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("conflicts with the exclusive lock", refused.Err);

        var test = await RunAsync("lock", "--test", "--json", Url(file));
        Assert.Equal(1, test.ExitCode);
        var json = System.Text.Json.JsonDocument.Parse(test.Out).RootElement;
        Assert.True(json.GetProperty("locked").GetBoolean());
        Assert.Contains($"nfsns:{holder.Pid}:", json.GetProperty("holder").GetProperty("owner").GetString());

        var timedOut = await RunAsync("lock", "--timeout", "0.5", Url(file), "--", "true");
        Assert.Equal(1, timedOut.ExitCode);
        Assert.Contains("not obtained within 0.5 s", timedOut.Err);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var waited = await RunAsync("lock", Url(file), "--", "sh", "-c", "exit 7");
        Assert.Equal(7, waited.ExitCode);
        Assert.True(holder.HasExited, $"the second lock was granted while the first process still ran ({started.Elapsed})");
        Assert.Equal(0, holder.ExitCode);

        Assert.Equal(0, (await RunAsync("lock", "--test", Url(file))).ExitCode);
    }

    [Fact]
    public async Task SIGTERM_reaches_the_command_and_the_lock_is_released()
    {
        string file = $"cli-{Guid.NewGuid():N}.lock";
        await using var holder = await ServeProcess.StartAsync(["lock", "-v", Url(file), "--", "sleep", "60"], "holding");
        await holder.SignalAsync("TERM");
        for (int i = 0; i < 200 && !holder.HasExited; i++) await Task.Delay(50);
        Assert.True(holder.HasExited, "nfsns lock did not end after SIGTERM");
        Assert.Equal(128 + 15, holder.ExitCode); // sleep's status: killed by SIGTERM
        Assert.Equal(0, (await RunAsync("lock", "--nowait", Url(file), "--", "true")).ExitCode);
    }

    [Fact]
    public async Task Stats_show_the_lock_side_of_the_mount_with_NLM_counters()
    {
        string file = $"cli-{Guid.NewGuid():N}.lock";
        var run = await RunAsync("--stats", "json", "lock", Url(file), "--", "true");
        Assert.Equal(0, run.ExitCode);
        var mount = System.Text.Json.JsonDocument.Parse(run.Err).RootElement[0];
        var locking = mount.GetProperty("locking");
        Assert.Equal("127.0.0.1", locking.GetProperty("callerName").GetString());
        string nlmServer = locking.GetProperty("nlmServer").GetString()!;
        Assert.Contains($"127.0.0.1:{GaneshaServer.NlmPort}", nlmServer);
        Assert.Contains(fixture.A.Namespace.Name, nlmServer);
        // The server's own nlockmgr holds the namespace's rpcbind entry: our call-backs cannot be registered there.
        Assert.False(locking.GetProperty("callbacksRegistered").GetBoolean());
        Assert.Contains("already registered", locking.GetProperty("callbackProblem").GetString());
        var procedures = mount.GetProperty("procedures").EnumerateArray().Select(p => (p.GetProperty("program").GetUInt32(), p.GetProperty("procedure").GetString(), p.GetProperty("calls").GetInt64())).ToList();
        Assert.Contains(procedures, p => p.Item1 == 100021 && p.Item2 == "NLM LOCK" && p.Item3 >= 1);
        Assert.Contains(procedures, p => p.Item1 == 100021 && p.Item2 == "NLM UNLOCK" && p.Item3 == 1);
    }

    [Fact]
    public async Task Shared_locks_from_two_processes_coexist_and_bad_usage_is_exit_2()
    {
        string file = $"cli-{Guid.NewGuid():N}.lock";
        await using var reader = await ServeProcess.StartAsync(["lock", "-v", "--shared", Url(file), "--", "sleep", "2"], "holding");
        var second = await RunAsync("lock", "--shared", "--nowait", Url(file), "--", "sh", "-c", "echo inside");
        Assert.Equal(0, second.ExitCode);
        var writer = await RunAsync("lock", "--nowait", "--range", "0:10", Url(file), "--", "true");
        Assert.Equal(1, writer.ExitCode);

        Assert.Equal(2, (await RunAsync("lock", Url(file))).ExitCode);
        Assert.Equal(2, (await RunAsync("lock", "--range", "x:1", Url(file), "--", "true")).ExitCode);
        Assert.Equal(2, (await RunAsync("lock", "--nowait", "--wait", Url(file), "--", "true")).ExitCode);
        var notThere = await RunAsync("lock", "--test", Url(file + ".absent"));
        Assert.Equal((0, true), (notThere.ExitCode, notThere.Out.Contains("not locked")));
        Assert.False(File.Exists(Path.Combine(fixture.A.ExportDirectory, file + ".absent")), "--test created the file");
        var directory = await RunAsync("lock", Url(""), "--", "true");
        Assert.Equal(2, directory.ExitCode);
        Assert.Contains("is a directory: NLM locks byte ranges of files", directory.Err);
        var missing = await RunAsync("lock", Url(file + ".2"), "--", "/nonexistent/command");
        Assert.Equal(127, missing.ExitCode);
        Assert.Contains("command not found", missing.Err);
    }
}
