using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Channels;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;
using Xunit.Abstractions;

namespace NfsNs.Tests.Integration;

/// <summary>
/// What nfs-ganesha 4.3's NLM v4 (XNFS / RFC 1813 appendix II: nlm4_lock with uint64 l_offset and l_len, fh the
/// NFSv3 handle) and the rpc.statd next to it do, found by speaking NLM by hand to a ganesha started with
/// <see cref="GaneshaOptions.EnableNlm"/> (Graceless = true, Enable_UDP = false, NSM_Use_Caller_Name left at its
/// default, false). The XDR here is deliberately local and minimal: these tests document the peer, they are not the
/// project's NLM codec. Each assertion is one observed fact; the summary, with the wire view (tshark), is:
/// <list type="bullet">
/// <item>LOCK answers GRANTED for a free range (also right after start: Graceless skips the grace period, no
/// DENIED_GRACE_PERIOD), GRANTED again for the same owner, DENIED for another owner without block, BLOCKED with
/// block. TEST answers DENIED with the holder (exclusive, svid, oh, offset, length).</item>
/// <item>Before answering the first LOCK of a client, ganesha asks rpcbind (portmap v2 GETPORT over TCP, from a
/// privileged port) for NSM and sends SM_MON to its rpc.statd with mon_name = the caller's source address
/// ("127.0.0.1"), not caller_name; my_id = (gethostname(), 100021, 4, 16). statd's sm/ file holds
/// "addr prog vers proc priv mon_name my_name" and is named after the reverse lookup of the address ("localhost").
/// When the client's last lock goes, ganesha sends SM_UNMON and the record disappears.</item>
/// <item>Any caller_name is accepted, even one that does not resolve.</item>
/// <item>When a blocked lock becomes free, ganesha grants it at once (a TEST already shows the new holder) and sends
/// NLM4_GRANTED_MSG (procedure 10, never GRANTED 5) with AUTH_NULL and a 24-byte cookie of its own (not the LOCK's)
/// to the caller's source address (not caller_name): it asks the portmapper there (portmap v2 GETPORT for 100021
/// v4 TCP, over TCP from a privileged port) and connects over TCP from an unprivileged port; it keeps that
/// connection for later callbacks. It expects no reply: our RPC reply is logged "clnt_req_process_reply ... lookup
/// failed" and ignored.</item>
/// <item>GRANTED_RES (15) with a status other than GRANTED makes ganesha release the lock ("Granted call failed due
/// to client error, releasing lock"). Without any GRANTED_RES the lock stays granted and GRANTED_MSG is not resent.</item>
/// <item>If nobody is registered for 100021 v4 at the caller, ganesha retries for about 10 s, then logs "Cannot create
/// NLM async tcp connection" and removes the blocked request: the waiter never gets the lock.</item>
/// <item>Stopping ganesha (SIGTERM) while it monitors a client takes about 10 s longer: it sends SM_UNMON for the
/// client at shutdown and that call times out ("nsm_unmonitor_noretry ... SM_UNMON failed: RPC: Timed out").</item>
/// <item>Restarting ganesha (not statd) loses every lock (Graceless: no reclaim window) and, at start, ganesha sends
/// SM_UNMON_ALL, which empties statd's sm/; nobody sends SM_NOTIFY to the clients. sm-notify (what a boot would run)
/// sends SM_NOTIFY over UDP (GETPORT 100024 UDP at the monitored address from a privileged port) with mon_name =
/// the server's host name. When statd receives an SM_NOTIFY for a monitored host it looks for NLM 100021 v4 over UDP
/// to call ganesha back (procedure 16) — which ganesha, with Enable_UDP = false, never registers: a client's reboot
/// notice would not reach ganesha through statd in this configuration.</item>
/// </list>
/// </summary>
[Trait("Category", "Probe")]
public sealed class GaneshaNlmProbeTests(ITestOutputHelper output)
{
    private const int Timeout = 180_000;
    private const uint NlmProgram = 100021, NlmVersion = 4, NsmProgram = 100024;
    private const uint ProcTest = 1, ProcLock = 2, ProcCancel = 3, ProcUnlock = 4, ProcGranted = 5, ProcGrantedMsg = 10, ProcGrantedRes = 15;
    /// <summary>SM_MON's callback procedure ganesha asks statd to call (its private NLM procedure for status changes).</summary>
    private const uint ProcSmNotifyCallback = 16;
    private const uint SmUnmonAll = 4, SmNotify = 6, PmapGetPort = 3;
    private const int MaxNetobj = 1024;
    private const string ClientAddress = "127.0.0.1";
    /// <summary>A caller_name other than the address the calls come from, to see which of the two ganesha uses.</summary>
    private const string CallerName = "127.0.0.2";
    private static readonly TimeSpan CallbackWait = TimeSpan.FromSeconds(10);
    private static readonly AuthSysCredentials Credentials = new(0, 0, machineName: "nlm-probe");

    private enum Nlm4Stat : uint
    {
        Granted = 0, Denied = 1, DeniedNoLocks = 2, Blocked = 3, DeniedGracePeriod = 4, Deadlock = 5, ReadOnlyFs = 6,
        StaleFh = 7, FileTooBig = 8, Failed = 9,
    }

    /// <summary>nlm4_lock: caller_name, fh (the NFSv3 handle), oh, svid, l_offset, l_len.</summary>
    private sealed record Nlm4Lock(string CallerName, byte[] FileHandle, string Owner, int Svid, ulong Offset, ulong Length)
    {
        public void Write(XdrWriter writer)
        {
            writer.WriteString(CallerName);
            writer.WriteOpaque(FileHandle);
            writer.WriteOpaque(Encoding.ASCII.GetBytes(Owner));
            writer.WriteInt32(Svid);
            writer.WriteUInt64(Offset);
            writer.WriteUInt64(Length);
        }
    }

    /// <summary>nlm4_holder as TEST's DENIED result carries it.</summary>
    private sealed record Holder(bool Exclusive, int Svid, string Owner, ulong Offset, ulong Length);

    private readonly struct Args(Action<XdrWriter> write) : IXdrWritable
    {
        public void Write(XdrWriter writer) => write(writer);
    }

    /// <summary>One call ganesha made to our NLM listener (GRANTED and GRANTED_MSG take nlm4_testargs).</summary>
    private sealed record Callback(uint Procedure, IPEndPoint From, IPEndPoint To, RpcAuthFlavor Flavor, byte[] Cookie,
        bool Exclusive, string CallerName, string Owner, int Svid, ulong Offset, ulong Length);

    private int _cookies;
    private readonly List<byte[]> _sentCookies = [];

    private byte[] NextCookie()
    {
        var cookie = Encoding.ASCII.GetBytes($"probe-{Interlocked.Increment(ref _cookies)}");
        lock (_sentCookies) _sentCookies.Add(cookie);
        return cookie;
    }

    private static Nlm4Stat ReadRes(ref XdrReader reader)
    {
        reader.ReadOpaque(MaxNetobj, "cookie");
        return (Nlm4Stat)reader.ReadUInt32();
    }

    private Task<Nlm4Stat> LockAsync(RpcConnection nlm, Nlm4Lock l, bool block)
    {
        var cookie = NextCookie();
        return CallAsync(nlm, ProcLock, $"LOCK {l.Owner} block={block}", w =>
        {
            w.WriteOpaque(cookie);
            w.WriteBool(block);
            w.WriteBool(true); // exclusive
            l.Write(w);
            w.WriteBool(false); // reclaim
            w.WriteInt32(1); // the caller's NSM state
        });
    }

    private Task<Nlm4Stat> UnlockAsync(RpcConnection nlm, Nlm4Lock l)
    {
        var cookie = NextCookie();
        return CallAsync(nlm, ProcUnlock, $"UNLOCK {l.Owner}", w =>
        {
            w.WriteOpaque(cookie);
            l.Write(w);
        });
    }

    private Task<Nlm4Stat> CancelAsync(RpcConnection nlm, Nlm4Lock l)
    {
        var cookie = NextCookie();
        return CallAsync(nlm, ProcCancel, $"CANCEL {l.Owner}", w =>
        {
            w.WriteOpaque(cookie);
            w.WriteBool(true); // block
            w.WriteBool(true); // exclusive
            l.Write(w);
        });
    }

    private async Task<Nlm4Stat> CallAsync(RpcConnection nlm, uint procedure, string what, Action<XdrWriter> write)
    {
        var stat = await nlm.CallAsync(NlmProgram, NlmVersion, procedure, Credentials, new Args(write), ReadRes, CancellationToken.None);
        output.WriteLine($"{what} -> {stat}");
        return stat;
    }

    /// <summary>TEST for an exclusive lock: null when it would be granted, else the holder.</summary>
    private async Task<Holder?> TestAsync(RpcConnection nlm, Nlm4Lock l)
    {
        var cookie = NextCookie();
        var holder = await nlm.CallAsync(NlmProgram, NlmVersion, ProcTest, Credentials, new Args(w =>
        {
            w.WriteOpaque(cookie);
            w.WriteBool(true);
            l.Write(w);
        }), (ref XdrReader r) =>
        {
            r.ReadOpaque(MaxNetobj, "cookie");
            var stat = (Nlm4Stat)r.ReadUInt32();
            if (stat == Nlm4Stat.Granted) return null;
            if (stat != Nlm4Stat.Denied) throw new InvalidOperationException($"TEST answered {stat}");
            return new Holder(r.ReadBool(), r.ReadInt32(), Encoding.ASCII.GetString(r.ReadOpaque(MaxNetobj, "oh")), r.ReadUInt64(), r.ReadUInt64());
        }, CancellationToken.None);
        output.WriteLine($"TEST {l.Owner} -> {(holder is null ? "GRANTED" : $"DENIED, held by {holder}")}");
        return holder;
    }

    /// <summary>GRANTED_RES (15): the client's answer to GRANTED_MSG, an nlm4_res; as a _RES message its reply is void.</summary>
    private async Task GrantedResAsync(RpcConnection nlm, Callback callback, Nlm4Stat stat)
    {
        await nlm.CallAsync(NlmProgram, NlmVersion, ProcGrantedRes, Credentials, new Args(w =>
        {
            w.WriteOpaque(callback.Cookie);
            w.WriteUInt32((uint)stat);
        }), (ref XdrReader _) => 0, CancellationToken.None);
        output.WriteLine($"GRANTED_RES {stat}");
    }

    /// <summary>ganesha with NLM in a namespace of its own, an export with one file, and the file's NFSv3 handle.</summary>
    private sealed class Setup(TestNamespace ns, GaneshaServer ganesha, NetworkNamespace handle, byte[] fileHandle) : IAsyncDisposable
    {
        public TestNamespace Namespace => ns;
        public GaneshaServer Ganesha => ganesha;
        public NamespaceSocketFactory Sockets { get; } = new(handle);
        public byte[] FileHandle => fileHandle;
        public string StatdMonitorDirectory => Path.Combine(ganesha.StateDirectory, "statd", "sm");

        public static async Task<Setup> StartAsync()
        {
            var ns = await TestNamespace.CreateAsync("nfsns-nlmprobe");
            GaneshaServer? ganesha = null;
            NetworkNamespace? handle = null;
            try
            {
                string export = Path.Combine(ns.StateDirectory, "export");
                Directory.CreateDirectory(export);
                await File.WriteAllTextAsync(Path.Combine(export, "locked.txt"), "lock me\n");
                ganesha = await GaneshaServer.StartAsync(ns, export, new GaneshaOptions { EnableNlm = true });
                handle = NetworkNamespace.Open(ns.Name);
                await using var mount = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}");
                var fileHandle = (await mount.LookupAsync("/locked.txt")).Bytes.ToArray();
                return new Setup(ns, ganesha, handle, fileHandle);
            }
            catch
            {
                handle?.Dispose();
                try { if (ganesha is not null) await ganesha.DisposeAsync(); }
                finally { await ns.DisposeAsync(); }
                throw;
            }
        }

        public RpcConnection ConnectNlm() => new(Sockets, new IPEndPoint(IPAddress.Loopback, GaneshaServer.NlmPort));

        /// <summary>statd's monitor records: file name → "addr prog vers proc priv mon_name my_name" split on spaces.</summary>
        public IReadOnlyDictionary<string, string[]> MonitorRecords() =>
            Directory.GetFiles(StatdMonitorDirectory).ToDictionary(file => Path.GetFileName(file),
                file => File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        public bool LogContains(string text)
        {
            using var stream = new FileStream(ganesha.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd().Contains(text, StringComparison.Ordinal);
        }

        /// <summary>Runs a command in rpcbind's mount and network namespaces (its private /run, as ganesha and statd have).</summary>
        public Task<CommandResult> RunBesideDaemonsAsync(string command, params string[] arguments) =>
            ProcessRunner.RunAsync("nsenter", ["--target", ganesha.RpcbindPid.ToString(CultureInfo.InvariantCulture), "--mount", "--net", command, .. arguments],
                TimeSpan.FromSeconds(30));

        public async ValueTask DisposeAsync()
        {
            try
            {
                Sockets.Dispose();
                handle.Dispose();
                await ganesha.DisposeAsync();
            }
            finally
            {
                await ns.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Our NLM v4 listener (TCP, any address of the namespace) that records GRANTED / GRANTED_MSG and answers GRANTED
    /// calls with <see cref="GrantedReply"/>.
    /// </summary>
    private sealed class CallbackListener : IAsyncDisposable
    {
        private readonly Channel<Callback> _calls = Channel.CreateUnbounded<Callback>();
        private readonly RpcServer _server;

        public IPEndPoint EndPoint { get; }
        public Nlm4Stat GrantedReply { get; set; } = Nlm4Stat.Granted;

        public CallbackListener(ISocketFactory sockets)
        {
            var program = new RpcProgram(NlmProgram, RpcAuthFlavor.None, RpcAuthFlavor.Sys)
                .On(NlmVersion, 0, (_, _) => ValueTask.FromResult(RpcReplyStatus.Success))
                .On(NlmVersion, ProcGranted, Record)
                .On(NlmVersion, ProcGrantedMsg, Record);
            _server = new RpcServer(sockets);
            _server.Register(program);
            EndPoint = _server.Listen(new IPEndPoint(IPAddress.Any, 0));
        }

        private ValueTask<RpcReplyStatus> Record(RpcCallContext call, CancellationToken cancellationToken)
        {
            var reader = call.ArgumentsReader();
            byte[] cookie = reader.ReadOpaqueArray(MaxNetobj, "cookie");
            bool exclusive = reader.ReadBool();
            string callerName = reader.ReadString(MaxNetobj, "caller_name");
            reader.ReadOpaque(MaxNetobj, "fh");
            string owner = Encoding.ASCII.GetString(reader.ReadOpaque(MaxNetobj, "oh"));
            int svid = reader.ReadInt32();
            ulong offset = reader.ReadUInt64(), length = reader.ReadUInt64();
            reader.EnsureFullyConsumed("nlm4_testargs");
            _calls.Writer.TryWrite(new Callback(call.Procedure, call.RemoteEndPoint, call.LocalEndPoint, call.Flavor, cookie,
                exclusive, callerName, owner, svid, offset, length));
            if (call.Procedure == ProcGranted)
            {
                call.Results.WriteOpaque(cookie);
                call.Results.WriteUInt32((uint)GrantedReply);
            }
            return ValueTask.FromResult(RpcReplyStatus.Success);
        }

        /// <summary>The next callback, or null when none came within <paramref name="wait"/>.</summary>
        public async Task<Callback?> NextAsync(TimeSpan wait)
        {
            using var timeout = new CancellationTokenSource(wait);
            try
            {
                return await _calls.Reader.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        public ValueTask DisposeAsync() => _server.DisposeAsync();
    }

    /// <summary>
    /// Replaces ganesha's own 100021 v4 registration in the namespace's rpcbind by our listener, so that callbacks to
    /// 127.0.0.1 reach it. rpcbind refuses a TCP caller's UNSET of an entry registered through its Unix socket, so
    /// the old entry is deleted with rpcinfo -d beside the daemons (through the private /run/rpcbind.sock).
    /// </summary>
    private static async Task<RpcbindRegistration> RegisterInsteadOfGaneshaAsync(Setup setup, CallbackListener listener)
    {
        (await setup.RunBesideDaemonsAsync("rpcinfo", "-d", "100021", "4")).EnsureSuccess();
        return await RpcbindRegistration.RegisterAsync(setup.Sockets, new IPEndPoint(IPAddress.Loopback, 111),
            [new RpcService(NlmProgram, NlmVersion, listener.EndPoint)]);
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (await condition()) return true;
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(100);
        }
    }

    private static Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan limit) => EventuallyAsync(() => Task.FromResult(condition()), limit);

    [Fact(Timeout = Timeout)]
    public async Task Locks_blocking_the_granted_callback_and_monitoring()
    {
        await using var setup = await Setup.StartAsync();
        await using var listener = new CallbackListener(setup.Sockets);
        await using var registration = await RegisterInsteadOfGaneshaAsync(setup, listener);
        await using var capture = await TsharkCapture.StartAsync(setup.Namespace, "not tcp port 2049",
            rpcPorts: [GaneshaServer.NlmPort, GaneshaServer.StatdPort, listener.EndPoint.Port]);
        await using var nlm = setup.ConnectNlm();
        var holder = new Nlm4Lock(CallerName, setup.FileHandle, "holder", 1, 0, 100);
        var waiter = holder with { Owner = "waiter", Svid = 2 };
        var third = holder with { Owner = "third", Svid = 3 };

        // (a) A free range is GRANTED (no grace period after start with Graceless = true); the same owner again is
        // GRANTED; another owner is DENIED without block and BLOCKED with it; TEST names the holder.
        Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, holder, block: false));
        Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, holder, block: false));
        Assert.Equal(Nlm4Stat.Denied, await LockAsync(nlm, waiter, block: false));
        Assert.Equal(new Holder(true, 1, "holder", 0, 100), await TestAsync(nlm, waiter));
        Assert.Equal(Nlm4Stat.Blocked, await LockAsync(nlm, waiter, block: true));

        // (c) Before the first LOCK's reply, ganesha had statd monitor the client under its source address, not its
        // caller_name: "0100007f 000186b5 00000004 00000010 <priv> 127.0.0.1 <hostname>" in a file named "localhost".
        var record = Assert.Single(setup.MonitorRecords()).Value;
        Assert.Equal(["0100007f", $"{NlmProgram:x8}", $"{NlmVersion:x8}", $"{ProcSmNotifyCallback:x8}"], record[..4]);
        Assert.Equal(ClientAddress, record[5]);
        Assert.Equal(Environment.MachineName, record[6]);

        // (b) Unlocking wakes the waiter: ganesha grants at once and tells the caller with GRANTED_MSG.
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, holder));
        var granted = await listener.NextAsync(CallbackWait);
        Assert.NotNull(granted);
        output.WriteLine($"callback {granted}, cookie {Convert.ToHexString(granted.Cookie)}");
        Assert.Equal(ProcGrantedMsg, granted.Procedure);
        Assert.Equal(IPAddress.Parse(ClientAddress), granted.To.Address); // the source address, not caller_name 127.0.0.2
        Assert.Equal(RpcAuthFlavor.None, granted.Flavor);
        Assert.Equal((true, CallerName, "waiter", 2, 0ul, 100ul),
            (granted.Exclusive, granted.CallerName, granted.Owner, granted.Svid, granted.Offset, granted.Length));
        lock (_sentCookies) Assert.DoesNotContain(_sentCookies, c => c.AsSpan().SequenceEqual(granted.Cookie));
        Assert.Equal("waiter", (await TestAsync(nlm, third))?.Owner); // granted before any GRANTED_RES
        await GrantedResAsync(nlm, granted, Nlm4Stat.Granted);
        Assert.Equal("waiter", (await TestAsync(nlm, third))?.Owner);

        // (b) GRANTED_RES with DENIED: ganesha releases the lock it had granted.
        Assert.Equal(Nlm4Stat.Blocked, await LockAsync(nlm, third, block: true));
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, waiter));
        var refused = await listener.NextAsync(CallbackWait);
        Assert.NotNull(refused);
        Assert.Equal(("third", granted.From), (refused.Owner, refused.From)); // the callback connection is kept
        Assert.Equal("third", (await TestAsync(nlm, holder))?.Owner);
        await GrantedResAsync(nlm, refused, Nlm4Stat.Denied);
        Assert.True(await EventuallyAsync(async () => await TestAsync(nlm, holder) is null, TimeSpan.FromSeconds(5)));
        Assert.True(setup.LogContains("Granted call failed due to client error, releasing lock"));

        // (b) No GRANTED_RES at all: the lock stays granted and GRANTED_MSG is not sent again.
        var fourth = holder with { Owner = "fourth", Svid = 4 };
        var fifth = holder with { Owner = "fifth", Svid = 5 };
        Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, fourth, block: false));
        Assert.Equal(Nlm4Stat.Blocked, await LockAsync(nlm, fifth, block: true));
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, fourth));
        Assert.Equal("fifth", (await listener.NextAsync(CallbackWait))?.Owner);
        Assert.Null(await listener.NextAsync(TimeSpan.FromSeconds(3)));
        Assert.Equal("fifth", (await TestAsync(nlm, holder))?.Owner);

        // (c) When the client's last lock goes, ganesha has statd forget it (SM_UNMON).
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, fifth));
        Assert.True(await EventuallyAsync(() => setup.MonitorRecords().Count == 0, TimeSpan.FromSeconds(5)));

        // (c) Any caller_name is accepted, even one that does not resolve.
        var unresolvable = new Nlm4Lock("no-such-host.invalid", setup.FileHandle, "unresolvable", 6, 200, 10);
        Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, unresolvable, block: false));
        Assert.Equal(new Holder(true, 6, "unresolvable", 200, 10), await TestAsync(nlm, unresolvable with { CallerName = "someone-else", Owner = "x", Svid = 7 }));
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, unresolvable));

        // (b) Nobody registered for NLM at the caller: after about 10 s of trying, ganesha drops the blocked request.
        await registration.UnregisterAsync();
        Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, fourth, block: false));
        Assert.Equal(Nlm4Stat.Blocked, await LockAsync(nlm, fifth, block: true));
        Assert.Equal(Nlm4Stat.Granted, await UnlockAsync(nlm, fourth));
        Assert.True(await EventuallyAsync(() => setup.LogContains("Removing the blocking lock"), TimeSpan.FromSeconds(30)));
        Assert.True(setup.LogContains("Cannot create NLM async tcp connection to client 127.0.0.1"));
        Assert.Null(await listener.NextAsync(TimeSpan.Zero));
        Assert.Null(await TestAsync(nlm, holder));
        Assert.Equal(Nlm4Stat.Granted, await CancelAsync(nlm, fifth)); // CANCEL of a request ganesha already dropped

        // The wire: every portmap lookup ganesha made went over TCP from a privileged port to 127.0.0.1:111; the one
        // for the callback asked for NLM v4 over TCP (proto 6).
        await capture.StopAsync();
        var lookups = await TsharkCapture.ReadFieldsAsync(capture.FilePath, $"portmap.procedure_v2 == {PmapGetPort} && rpc.msgtyp == 0",
            ["ip.dst", "tcp.srcport", "tcp.dstport", "portmap.prog", "portmap.version", "portmap.proto"]);
        foreach (string line in lookups) output.WriteLine($"GETPORT {line}");
        var fields = lookups.Select(line => line.Split('\t')).ToList();
        Assert.Contains(fields, f => f[3] == $"{NsmProgram}" && f[5] == "6");
        Assert.Contains(fields, f => f[3] == $"{NlmProgram}" && f[4] == $"{NlmVersion}" && f[5] == "6");
        Assert.All(fields, f => Assert.Equal((ClientAddress, "111"), (f[0], f[2])));
        Assert.All(fields, f => Assert.InRange(int.Parse(f[1], CultureInfo.InvariantCulture), 1, 1023));
    }

    [Fact(Timeout = Timeout)]
    public async Task Restart_loses_locks_and_monitoring_and_notifies_nobody()
    {
        await using var setup = await Setup.StartAsync();
        var holder = new Nlm4Lock(CallerName, setup.FileHandle, "holder", 1, 0, 100);
        var other = holder with { Owner = "other", Svid = 2 };
        await using (var nlm = setup.ConnectNlm())
            Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, holder, block: false));
        Assert.Single(setup.MonitorRecords());

        await using var capture = await TsharkCapture.StartAsync(setup.Namespace, "not tcp port 2049",
            rpcPorts: [GaneshaServer.NlmPort, GaneshaServer.StatdPort]);
        await setup.Ganesha.RestartAsync();

        // (d) The lock is gone and, Graceless, anyone may lock at once; ganesha's start sent SM_UNMON_ALL, so statd
        // forgot the client; nobody told the client (no SM_NOTIFY).
        await using (var nlm = setup.ConnectNlm())
        {
            Assert.Null(await TestAsync(nlm, other));
            Assert.Empty(setup.MonitorRecords());
            Assert.Equal(Nlm4Stat.Granted, await LockAsync(nlm, other, block: false)); // monitored again
        }
        Assert.Single(setup.MonitorRecords());

        // What a boot runs: sm-notify sends SM_NOTIFY (UDP) to every monitored host's statd, naming this host.
        var notify = await setup.RunBesideDaemonsAsync("sm-notify", "-f", "-d", "-P", Path.GetDirectoryName(setup.StatdMonitorDirectory)!);
        output.WriteLine(notify.ToString());
        notify.EnsureSuccess();
        Assert.Contains("notified successfully", notify.Stderr, StringComparison.Ordinal);
        await Task.Delay(500); // statd's own follow-up lookup
        await capture.StopAsync();

        var unmonitorAll = await TsharkCapture.ReadFieldsAsync(capture.FilePath, $"stat.procedure_v1 == {SmUnmonAll} && rpc.msgtyp == 0", ["frame.number"],
            [GaneshaServer.StatdPort]);
        Assert.NotEmpty(unmonitorAll);
        var notifies = await TsharkCapture.ReadFieldsAsync(capture.FilePath, $"stat.procedure_v1 == {SmNotify} && rpc.msgtyp == 0",
            ["ip.dst", "udp.srcport", "udp.dstport", "stat.mon_id.name", "stat.state"], [GaneshaServer.StatdPort]);
        foreach (string line in notifies) output.WriteLine($"SM_NOTIFY {line}");
        var sent = Assert.Single(notifies).Split('\t'); // only sm-notify's: the restart itself notified nobody
        Assert.Equal((ClientAddress, $"{GaneshaServer.StatdPort}", Environment.MachineName), (sent[0], sent[2], sent[3]));
        Assert.Equal(1, int.Parse(sent[4], CultureInfo.InvariantCulture) % 2); // an odd state: the host is up
        var udpLookups = await TsharkCapture.ReadFieldsAsync(capture.FilePath, $"portmap.procedure_v2 == {PmapGetPort} && rpc.msgtyp == 0 && udp",
            ["udp.srcport", "portmap.prog", "portmap.version", "portmap.proto"]);
        foreach (string line in udpLookups) output.WriteLine($"UDP GETPORT {line}");
        var udpFields = udpLookups.Select(line => line.Split('\t')).ToList();
        Assert.Contains(udpFields, f => f[1] == $"{NsmProgram}" && f[3] == "17" && int.Parse(f[0], CultureInfo.InvariantCulture) < 1024);
        // Here the host name resolves to 127.0.0.1, the monitored address, so statd took that SM_NOTIFY for the client's
        // reboot and looked for ganesha's NLM (to call procedure 16) over UDP — which ganesha, TCP only, never registers.
        Assert.Contains(udpFields, f => f[1] == $"{NlmProgram}" && f[2] == $"{NlmVersion}" && f[3] == "17");
    }
}
