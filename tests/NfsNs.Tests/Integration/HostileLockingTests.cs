using System.Diagnostics;
using NfsNs.Client;
using NfsNs.Client.Locking;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The locking API and <c>nfsns lock</c> under hostile conditions, against the embedded server in a test namespace:
/// servers without a lock manager or with an unreachable one, cancellation at any moment, broken state directories
/// and odd command lines. Whatever happens, the user gets one clear error and the server is left holding no lock
/// for nobody.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HostileLockingTests
{
    private sealed record Run(int ExitCode, string Out, string Err);

    private static async Task<Run> CliAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await NfsNs.Cli.NfsNsCli.RunAsync(args, output, error);
        return new Run(exitCode, output.ToString(), error.ToString());
    }

    /// <summary><c>nfsns ARGS</c> as a child process with <c>NFSNS_STATE_DIR</c> set (it is process-wide).</summary>
    private static async Task<CommandResult> CliProcessAsync(string stateDirectory, params string[] args) =>
        await ProcessRunner.RunAsync("env",
            [$"NFSNS_STATE_DIR={stateDirectory}", "dotnet", Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll"), .. args],
            TimeSpan.FromSeconds(60));

    private static string OneLine(string text) => Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public async Task A_server_without_locking_fails_fast_naming_the_server_and_the_namespace()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-nolock", o => o with { EnableLocking = false });
        var warnings = new List<string>();
        await using var mount = await NfsMount.MountAsync(NfsUrl.Parse(host.Url()), o => o with { Warn = w => { lock (warnings) warnings.Add(w); } });
        await using var file = await mount.OpenWriteAsync("f");

        var started = Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<NfsLockException>(() => file.LockAsync());
        Assert.Contains("no lock manager", refused.Message);
        Assert.Contains("127.0.0.1", refused.Message);
        Assert.Contains(host.Namespace.Name, refused.Message);
        Assert.Contains("no lock manager", (await Assert.ThrowsAsync<NfsLockException>(() => file.TestLockAsync())).Message);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        lock (warnings) Assert.DoesNotContain(warnings, w => w.Contains("could not release"));

        var cli = await CliAsync("lock", host.Url("/export/f"), "--", "true");
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("no lock manager", OneLine(cli.Err));
    }

    [Fact]
    public async Task An_unreachable_lock_manager_fails_within_the_mount_timeout_saying_why()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-nlmport");
        await using var mount = await NfsMount.MountAsync(NfsUrl.Parse(host.Url()),
            o => o with { NlmPort = 9, MountTimeout = TimeSpan.FromSeconds(2), Warn = _ => { } });
        await using var file = await mount.OpenWriteAsync("f");
        var started = Stopwatch.StartNew();
        var failed = await Assert.ThrowsAsync<NfsLockException>(() => file.LockAsync());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"took {started.Elapsed}");
        Assert.Contains("did not answer within 2 s", failed.Message);
        Assert.Contains("connection refused", failed.Message);
        Assert.Contains(":9", failed.Message);
    }

    [Fact]
    public async Task Waits_cancelled_at_any_moment_leave_nothing_held_or_queued_at_the_server()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-cancelrace");
        await using var mount = await host.MountAsync();
        await using var holder = await mount.OpenWriteAsync("race");
        await using var waiter = await mount.OpenWriteAsync("race", FileMode.Open);
        var random = new Random(1234);
        for (int round = 0; round < 40; round++)
        {
            var held = await holder.LockAsync(0, 10, wait: false);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 400)));
            var waiting = waiter.LockAsync(0, 10, cancellationToken: cancel.Token);
            await Task.Delay(random.Next(0, 400));
            await held.UnlockAsync();
            try
            {
                await (await waiting.WaitAsync(TimeSpan.FromSeconds(20))).UnlockAsync();
            }
            catch (OperationCanceledException)
            {
            }
            for (int i = 0; i < 100 && (host.Server.Locks.Count > 0 || host.Server.WaitingLocks.Count > 0); i++) await Task.Delay(50);
            Assert.True(host.Server.Locks.Count == 0 && host.Server.WaitingLocks.Count == 0,
                $"round {round}: held {string.Join(", ", host.Server.Locks)}; waiting {string.Join(", ", host.Server.WaitingLocks)}");
        }
    }

    [Fact]
    public async Task Bad_arguments_to_the_locking_API_are_refused_before_anything_is_sent()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-lockapi");
        await using var mount = await host.MountAsync();
        var file = await mount.OpenWriteAsync("f");
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => file.LockAsync(offset: -1));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => file.TryLockAsync(0, length: -5));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => file.TestLockAsync(long.MinValue));
        // Past the largest offset a file has: the server's NLM4_FBIG, as a lock exception naming the file.
        var tooFar = await Assert.ThrowsAsync<NfsLockException>(() => file.LockAsync(long.MaxValue, 2));
        Assert.Equal(NfsNs.Protocols.Nlm4.Nlm4Status.FileTooBig, tooFar.Status);
        Assert.Contains("/f", tooFar.Message);
        await file.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => file.LockAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => file.TestLockAsync());
        Assert.Empty(host.Server.Locks);
    }

    [Fact]
    public async Task A_port_111_that_accepts_and_never_answers_leaves_the_agent_polling_not_failing()
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-mute111");
        using var handle = NfsNs.Namespaces.NetworkNamespace.Open(ns.Name);
        var sockets = new NfsNs.Namespaces.NamespaceSocketFactory(handle);
        // Something that is not a portmapper holds TCP and UDP 111: it takes connections and datagrams, and says nothing.
        using var mute = sockets.ListenTcp(new System.Net.IPEndPoint(System.Net.IPAddress.Any, 111), 16);
        using var muteUdp = sockets.BindUdp(new System.Net.IPEndPoint(System.Net.IPAddress.Any, 111));
        var accepted = new List<System.Net.Sockets.Socket>();
        var accepting = Task.Run(async () =>
        {
            try { while (true) accepted.Add(await mute.AcceptAsync()); }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException) { }
        });
        var warnings = new List<string>();
        var started = Stopwatch.StartNew();
        await using (var agent = await NlmClientAgent.StartAsync(handle, Path.Combine(ns.StateDirectory, "client"), w => { lock (warnings) warnings.Add(w); }))
        {
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"took {started.Elapsed}");
            Assert.False(agent.CallbacksRegistered);
            Assert.NotNull(agent.CallbackProblem);
        }
        mute.Dispose();
        await accepting;
        foreach (var socket in accepted) socket.Dispose();
    }

    [Fact]
    public async Task A_lock_that_could_not_be_released_keeps_its_server_monitored_for_the_next_start_to_tell()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-unreleased");
        string state = Path.Combine(host.Namespace.StateDirectory, "client-state");
        var registry = new NfsClientRegistry();
        using var ns = NfsNs.Namespaces.NetworkNamespace.Open(host.Namespace.Name);
        var options = NfsMountOptions.FromUrl(NfsUrl.Parse(host.Url(extra: "&soft&timeo=5&retrans=0")), ns) with
        {
            LockStateDirectory = state, Warn = _ => { },
        };
        var mount = await NfsMount.MountAsync(options, registry);
        var file = await mount.OpenWriteAsync("f");
        var released = await file.LockAsync(0, 10);
        await released.UnlockAsync();
        await file.LockAsync(20, 10);
        string record = Path.Combine(state, "sm", "127.0.0.1");
        Assert.True(File.Exists(record));

        // The server goes away before the client closes: the UNLOCK fails, and the server (once back) still has the
        // lock. Only the record lets the next start tell it that we restarted, so it drops the lock.
        await host.Server.DisposeAsync();
        await file.DisposeAsync();
        await mount.DisposeAsync();
        Assert.True(File.Exists(record), "the server that still holds our lock was forgotten");
    }

    [Fact]
    public async Task Nfsns_lock_timeout_0_tries_once_like_flock_w_0()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-w0");
        Assert.Equal(0, (await CliAsync("lock", "--timeout", "0", host.Url("/export/f"), "--", "true")).ExitCode);

        await using var mount = await host.MountAsync();
        await using var file = await mount.OpenWriteAsync("f", FileMode.Open);
        await using var held = await file.LockAsync();
        var started = Stopwatch.StartNew();
        var refused = await CliAsync("lock", "-w", "0", host.Url("/export/f"), "--", "true");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("conflicts with the exclusive lock", OneLine(refused.Err));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task Nfsns_lock_of_a_directory_or_with_a_bad_command_says_so_in_one_line()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-lockargs");
        var directory = await CliAsync("lock", host.Url("/export/"), "--", "true");
        Assert.Equal(2, directory.ExitCode);
        Assert.StartsWith("nfsns: /export is a directory: NLM locks byte ranges of files", OneLine(directory.Err).Trim());

        var notExecutable = await CliAsync("lock", host.Url("/export/f"), "--", "/etc/passwd");
        Assert.Equal(126, notExecutable.ExitCode);
        Assert.Equal("nfsns: /etc/passwd: permission denied", OneLine(notExecutable.Err).Trim());
        var aDirectory = await CliAsync("lock", host.Url("/export/f"), "--", "/etc");
        Assert.Equal(126, aDirectory.ExitCode);
        Assert.Equal("nfsns: /etc: is a directory", OneLine(aDirectory.Err).Trim());
        var empty = await CliAsync("lock", host.Url("/export/f"), "--", "");
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("command", OneLine(empty.Err));
        Assert.Empty(host.Server.Locks);
    }

    [Fact]
    public async Task Nfsns_lock_test_of_a_missing_file_creates_nothing()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-locktest");
        var test = await CliAsync("lock", "--test", host.Url("/export/nothing-here"));
        Assert.Equal(0, test.ExitCode);
        Assert.Contains("not locked", test.Out);
        await using var mount = await host.MountAsync();
        var lookup = await Assert.ThrowsAsync<NfsNs.Protocols.Nfs3.Nfs3Exception>(() => mount.LookupAsync("nothing-here"));
        Assert.Equal(NfsNs.Protocols.Nfs3.Nfs3Status.NoEnt, lookup.Status);
    }

    [Fact]
    public async Task A_broken_state_directory_is_one_clear_line_naming_it()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-statedir");
        string aFile = Path.Combine(host.Namespace.StateDirectory, "not-a-directory");
        File.WriteAllText(aFile, "x");
        var run = await CliProcessAsync(aFile, "lock", host.Url("/export/f"), "--", "true");
        Assert.Equal(1, run.ExitCode);
        string line = OneLine(run.Stderr);
        Assert.Contains("lock state directory", line);
        Assert.Contains(aFile, line);
        Assert.Contains("NFSNS_STATE_DIR", line);

        string good = Path.Combine(host.Namespace.StateDirectory, "state");
        Assert.Equal(0, (await CliProcessAsync(good, "lock", host.Url("/export/f"), "--", "true")).ExitCode);
        string stateFile = Directory.GetFiles(good, "state", SearchOption.AllDirectories).Single();
        File.WriteAllText(stateFile, "garbage\n");
        run = await CliProcessAsync(good, "lock", host.Url("/export/f"), "--", "true");
        Assert.Equal(1, run.ExitCode);
        line = OneLine(run.Stderr);
        Assert.Contains(stateFile, line);
        Assert.Contains("remove it", line);
        Assert.Empty(host.Server.Locks);
    }

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    public async Task A_signal_while_nfsns_lock_waits_withdraws_the_request_and_no_lock_goes_to_the_dead_process(string signal, int exitCode)
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-locksig");
        await using var mount = await host.MountAsync();
        await using var file = await mount.OpenWriteAsync("f");
        var held = await file.LockAsync();

        await using var waiter = await ServeProcess.StartAsync(["lock", "-v", host.Url("/export/f"), "--", "true"], "locking");
        for (int i = 0; i < 200 && host.Server.WaitingLocks.Count == 0; i++) await Task.Delay(50);
        Assert.Single(host.Server.WaitingLocks);
        await waiter.SignalAsync(signal);
        for (int i = 0; i < 200 && !waiter.HasExited; i++) await Task.Delay(50);
        Assert.True(waiter.HasExited, $"nfsns lock did not end after SIG{signal}: {waiter.Log}");
        Assert.Equal(exitCode, waiter.ExitCode);
        Assert.Empty(host.Server.WaitingLocks);

        await held.UnlockAsync();
        await Task.Delay(500);
        Assert.Empty(host.Server.Locks);
        Assert.DoesNotContain("holding", waiter.Log);
    }

    [Fact]
    public async Task Closing_the_mount_releases_locks_of_streams_left_open()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-umount");
        await using var other = await host.MountAsync(); // shares the server connection, and its lock client
        await using var stays = await other.OpenWriteAsync("g");
        await using var kept = await stays.LockAsync();
        var mount = await host.MountAsync();
        var file = await mount.OpenWriteAsync("f");
        var held = await file.LockAsync(0, 10);
        await file.LockAsync(20, 10, exclusive: false);
        Assert.Same(mount.Server, other.Server);
        Assert.Equal(3, host.Server.Locks.Count);
        await mount.DisposeAsync();
        Assert.Equal(kept.Owner.Svid, Assert.Single(host.Server.Locks).Owner.Svid);
        Assert.False(held.IsHeld);
        Assert.True(kept.IsHeld);
    }

    [Fact]
    public async Task A_server_of_a_previous_run_that_never_answers_does_not_delay_locking_elsewhere()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-gone");
        // A previous run crashed holding a lock at a server that is gone for good (no route to it from here).
        string state = Path.Combine(host.Namespace.StateDirectory, "client-state");
        Directory.CreateDirectory(Path.Combine(state, "sm"));
        File.WriteAllText(Path.Combine(state, "state"), "5\n");
        File.WriteAllText(Path.Combine(state, "sm", "10.99.0.1"), "0\n");

        var registry = new NfsClientRegistry();
        using var ns = NfsNs.Namespaces.NetworkNamespace.Open(host.Namespace.Name);
        var options = NfsMountOptions.FromUrl(NfsUrl.Parse(host.Url()), ns) with { LockStateDirectory = state, Warn = _ => { } };
        await using var mount = await NfsMount.MountAsync(options, registry);
        await using var file = await mount.OpenWriteAsync("f");
        var started = Stopwatch.StartNew();
        await using var held = await file.LockAsync();
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the first lock took {started.Elapsed}");
        Assert.Equal(7, mount.Server.LockClient!.Agent.State);
    }

    [Fact]
    public async Task A_holders_owner_handle_cannot_put_control_characters_on_the_users_terminal()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-oh");
        await using var mount = await host.MountAsync();
        await using (var created = await mount.OpenWriteAsync("f")) { }
        var fh = await mount.LookupAsync("f");
        // Another client's lock, its owner handle an escape sequence (red text, a bell, a title change).
        await using var connection = new NfsNs.Rpc.RpcConnection(new BoundSocketFactory(host.Handle, System.Net.IPAddress.Parse("127.0.0.2")),
            new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 2049), RpcTestHelpers.Fast);
        var nlm = new NfsNs.Protocols.Nlm4.Nlm4Client(new NfsNs.Rpc.RpcProgramClient(connection, NfsNs.Protocols.Nlm4.Nlm4.Program,
            NfsNs.Protocols.Nlm4.Nlm4.Version, NfsNs.Rpc.RpcCredentials.None));
        var owner = new NfsNs.Protocols.Nlm4.NetObj(System.Text.Encoding.Latin1.GetBytes("\u001b[31mevil\u0007\u001b]0;pwned\u0007\u00ff"));
        var alock = new NfsNs.Protocols.Nlm4.Nlm4Lock("evil", new NfsNs.Protocols.Nlm4.NetObj(fh.Bytes), owner, 666, 0, 0);
        Assert.Equal(NfsNs.Protocols.Nlm4.Nlm4Status.Granted,
            (await nlm.LockAsync(new NfsNs.Protocols.Nlm4.Nlm4LockArgs(new NfsNs.Protocols.Nlm4.NetObj([1]), false, true, alock, false, 3))).Status);

        var test = await CliAsync("lock", "--test", host.Url("/export/f"));
        var refused = await CliAsync("lock", "--nowait", host.Url("/export/f"), "--", "true");
        Assert.Equal((1, 1), (test.ExitCode, refused.ExitCode));
        foreach (string shown in new[] { test.Out, refused.Err })
        {
            Assert.DoesNotContain(shown.TrimEnd('\n'), c => char.IsControl(c));
            Assert.Contains("\\x1b[31mevil\\x07", shown);
        }
    }

    [Fact]
    public async Task Names_clients_send_cannot_put_control_characters_in_the_servers_log()
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-servelog");
        using var handle = NfsNs.Namespaces.NetworkNamespace.Open(ns.Name);
        await using var serve = await ServeProcess.StartAsync(
            ["serve", "--memory", "--netns", ns.Name, "--state-dir", Path.Combine(ns.StateDirectory, "nsm")], "serving /export");
        await using (var connection = new NfsNs.Rpc.RpcConnection(new BoundSocketFactory(handle, System.Net.IPAddress.Parse("127.0.0.2")),
            new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 2049), RpcTestHelpers.Fast))
        {
            var nsm = new NfsNs.Protocols.Nsm.NsmClient(new NfsNs.Rpc.RpcProgramClient(connection, NfsNs.Protocols.Nsm.Nsm.Program,
                NfsNs.Protocols.Nsm.Nsm.Version, NfsNs.Rpc.RpcCredentials.None));
            await nsm.NotifyAsync("\u001b]0;pwned\u0007\u001b[2J", 3);
        }
        for (int i = 0; i < 100 && !serve.Log.Contains("SM_NOTIFY for", StringComparison.Ordinal); i++) await Task.Delay(50);
        string log = serve.Log;
        Assert.Contains("SM_NOTIFY for \\x1b]0;pwned\\x07\\x1b[2J", log);
        Assert.DoesNotContain(log.Replace("\n", "", StringComparison.Ordinal), c => char.IsControl(c));
    }
}

/// <summary>Locking against ganesha without NLM (the shared pair): one clear error, at once.</summary>
[Collection(GaneshaPairCollection.Name)]
[Trait("Category", "Integration")]
public sealed class NoLockManagerGaneshaTests(GaneshaPairFixture fixture)
{
    [Fact]
    public async Task Locking_on_ganesha_without_NLM_fails_fast_naming_the_server_and_the_namespace()
    {
        await using var mount = await NfsMount.MountAsync(NfsUrl.Parse($"nfs://127.0.0.1/export?netns={fixture.A.Namespace.Name}"),
            o => o with { Warn = _ => { } });
        await using var file = await mount.OpenReadAsync(GaneshaPairFixture.HelloFile);
        var started = Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<NfsLockException>(() => file.LockAsync(exclusive: false));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        Assert.Contains("no lock manager", refused.Message);
        Assert.Contains(fixture.A.Namespace.Name, refused.Message);
        // Nothing of ours is left registered in the server's rpcbind once the failed lock client is gone.
        var rpcinfo = (await fixture.A.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.DoesNotContain("nlockmgr", rpcinfo.Stdout, StringComparison.Ordinal);
    }
}
