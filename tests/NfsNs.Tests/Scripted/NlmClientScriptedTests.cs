using System.Collections.Concurrent;
using System.Net;
using NfsNs.Client;
using NfsNs.Client.Locking;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Tests.Support;
using NfsNs.Xdr;

namespace NfsNs.Tests.Scripted;

/// <summary>
/// The NLM client against a scripted lock manager, for what real servers cannot be made to do on demand: a GRANTED
/// call-back at a chosen moment, one for a request nobody waits for, grace-period refusals, a restart notice after
/// which a reclaim is refused. NFS itself is the embedded server; only NLM is scripted.
/// </summary>
public sealed class NlmClientScriptedTests : IAsyncLifetime
{
    private EmbeddedServerHost _host = null!;
    private RpcServer _nlmServer = null!;
    private NamespaceSocketFactory _sockets = null!;
    private readonly ConcurrentQueue<(Nlm4Procedure Procedure, object Args)> _calls = new();
    private readonly List<string> _warnings = [];
    private Func<Nlm4LockArgs, Nlm4Status> _onLock = _ => Nlm4Status.Granted;
    /// <summary>When set, LOCK is answered by this instead of <see cref="_onLock"/> (to hold a reply back, or call back first).</summary>
    private Func<Nlm4LockArgs, Task<Nlm4Status>>? _onLockAsync;
    private Func<Nlm4CancelArgs, Task<Nlm4Status>> _onCancel = _ => Task.FromResult(Nlm4Status.Granted);
    /// <summary>What the scripted server answered, in the order it answered (LOCK, UNLOCK, CANCEL and the GRANTED call-backs made).</summary>
    private readonly ConcurrentQueue<(Nlm4Procedure Procedure, Nlm4Lock Lock, bool Exclusive, Nlm4Status Status)> _answered = new();
    private readonly string _stateDirectory = Path.Combine(TestStateDirectory.Path, $"scripted-{Guid.NewGuid():N}");

    public async Task InitializeAsync()
    {
        _host = await EmbeddedServerHost.StartAsync("nfsns-nlmscript");
        _sockets = new NamespaceSocketFactory(_host.Handle);
        _nlmServer = new RpcServer(_sockets);
        _nlmServer.Register(new RpcProgram(Nlm4.Program)
            .On(Nlm4.Version, (uint)Nlm4Procedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(Nlm4.Version, (uint)Nlm4Procedure.Lock, Nlm4LockArgs.Read, async (call, args, _) =>
            {
                _calls.Enqueue((Nlm4Procedure.Lock, args));
                var status = _onLockAsync is { } answer ? await answer(args) : _onLock(args);
                _answered.Enqueue((Nlm4Procedure.Lock, args.Lock, args.Exclusive, status));
                new Nlm4Result(args.Cookie, status).Write(call.Results);
                return RpcReplyStatus.Success;
            })
            .On(Nlm4.Version, (uint)Nlm4Procedure.Unlock, Nlm4UnlockArgs.Read, (call, args, _) =>
            {
                _calls.Enqueue((Nlm4Procedure.Unlock, args));
                _answered.Enqueue((Nlm4Procedure.Unlock, args.Lock, false, Nlm4Status.Granted));
                new Nlm4Result(args.Cookie, Nlm4Status.Granted).Write(call.Results);
                return RpcReplyStatus.SuccessTask;
            })
            .On(Nlm4.Version, (uint)Nlm4Procedure.Cancel, Nlm4CancelArgs.Read, async (call, args, _) =>
            {
                _calls.Enqueue((Nlm4Procedure.Cancel, args));
                var status = await _onCancel(args);
                _answered.Enqueue((Nlm4Procedure.Cancel, args.Lock, args.Exclusive, status));
                new Nlm4Result(args.Cookie, status).Write(call.Results);
                return RpcReplyStatus.Success;
            }));
        _nlmServer.Listen(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public async Task DisposeAsync()
    {
        await _nlmServer.DisposeAsync();
        await _host.DisposeAsync();
    }

    private async Task<(NfsMount Mount, NfsFileStream Stream, NfsClientRegistry Registry)> OpenAsync(string urlOptions = "")
    {
        var registry = new NfsClientRegistry();
        var url = NfsUrl.Parse(_host.Url(extra: urlOptions));
        using var ns = NetworkNamespace.Open(_host.Namespace.Name);
        var options = NfsMountOptions.FromUrl(url, ns) with
        {
            NlmPort = _nlmServer.EndPoints[0].Port,
            LockStateDirectory = _stateDirectory,
            Warn = message => { lock (_warnings) _warnings.Add(message); },
        };
        var mount = await NfsMount.MountAsync(options, registry);
        var stream = await mount.OpenWriteAsync("scripted.lock");
        return (mount, stream, registry);
    }

    /// <summary>
    /// Scripts the server to refuse non-blocking LOCKs (a conflict) and queue blocking ones (NLM4_BLOCKED); the task
    /// gives the first queued request, as the server would later name it in its GRANTED call-back.
    /// </summary>
    private TaskCompletionSource<Nlm4LockArgs> QueueBlockingLocks()
    {
        var blocked = new TaskCompletionSource<Nlm4LockArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        _onLock = args =>
        {
            if (!args.Block) return Nlm4Status.Denied;
            blocked.TrySetResult(args);
            return Nlm4Status.Blocked;
        };
        return blocked;
    }

    private Nlm4Client CallbackClient(NfsMount mount, out RpcConnection connection)
    {
        var agent = mount.Server.LockClient!.Agent;
        connection = new RpcConnection(_sockets, new IPEndPoint(IPAddress.Loopback, agent.CallbackEndPoint.Port));
        return new Nlm4Client(new RpcProgramClient(connection, Nlm4.Program, Nlm4.Version, RpcCredentials.None));
    }

    [Fact]
    public async Task A_GRANTED_call_back_ends_a_blocked_wait_and_one_for_nobody_is_refused()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var blocked = QueueBlockingLocks();
        var waiting = stream.LockAsync(0, 100);
        var queued = await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(mount.Server.LockClient!.Agent.State, queued.State);
        Assert.Equal(mount.Server.LockClient.CallerName, queued.Lock.CallerName);

        var client = CallbackClient(mount, out var connection);
        await using var _c = connection;
        var stranger = queued.Lock with { Svid = queued.Lock.Svid + 1000 };
        Assert.Equal(Nlm4Status.Denied, (await client.GrantedAsync(new Nlm4TestArgs(NetObj.Empty, true, stranger))).Status);
        Assert.False(waiting.IsCompleted);
        var reply = await client.GrantedAsync(new Nlm4TestArgs(new NetObj([1, 2]), true, queued.Lock));
        Assert.Equal((Nlm4Status.Granted, new NetObj([1, 2])), (reply.Status, reply.Cookie));
        var held = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(held.IsHeld);
        Assert.Equal(1, mount.Server.LockClient.Agent.RefusedGrants);
    }

    [Fact]
    public async Task Grace_period_refusals_are_waited_out()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        int refusals = 0;
        _onLock = _ => Interlocked.Increment(ref refusals) <= 2 ? Nlm4Status.DeniedGracePeriod : Nlm4Status.Granted;
        await using var held = await stream.LockAsync(wait: true).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(2, mount.Server.LockClient!.GraceWaits);
    }

    [Fact]
    public async Task Cancelling_a_blocked_wait_sends_CANCEL_for_that_request()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        _onLock = args => args.Block ? Nlm4Status.Blocked : Nlm4Status.Denied;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.LockAsync(10, 20, exclusive: false, cancellationToken: cancel.Token));
        var cancelled = Assert.Single(_calls.Where(c => c.Procedure == Nlm4Procedure.Cancel).Select(c => (Nlm4CancelArgs)c.Args));
        Assert.Equal((10UL, 20UL, false, true), (cancelled.Lock.Offset, cancelled.Lock.Length, cancelled.Exclusive, cancelled.Block));
        Assert.DoesNotContain(_calls, c => c.Procedure == Nlm4Procedure.Unlock);
    }

    [Fact]
    public async Task SM_NOTIFY_makes_the_client_reclaim_and_a_refused_reclaim_loses_that_lock()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var kept = await stream.LockAsync(0, 10);
        var lost = await stream.LockAsync(100, 10, exclusive: false);
        var reclaimed = new ConcurrentBag<Nlm4LockArgs>();
        _onLock = args =>
        {
            if (!args.Reclaim) return Nlm4Status.Granted;
            reclaimed.Add(args);
            return args.Lock.Offset == 100 ? Nlm4Status.Denied : Nlm4Status.Granted;
        };

        var agent = mount.Server.LockClient!.Agent;
        await using (var connection = new RpcConnection(_sockets, new IPEndPoint(IPAddress.Loopback, agent.CallbackEndPoint.Port)))
        {
            var nsm = new NsmClient(new RpcProgramClient(connection, Nsm.Program, Nsm.Version, RpcCredentials.None));
            await nsm.NotifyAsync("127.0.0.1", 3);
        }
        for (int i = 0; i < 100 && mount.Server.LockClient.Reclaims + mount.Server.LockClient.LostLocks < 2; i++) await Task.Delay(50);
        Assert.Equal(2, reclaimed.Count);
        Assert.All(reclaimed, r => Assert.False(r.Block));
        Assert.True(kept.IsHeld);
        Assert.True(lost.IsLost);
        Assert.Equal((1, 1), (mount.Server.LockClient.Reclaims, mount.Server.LockClient.LostLocks));
        lock (_warnings) Assert.Contains(_warnings, w => w.Contains("[100, 110)") && w.Contains("was lost") && w.Contains("NLM4_DENIED"));
        Assert.Equal(1, agent.Notifications);
    }

    [Fact]
    public async Task A_reclaim_refused_for_no_grace_period_is_retaken_with_a_plain_LOCK()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var kept = await stream.LockAsync(0, 10);
        var taken = await stream.LockAsync(50, 10);
        var seen = new ConcurrentQueue<(bool Reclaim, ulong Offset)>();
        _onLock = args =>
        {
            seen.Enqueue((args.Reclaim, args.Lock.Offset));
            // Not in grace: reclaims are refused; a plain LOCK finds the first range still ours, the second taken.
            return args.Reclaim ? Nlm4Status.DeniedGracePeriod : args.Lock.Offset == 0 ? Nlm4Status.Granted : Nlm4Status.Denied;
        };
        await mount.Server.LockClient!.ReclaimAsync();
        Assert.Equal([(true, 0UL), (false, 0UL), (true, 50UL), (false, 50UL)], seen);
        Assert.True(kept.IsHeld);
        Assert.True(taken.IsLost);
        Assert.Equal((1, 1), (mount.Server.LockClient.Reclaims, mount.Server.LockClient.LostLocks));
    }

    // ---- races that could leave a lock held at the server by nobody ---------------------------------------------------

    /// <summary>
    /// What the scripted server, replaying what it answered with fcntl semantics, holds for the client on bytes
    /// 0 … 255: one character a byte, '-' free, 's' shared, 'x' exclusive.
    /// </summary>
    private string ServerState()
    {
        var bytes = Enumerable.Repeat('-', 256).ToArray();
        foreach (var (procedure, alock, exclusive, status) in _answered)
        {
            int end = alock.Length == 0 ? bytes.Length : (int)Math.Min((ulong)bytes.Length, alock.Offset + alock.Length);
            char type = procedure == Nlm4Procedure.Unlock ? '-' : exclusive ? 'x' : 's';
            if (procedure is Nlm4Procedure.Unlock || (procedure is Nlm4Procedure.Lock or Nlm4Procedure.Granted && status == Nlm4Status.Granted))
                for (int i = (int)alock.Offset; i < end; i++) bytes[i] = type;
        }
        return new string(bytes);
    }

    private bool ServerHolds(ulong offset, ulong length) =>
        ServerState().AsSpan((int)offset, length == 0 ? 256 - (int)offset : (int)length).ContainsAnyExcept('-');

    private string Answered => string.Join(", ", _answered.Select(a => $"{a.Procedure} {a.Lock.DescribeRange()} {(a.Exclusive ? "x" : "s")} {a.Status}"));

    private static async Task EventuallyAsync(Func<bool> condition, double seconds = 5)
    {
        for (int i = 0; i < seconds * 20 && !condition(); i++) await Task.Delay(50);
    }

    private async Task NotifyAsync(NfsMount mount, string monName, int state)
    {
        var agent = mount.Server.LockClient!.Agent;
        await using var connection = new RpcConnection(_sockets, new IPEndPoint(IPAddress.Loopback, agent.CallbackEndPoint.Port));
        var nsm = new NsmClient(new RpcProgramClient(connection, Nsm.Program, Nsm.Version, RpcCredentials.None));
        await nsm.NotifyAsync(monName, state);
    }

    [Fact]
    public async Task A_lock_unlocked_while_it_is_being_reclaimed_is_not_left_held_at_the_server()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var held = await stream.LockAsync(0, 10);
        var retaking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _onLockAsync = async args =>
        {
            if (args.Reclaim) return Nlm4Status.DeniedGracePeriod;
            // The plain re-take after the refused reclaim: the application unlocks while it is at the server.
            retaking.TrySetResult();
            await release.Task;
            return Nlm4Status.Granted;
        };
        await NotifyAsync(mount, "127.0.0.1", 7);
        await retaking.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var unlocking = held.UnlockAsync();
        await Task.Delay(200);
        release.SetResult();
        await unlocking.WaitAsync(TimeSpan.FromSeconds(10));
        await EventuallyAsync(() => _answered.Any(a => a.Procedure == Nlm4Procedure.Lock && a.Status == Nlm4Status.Granted));
        await EventuallyAsync(() => !ServerHolds(0, 10));
        Assert.False(ServerHolds(0, 10), "the re-taken lock stayed held at the server after the application unlocked it: " + Answered);
        Assert.False(held.IsHeld);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_GRANTED_that_arrives_while_the_wait_is_being_cancelled_is_refused_or_undone(bool holdingPartOfIt)
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        // The owner may already hold part of the range it waits for: undoing the grant must leave that part as it was.
        var own = holdingPartOfIt ? await stream.LockAsync(2, 3, exclusive: false) : null;
        var blocked = new TaskCompletionSource<Nlm4LockArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        _onLock = args =>
        {
            // Another owner holds something in [0, 10); the owner's own range alone can always be locked.
            if (!args.Block) return args.Lock.Length == 10 ? Nlm4Status.Denied : Nlm4Status.Granted;
            blocked.TrySetResult(args);
            return Nlm4Status.Blocked;
        };
        using var cancel = new CancellationTokenSource();
        var waiting = stream.LockAsync(0, 10, cancellationToken: cancel.Token);
        await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var client = CallbackClient(mount, out var connection);
        await using var _c = connection;
        // The server grants the lock just before the CANCEL reaches it: it calls the client back, then finds nothing
        // to cancel (XNFS: CANCEL of a request no longer queued is NLM4_DENIED).
        _onCancel = async args =>
        {
            var reply = await client.GrantedAsync(new Nlm4TestArgs(new NetObj([9]), args.Exclusive, args.Lock));
            _answered.Enqueue((Nlm4Procedure.Granted, args.Lock, args.Exclusive, reply.Status));
            return Nlm4Status.Denied;
        };
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        string expected = holdingPartOfIt ? "--sss-----" : "----------";
        await EventuallyAsync(() => ServerState()[..10] == expected);
        Assert.True(ServerState()[..10] == expected, "a lock granted during the cancellation stayed held at the server: " + Answered);
        Assert.Equal(holdingPartOfIt, own?.IsHeld ?? false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_LOCK_in_flight_when_the_caller_cancels_is_undone_if_the_server_granted_it(bool blocking)
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var atServer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _onLockAsync = async args =>
        {
            // blocking: the first, non-blocking LOCK is denied and the blocking one is the one in flight.
            if (blocking && !args.Block) return Nlm4Status.Denied;
            atServer.TrySetResult();
            await release.Task;
            return Nlm4Status.Granted;
        };
        using var cancel = new CancellationTokenSource();
        var waiting = stream.LockAsync(0, 10, cancellationToken: cancel.Token);
        await atServer.Task.WaitAsync(TimeSpan.FromSeconds(10));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        release.SetResult();
        await EventuallyAsync(() => _answered.Any(a => a.Procedure == Nlm4Procedure.Lock && a.Status == Nlm4Status.Granted));
        await EventuallyAsync(() => !ServerHolds(0, 10));
        Assert.False(ServerHolds(0, 10), "a LOCK the server granted after the caller gave up stayed held: " + Answered);
    }

    [Fact]
    public async Task Disposing_the_stream_ends_its_lock_wait_and_a_late_grant_is_not_kept()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        var blocked = QueueBlockingLocks();
        var waiting = stream.LockAsync(0, 10);
        var queued = await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await stream.DisposeAsync();
        // close(2) releases the locks of the file: a wait that outlives it must not end up holding one.
        var client = CallbackClient(mount, out var connection);
        await using var _c = connection;
        var reply = await client.GrantedAsync(new Nlm4TestArgs(new NetObj([9]), true, queued.Lock));
        _answered.Enqueue((Nlm4Procedure.Granted, queued.Lock, true, reply.Status));
        await Assert.ThrowsAnyAsync<Exception>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.IsNotType<TimeoutException>(await Record.ExceptionAsync(() => waiting));
        await EventuallyAsync(() => !ServerHolds(0, 10));
        Assert.False(ServerHolds(0, 10), "a lock granted to a closed stream stayed held: " + Answered);
    }

    // ---- the agent's listener: it takes calls from anyone in the namespace ---------------------------------------------

    [Fact]
    public async Task The_agent_answers_malformed_call_backs_with_GARBAGE_ARGS_over_TCP_and_UDP_and_keeps_serving()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        var blocked = QueueBlockingLocks();
        var waiting = stream.LockAsync(0, 10);
        var queued = await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var agent = mount.Server.LockClient!.Agent;
        var tcp = new IPEndPoint(IPAddress.Loopback, agent.CallbackEndPoint.Port);
        var udp = new IPEndPoint(IPAddress.Loopback, agent.CallbackUdpEndPoint.Port);

        byte[][] malformed =
        [
            // GRANTED cut short inside its cookie; one with a caller_name "of 4 GiB"; one with trailing bytes.
            RawRpcClient.CallBody(1, Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Granted, w => w.WriteUInt32(8)),
            RawRpcClient.CallBody(2, Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Granted, w =>
            {
                w.WriteOpaque([]);
                w.WriteBool(true);
                w.WriteUInt32(0xFFFF_FFF0);
            }),
            RawRpcClient.CallBody(3, Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Granted, w =>
            {
                new Nlm4TestArgs(NetObj.Empty, true, queued.Lock).Write(w);
                w.WriteUInt32(0);
            }),
            // SM_NOTIFY with a mon_name longer than SM_MAXSTRLEN, and one without its state.
            RawRpcClient.CallBody(4, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify, w => w.WriteString(new string('n', 2000))),
            RawRpcClient.CallBody(5, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify, w => w.WriteString("127.0.0.1")),
        ];
        using (var raw = new RawRpcClient(await _sockets.ConnectTcpAsync(tcp, CancellationToken.None)))
        {
            foreach (var call in malformed)
            {
                await raw.SendRecordAsync(call);
                Assert.Equal(RpcAcceptStat.GarbageArgs, DecodedReply.Parse(await raw.ReadReplyAsync()).AcceptStat);
            }
            // A record "of 2 GiB" is not waited for: the connection is closed.
            await raw.SendAsync([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1]);
            Assert.True(await raw.IsClosedByServerAsync());
        }
        using (var peer = new UdpRpcPeer(_sockets))
        {
            foreach (var call in malformed)
                Assert.Equal(RpcAcceptStat.GarbageArgs, DecodedReply.Parse(await peer.CallAsync(call, udp)).AcceptStat);
            await peer.SendAsync([1, 2, 3], udp);
            await peer.SendAsync(new byte[60000], udp);
        }
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, agent.Notifications);

        // Still serving: the real GRANTED ends the wait.
        var client = CallbackClient(mount, out var connection);
        await using var _c = connection;
        Assert.Equal(Nlm4Status.Granted, (await client.GrantedAsync(new Nlm4TestArgs(NetObj.Empty, true, queued.Lock))).Status);
        Assert.True((await waiting.WaitAsync(TimeSpan.FromSeconds(5))).IsHeld);
    }

    private int Reclaims => _calls.Count(c => c.Procedure == Nlm4Procedure.Lock && ((Nlm4LockArgs)c.Args).Reclaim);

    [Fact]
    public async Task Only_the_servers_own_new_restart_notice_makes_the_client_reclaim()
    {
        var (mount, stream, _) = await OpenAsync();
        await using var _m = mount;
        await using var _s = stream;
        await using var held = await stream.LockAsync(0, 10);
        var lockClient = mount.Server.LockClient!;
        var agent = lockClient.Agent;
        int warningsBefore;
        lock (_warnings) warningsBefore = _warnings.Count;

        // Another host of the namespace (127.0.0.5) claims our server restarted, over TCP and a flood over UDP.
        var stranger = new BoundSocketFactory(_host.Handle, IPAddress.Parse("127.0.0.5"));
        await using (var connection = new RpcConnection(stranger, new IPEndPoint(IPAddress.Loopback, agent.CallbackEndPoint.Port)))
            await new NsmClient(new RpcProgramClient(connection, Nsm.Program, Nsm.Version, RpcCredentials.None)).NotifyAsync("127.0.0.1", 9);
        using (var peer = new UdpRpcPeer(_sockets, IPAddress.Parse("127.0.0.5")))
        {
            var udp = new IPEndPoint(IPAddress.Loopback, agent.CallbackUdpEndPoint.Port);
            for (uint i = 0; i < 200; i++)
            {
                var notify = RawRpcClient.CallBody(100 + i, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify,
                    w => new StatChange("127.0.0.1", 11 + 2 * (int)i).Write(w));
                await peer.SendAsync(notify, udp);
            }
        }
        await Task.Delay(500);
        Assert.Equal(0, Reclaims);

        // The server itself: its notice is acted on once, however often sm-notify repeats it.
        for (int i = 0; i < 20; i++) await NotifyAsync(mount, "127.0.0.1", 9);
        await EventuallyAsync(() => lockClient.Reclaims >= 1);
        await Task.Delay(500);
        Assert.Equal(1, Reclaims);
        // A later restart (a new state) is reclaimed again.
        await NotifyAsync(mount, "server.example", 13);
        await EventuallyAsync(() => lockClient.Reclaims >= 2);
        Assert.Equal(2, Reclaims);
        Assert.True(held.IsHeld);
        lock (_warnings)
            Assert.True(_warnings.Count - warningsBefore <= 3, $"the notices were echoed as warnings: {string.Join(" | ", _warnings.Skip(warningsBefore).Take(5))}");
    }

    [Fact]
    public async Task A_soft_mount_timing_out_in_a_blocked_wait_fails_and_withdraws_the_request()
    {
        var (mount, stream, _) = await OpenAsync("&soft&timeo=10&retrans=1");
        await using var _m = mount;
        await using var _s = stream;
        var never = new TaskCompletionSource<Nlm4Status>(TaskCreationOptions.RunContinuationsAsynchronously);
        // The server queues the request and then stops answering (a blocking LOCK the server sits on, as some do).
        _onLockAsync = args => args.Block ? never.Task : Task.FromResult(Nlm4Status.Denied);
        try
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var failed = await Assert.ThrowsAsync<RpcTimeoutException>(() => stream.LockAsync(0, 10).WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("LOCK", failed.Message);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), $"took {started.Elapsed}");
            // Its outcome unknown, the request is cancelled and whatever it may have been granted released.
            Assert.Contains(_calls, c => c.Procedure == Nlm4Procedure.Cancel);
            Assert.Contains(_calls, c => c.Procedure == Nlm4Procedure.Unlock && ((Nlm4UnlockArgs)c.Args).Lock.Length == 10);
            Assert.Empty(stream.Locks);
        }
        finally
        {
            never.SetResult(Nlm4Status.Granted);
        }
    }
}
