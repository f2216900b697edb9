using System.Globalization;
using NfsNs.Peers;
using NfsNs.Tests.Support;
using Xunit.Abstractions;

namespace NfsNs.Tests.Integration;

/// <summary>
/// A real server host's reboot notice reaches the client inside its tenant namespace. On a Linux server (ganesha here)
/// the notice comes from sm-notify, which speaks UDP only: it asks the portmapper at the monitored client's address
/// for NSM over UDP (portmap v2 GETPORT, IPPROTO_UDP, sent over UDP to port 111) and then sends SM_NOTIFY over UDP
/// to that port. The tenant's client namespace has no rpcbind, so the lock agent's own portmapper must answer on UDP
/// 111 and the agent must take SM_NOTIFY over UDP; then the lock client reclaims its locks.
/// </summary>
/// <remarks>
/// <para>
/// A tenant of its own (not the shared pair), because its server "reboots": ganesha is restarted with a grace period
/// (the fixture's Graceless = true replaced), then sm-notify — what a boot runs — is run in the server namespace,
/// beside ganesha's rpcbind and rpc.statd (their private /run), on a copy of statd's directory taken before the
/// restart (ganesha's start sends SM_UNMON_ALL, which empties statd's own records); <c>-n</c> leaves the state number.
/// </para>
/// <para>
/// Found on the way: ganesha 4.3 with Graceless = true answers a reclaim (LOCK with reclaim set) NLM4_DENIED_GRACE_PERIOD,
/// even while it still holds that very lock — it takes reclaims only in a grace period. A notice without a restart
/// therefore costs the client its lock (NfsLockClient marks it lost).
/// </para>
/// </remarks>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TenantRebootNoticeTests(ITestOutputHelper output)
{
    private const uint NsmProgram = 100024, SmNotify = 6, PmapGetPort = 3;

    [Fact(Timeout = 240_000)]
    public async Task Sm_notify_from_the_server_namespace_reaches_the_agent_over_UDP_and_the_lock_is_reclaimed()
    {
        await using var tenant = await TenantServerHost.StartAsync("N", TenantServerKind.Ganesha, new GaneshaOptions { EnableNlm = true });
        await using var bystander = await TenantNetwork.CreateAsync("nfsns-tz"); // same addresses, another tenant: must see nothing
        var ganesha = tenant.Ganesha!;
        string file = $"notice-{Guid.NewGuid():N}.lock";

        var warnings = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var mount = await Client.NfsMount.MountAsync(Client.NfsUrl.Parse(tenant.Url()), options => options with { Warn = warnings.Enqueue });
        await using var stream = await mount.OpenWriteAsync(file, FileMode.OpenOrCreate);
        await using var held = await stream.LockAsync(0, 100);
        var client = mount.Server.LockClient!;
        var agent = client.Agent;
        Assert.NotNull(agent.OwnUdpPortmapper); // the client namespace has no rpcbind: the agent serves portmap, on UDP too

        // ganesha had its rpc.statd monitor us (SM_MON, mon_name = our address): the record sm-notify will read.
        string statd = Path.Combine(ganesha.StateDirectory, "statd");
        string monitored = Path.Combine(statd, "sm");
        await WaitForAsync(() => Directory.Exists(monitored) && Directory.GetFiles(monitored).Length > 0, TimeSpan.FromSeconds(15), "statd's record of the client");
        foreach (string record in Directory.GetFiles(monitored)) output.WriteLine($"{Path.GetFileName(record)}: {File.ReadAllText(record).Trim()}");
        Assert.Contains(Directory.GetFiles(monitored), record => File.ReadAllText(record).Contains(tenant.ClientAddress.ToString(), StringComparison.Ordinal));
        string copy = Path.Combine(ganesha.StateDirectory, $"statd-copy-{Guid.NewGuid():N}");
        (await ProcessRunner.RunAsync("cp", ["-a", statd, copy], ProcessRunner.DefaultTimeout)).EnsureSuccess(); // -a keeps owner statd, whom sm-notify becomes

        // The server host "reboots": ganesha restarts — now with a grace period, in which it accepts reclaims — and
        // loses every lock.
        string config = File.ReadAllText(ganesha.ConfigPath);
        File.WriteAllText(ganesha.ConfigPath, config.Replace("Graceless = true;", "Graceless = false; Grace_Period = 40; Lease_Lifetime = 20;", StringComparison.Ordinal));
        await ganesha.RestartAsync();

        var captures = new List<TsharkCapture>();
        foreach (var ns in new[] { tenant.ClientNamespace, bystander.Client })
            captures.Add(await TsharkCapture.StartAsync(ns, "udp", interfaceName: "any"));
        long notificationsBefore = agent.Notifications;
        try
        {
            // No -v: given an address (-v 10.0.0.3), sm-notify 2.6.2 exits at once, "my_name '10.0.0.3' is unusable:
            // Temporary failure in name resolution" — it wants a name for it, and the namespace has no DNS. Without -v,
            // mon_name is this machine's host name and the source address the server namespace's own, 10.0.0.3.
            var notify = await ProcessRunner.RunAsync("nsenter",
                ["--target", ganesha.RpcbindPid.ToString(CultureInfo.InvariantCulture), "--mount", "--net",
                 "sm-notify", "-f", "-d", "-n", "-m", "1", "-P", copy],
                TimeSpan.FromSeconds(60));
            output.WriteLine(notify.ToString());
            notify.EnsureSuccess();

            await WaitForAsync(() => agent.Notifications > notificationsBefore, TimeSpan.FromSeconds(10), "SM_NOTIFY at the agent");
            try
            {
                await WaitForAsync(() => client.Reclaims >= 1, TimeSpan.FromSeconds(20), "the reclaim");
            }
            finally
            {
                foreach (string warning in warnings) output.WriteLine($"warning: {warning}");
                output.WriteLine($"reclaims {client.Reclaims}, lost {client.LostLocks}");
                output.WriteLine(ProcFs.Tail(ganesha.LogPath));
            }
            Assert.Equal(0, client.LostLocks);
            Assert.True(held.IsHeld);
        }
        finally
        {
            foreach (var capture in captures) Assert.True((await capture.StopAsync()).IsWellFormed, capture.ToString());
        }

        // The wire, inside the tenant's client namespace: sm-notify's GETPORT for NSM over UDP to our port 111, answered
        // with the agent's UDP port, then SM_NOTIFY over UDP from the server address, naming the server host; the agent
        // matched it to the lock client by that source address. Nothing in the bystander, which has the same addresses.
        string[] lookup = ["ip.src", "ip.dst", "udp.dstport", "portmap.prog", "portmap.proto"];
        var lookups = await TsharkCapture.ReadFieldsAsync(captures[0].FilePath, $"portmap.procedure_v2 == {PmapGetPort} && rpc.msgtyp == 0 && udp", lookup);
        foreach (string line in lookups) output.WriteLine($"GETPORT {line}");
        Assert.Contains(lookups.Select(l => l.Split('\t')), f =>
            (f[0], f[1], f[2], f[3], f[4]) == (tenant.ServerAddress.ToString(), tenant.ClientAddress.ToString(), "111", $"{NsmProgram}", "17"));
        string[] notice = ["ip.src", "ip.dst", "udp.dstport", "stat.mon_id.name", "stat.state"];
        var notices = await TsharkCapture.ReadFieldsAsync(captures[0].FilePath, $"stat.procedure_v1 == {SmNotify} && rpc.msgtyp == 0 && udp", notice);
        foreach (string line in notices) output.WriteLine($"SM_NOTIFY {line}");
        var sent = Assert.Single(notices).Split('\t');
        Assert.Equal((tenant.ServerAddress.ToString(), tenant.ClientAddress.ToString(), $"{agent.CallbackUdpEndPoint.Port}", Environment.MachineName),
            (sent[0], sent[1], sent[2], sent[3]));
        Assert.Single(await TsharkCapture.ReadFieldsAsync(captures[0].FilePath, $"stat.procedure_v1 == {SmNotify} && rpc.msgtyp == 1 && udp", ["frame.number"]));
        Assert.Empty(await TsharkCapture.ListRpcAsync(captures[1].FilePath));
        await Task.WhenAll(captures.Select(c => c.DisposeAsync().AsTask()));
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"{what} did not happen within {limit.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }
}
