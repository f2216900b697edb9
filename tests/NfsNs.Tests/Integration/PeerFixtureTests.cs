using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Tests.Support;
using Xunit.Abstractions;

namespace NfsNs.Tests.Integration;

/// <summary>The real-peer infrastructure itself: ganesha per namespace at one address, cleanup, restart, tshark.</summary>
[Collection(GaneshaPairCollection.Name)]
[Trait("Category", "Integration")]
public sealed class PeerFixtureTests(GaneshaPairFixture pair, ITestOutputHelper output)
{
    private const int Timeout = 120_000;
    private static readonly IPEndPoint NfsEndPoint = new(IPAddress.Loopback, GaneshaServer.Port);

    private GaneshaSide[] Sides => [pair.A, pair.B];

    [Fact(Timeout = Timeout)]
    public async Task Each_namespace_serves_its_own_content_at_the_same_address()
    {
        Assert.NotEqual(pair.A.HelloText, pair.B.HelloText);
        foreach (var side in Sides)
        {
            var cat = (await Libnfs.CatAsync(side.Namespace, Libnfs.Url(GaneshaPairFixture.HelloFile))).EnsureSuccess();
            Assert.Equal(side.HelloText, cat.Stdout);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Ganesha_listens_on_2049_inside_its_namespace_and_not_in_the_initial_one()
    {
        using var initial = NetworkNamespace.Current();
        foreach (var side in Sides)
        {
            using var named = NetworkNamespace.Open(side.Namespace.Path);
            using var ganeshas = NetworkNamespace.OpenPid(side.Server.GaneshaPid);
            Assert.Equal(named.Id, ganeshas.Id);
            Assert.NotEqual(initial.Id, ganeshas.Id);

            var inside = (await side.Namespace.RunAsync("ss", "-H", "-t", "-l", "-n", "-p", $"sport = :{GaneshaServer.Port}")).EnsureSuccess();
            Assert.Contains($"pid={side.Server.GaneshaPid},", inside.Stdout);
        }
        // Another project's own server may legitimately listen on the initial namespace's 2049; no ganesha may.
        var outside = (await ProcessRunner.RunAsync("ss", ["-H", "-t", "-l", "-n", "-p", $"sport = :{GaneshaServer.Port}"],
            ProcessRunner.DefaultTimeout)).EnsureSuccess();
        Assert.DoesNotContain("ganesha", outside.Stdout);
    }

    [Fact(Timeout = Timeout)]
    public async Task Tshark_around_nfs_ls_sees_rpc_and_nothing_malformed()
    {
        // Under heavy load (the whole suite on 2 cores) a capture has, rarely, come back without the last TCP stream
        // (NFS on 2049) although the marker arrived and nothing was counted dropped. The capture is the instrument
        // here, not the thing tested: one more try on that symptom only, with the first attempt's packets logged.
        for (int attempt = 1; ; attempt++)
        {
            var (summary, rpc) = await CaptureNfsLsAsync();
            Assert.True(summary.IsWellFormed, "malformed packets:\n" + string.Join('\n', summary.MalformedPackets));
            Assert.Equal(0, summary.Dropped);
            Assert.True(summary.RpcCalls > 0, $"no RPC calls in {summary}");
            Assert.Equal(summary.RpcCalls, summary.RpcReplies);
            Assert.Contains(rpc, packet => packet.Program == "100005");
            // nfs-ls: portmap GETPORT, MOUNT MNT, then NFSv3 READDIRPLUS (RFC 1813 procedure 17).
            bool sawReadDirPlus = rpc.Any(packet => packet.Program == "100003" && packet.NfsProcedure.Split(',').Contains("17"));
            if (sawReadDirPlus) return;
            foreach (var packet in rpc) output.WriteLine($"attempt {attempt}: {packet}");
            Assert.True(attempt < 2, "no NFSv3 READDIRPLUS in two captures of nfs-ls (see the output for the packets seen)");
        }
    }

    private async Task<(CaptureSummary Summary, IReadOnlyList<RpcPacket> Rpc)> CaptureNfsLsAsync()
    {
        var side = pair.A;
        await using var capture = await TsharkCapture.StartAsync(side.Namespace,
            $"port {GaneshaServer.Port} or port {GaneshaServer.RpcbindPort} or port {GaneshaServer.MountPort}",
            rpcPorts: [GaneshaServer.MountPort]);
        var ls = (await Libnfs.LsAsync(side.Namespace, Libnfs.Url())).EnsureSuccess();
        Assert.Contains(GaneshaPairFixture.HelloFile, ls.Stdout);
        var summary = await capture.StopAsync();
        return (summary, await capture.ListRpcAsync());
    }

    [Fact(Timeout = Timeout)]
    public async Task Disposing_the_pair_removes_namespaces_state_and_processes()
    {
        var fixture = new GaneshaPairFixture();
        string[] paths, stateDirectories;
        int[] pids;
        try
        {
            await fixture.InitializeAsync();
            var sides = new[] { fixture.A, fixture.B };
            paths = sides.Select(side => side.Namespace.Path).ToArray();
            stateDirectories = sides.Select(side => side.Namespace.StateDirectory).ToArray();
            pids = sides.SelectMany(side => side.Server.Pids).ToArray();
            Assert.Equal(4, pids.Length); // rpcbind and ganesha on each side
            Assert.All(pids, pid => Assert.True(ProcFs.IsAlive(pid)));
            Assert.All(paths, path => Assert.True(File.Exists(path)));
        }
        finally
        {
            await fixture.DisposeAsync();
        }
        Assert.All(pids, pid => Assert.False(ProcFs.IsAlive(pid), $"PID {pid} still runs"));
        Assert.All(paths, path => Assert.False(File.Exists(path), $"{path} still exists"));
        Assert.All(stateDirectories, directory => Assert.False(Directory.Exists(directory), $"{directory} still exists"));
    }

    [Fact(Timeout = Timeout)]
    public async Task Killed_connections_reset_the_client_and_a_restarted_server_serves_again()
    {
        var side = await GaneshaPairFixture.StartSideAsync("R");
        try
        {
            using var netns = NetworkNamespace.Open(side.Namespace.Path);
            using var socket = await new NamespaceSocketFactory(netns).ConnectTcpAsync(NfsEndPoint, CancellationToken.None);
            Assert.Equal(1, await side.Server.KillConnectionsAsync());
            var reset = await Record.ExceptionAsync(async () =>
                Assert.Equal(0, await socket.ReceiveAsync(new byte[1]).WaitAsync(TimeSpan.FromSeconds(10))));
            Assert.True(reset is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, $"unexpected: {reset}");

            int before = side.Server.GaneshaPid;
            await side.Server.RestartAsync();
            Assert.NotEqual(before, side.Server.GaneshaPid);
            Assert.False(ProcFs.IsAlive(before));
            var cat = (await Libnfs.CatAsync(side.Namespace, Libnfs.Url(GaneshaPairFixture.HelloFile))).EnsureSuccess();
            Assert.Equal(side.HelloText, cat.Stdout);
        }
        finally
        {
            await GaneshaPairFixture.StopSideAsync(side);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task With_nlm_statd_and_nlockmgr_register_and_all_three_daemons_stop()
    {
        var side = await GaneshaPairFixture.StartSideAsync("L", new GaneshaOptions { EnableNlm = true });
        int[] pids;
        try
        {
            Assert.NotNull(side.Server.StatdPid);
            pids = side.Server.Pids.ToArray();
            Assert.Equal(3, pids.Length);
            var rpcinfo = (await side.Namespace.RunAsync("rpcinfo", "-p", GaneshaServer.Address)).EnsureSuccess();
            output.WriteLine(rpcinfo.Stdout);
            Assert.Contains($"100021    4   tcp  {GaneshaServer.NlmPort}  nlockmgr", rpcinfo.Stdout);
            Assert.Contains($"100024    1   tcp  {GaneshaServer.StatdPort}  status", rpcinfo.Stdout);
        }
        finally
        {
            await GaneshaPairFixture.StopSideAsync(side);
        }
        Assert.All(pids, pid => Assert.False(ProcFs.IsAlive(pid), $"PID {pid} still runs"));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_start_that_fails_halfway_leaves_no_process_behind()
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-f");
        string export = Directory.CreateDirectory(Path.Combine(ns.StateDirectory, "export")).FullName;
        var failure = await Assert.ThrowsAsync<PeerException>(() =>
            GaneshaServer.StartAsync(ns, export, new GaneshaOptions { StartTimeout = TimeSpan.Zero }));
        output.WriteLine(failure.Message);
        Assert.Contains("was not ready", failure.Message);
        Assert.Empty(await ns.ProcessesInsideAsync());
        Assert.False(Directory.Exists(Path.Combine(ns.StateDirectory, "ganesha")));
    }

    [Fact(Timeout = Timeout)]
    public async Task Disposing_a_namespace_with_a_process_inside_deletes_it_and_names_the_process()
    {
        var ns = await TestNamespace.CreateAsync("nfsns-f");
        using var sleeper = System.Diagnostics.Process.Start("ip", ["netns", "exec", ns.Name, "sleep", "60"]);
        try
        {
            for (int i = 0; i < 100 && (await ns.ProcessesInsideAsync()).Count == 0; i++) await Task.Delay(20);
            var leak = await Assert.ThrowsAsync<PeerException>(async () => await ns.DisposeAsync());
            Assert.Contains($"{sleeper.Id} (sleep)", leak.Message);
            Assert.False(File.Exists(ns.Path));
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync();
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Bad_arguments_are_refused_before_anything_starts()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => TestNamespace.CreateAsync("Bad Prefix"));
        await using var ns = await TestNamespace.CreateAsync("nfsns-f");
        var missing = await Assert.ThrowsAsync<ArgumentException>(() =>
            GaneshaServer.StartAsync(ns, Path.Combine(ns.StateDirectory, "no-such-directory")));
        Assert.Contains("no-such-directory", missing.Message);
        Assert.Empty(await ns.ProcessesInsideAsync());
    }
}
