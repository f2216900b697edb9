using System.Net;
using System.Text;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Server.Locking;

namespace NfsNs.Client.Locking;

/// <summary>
/// NLM v4 towards one NFS server through one namespace (one per <see cref="NfsServerConnection"/>): TEST, LOCK
/// (blocking ones wait for the GRANTED call-back, and re-send the LOCK now and then in case it never comes), CANCEL,
/// UNLOCK, and the reclaim of every held lock when the server's status monitor says it restarted.
/// </summary>
/// <remarks>
/// The NLM socket comes from the server connection's namespace-bound factory, like NFS's. caller_name — the name the
/// server records us under and sends its call-backs to — is our address as the server sees it on that socket: in a
/// namespace, a host name means nothing to the server, an address always reaches the namespace's call-back listener.
/// </remarks>
public sealed class NfsLockClient : IAsyncDisposable
{
    private static long s_nextCookie;

    private readonly NfsServerConnection _server;
    private readonly NlmClientAgent _agent;
    private readonly RpcConnection _connection;
    private readonly Nlm4Client _nlm;
    private readonly Action<string>? _warn;
    private readonly Lock _lock = new();
    private readonly List<NfsFileLock> _held = [];
    private int _reclaimsWanted;
    /// <summary>The NSM state of the server's last restart we reclaimed for (none yet: a value no state has).</summary>
    private long _lastServerState = long.MinValue;

    private NfsLockClient(NfsServerConnection server, NlmClientAgent agent, RpcConnection connection, string callerName, Action<string>? warn)
    {
        _server = server;
        _agent = agent;
        _connection = connection;
        _nlm = new Nlm4Client(new RpcProgramClient(connection, Nlm4.Program, Nlm4.Version, RpcCredentials.None));
        CallerName = callerName;
        _warn = warn;
    }

    /// <summary>Our name at the server (caller_name): our address on the NLM connection.</summary>
    public string CallerName { get; }

    /// <summary>The server's address; also its name in our status monitor.</summary>
    public IPAddress ServerAddress => _server.Key.Server.Address;
    internal string ServerName => ServerAddress.ToString();

    public NlmClientAgent Agent => _agent;
    public RpcConnection Connection => _connection;

    /// <summary>Locks held through this server connection now (every stream, every mount sharing it).</summary>
    public int HeldLocks
    {
        get { lock (_lock) return _held.Count; }
    }

    /// <summary>Reclaims done after server restarts, and locks lost because a reclaim was refused.</summary>
    public int Reclaims => Volatile.Read(ref _reclaims);
    public int LostLocks => Volatile.Read(ref _lost);
    private int _reclaims, _lost;

    /// <summary>Grace-period waits: LOCKs answered NLM4_DENIED_GRACE_PERIOD and retried later.</summary>
    public int GraceWaits => Volatile.Read(ref _graceWaits);
    private int _graceWaits;

    internal static async Task<NfsLockClient> StartAsync(NfsServerConnection server, NlmClientAgent agent, NfsMountOptions options, int? nlmPort,
        CancellationToken cancellationToken)
    {
        var sockets = new NamespaceSocketFactory(server.Namespace);
        var address = server.Key.Server.Address;
        int port;
        try
        {
            port = nlmPort ?? await RpcBinder.GetPortAsync(sockets, address, Nlm4.Program, Nlm4.Version, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcProgramNotRegisteredException e)
        {
            throw NoLockManager(server, "NLM v4 is not registered with its rpcbind", e);
        }
        catch (RpcConnectionException e) when (nlmPort is null)
        {
            throw new NfsLockException($"cannot ask rpcbind at {address}:111 in {server.Namespace} for the lock manager: {e.Message} " +
                "(a server without a portmapper needs nlmport= for locking, as nfsport= and mountport= for the rest)", e);
        }
        var connection = new RpcConnection(sockets, new IPEndPoint(address, port), new RpcConnectionOptions
        {
            Timeout = options.Timeout,
            Retransmits = options.Retransmits,
            Hard = !options.Soft,
            Reconnect = options.Reconnect,
            Warn = options.Warn,
        });
        try
        {
            var nlm = new Nlm4Client(new RpcProgramClient(connection, Nlm4.Program, Nlm4.Version, RpcCredentials.None));
            // A hard connection would retry forever: like mounting, finding the lock manager gives up in time.
            var limit = options.EffectiveMountTimeout;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(limit);
                try
                {
                    await nlm.NullAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new NfsLockException($"the lock manager (NLM v4) of the NFS server, {connection.Describe()}, did not answer within " +
                        $"{limit.TotalSeconds:0.#} s: {connection.LastConnectError ?? "no reply"}");
                }
            }
            var local = connection.LocalEndPoint as IPEndPoint
                ?? throw new NfsLockException($"NLM connection to {connection.Describe()} has no local address");
            var callerAddress = local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address;
            // In one namespace, a server without NLM leaves the rpcbind entry to our own agent, which registered there:
            // its "NLM" answers NULL and nothing else.
            if (port == agent.CallbackEndPoint.Port && callerAddress.Equals(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address))
                throw NoLockManager(server, $"the NLM v4 registered at {address}:{port} is this process's own lock agent");
            await agent.WaitForNoticeAsync(address, cancellationToken).ConfigureAwait(false);
            var client = new NfsLockClient(server, agent, connection, callerAddress.ToString(), options.Warn);
            agent.Attach(client);
            return client;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static NfsLockException NoLockManager(NfsServerConnection server, string why, Exception? inner = null) =>
        new($"the NFS server {server.Key.Server.Address} in {server.Namespace} has no lock manager ({why}); it serves no locks, " +
            "unless on a port of its own: give that with nlmport=", inner);

    /// <summary>
    /// A lock procedure the NLM service at our port does not implement: it is a client's lock agent (registered in a
    /// namespace whose server has no NLM), not a server's lock manager.
    /// </summary>
    private NfsLockException NotALockManager(RpcAcceptedException e) =>
        new($"the NFS server {ServerAddress} in {_server.Namespace} has no lock manager: the NLM v4 service at {_connection.Describe()} " +
            $"does not implement {RpcPrograms.Describe(e.Call.Program, e.Call.Version, e.Call.Procedure)} (it is a client's lock agent, registered there because the server has none)", e);

    private static NetObj NextCookie() => new(BitConverter.GetBytes(Interlocked.Increment(ref s_nextCookie)));

    private Nlm4Lock Describe(NfsFileHandle file, NfsLockOwner owner, long offset, long length) =>
        new(CallerName, new NetObj(file.Bytes), owner.Handle, owner.Svid, (ulong)offset, (ulong)length);

    // ---- TEST ------------------------------------------------------------------------------------------------------

    internal async Task<NfsLockHolder?> TestAsync(NfsFileHandle file, NfsLockOwner owner, long offset, long length, bool exclusive, string path,
        CancellationToken cancellationToken)
    {
        Nlm4TestResult result;
        try
        {
            result = await _nlm.TestAsync(new Nlm4TestArgs(NextCookie(), exclusive, Describe(file, owner, offset, length)), cancellationToken).ConfigureAwait(false);
        }
        catch (RpcAcceptedException e) when (e.Stat == RpcAcceptStat.ProcUnavail)
        {
            throw NotALockManager(e);
        }
        return result.Status switch
        {
            Nlm4Status.Granted => null,
            Nlm4Status.Denied when result.Holder is { } holder => new NfsLockHolder(holder.Exclusive, holder.Svid,
                NfsLockHolder.Readable(holder.OwnerHandle.Bytes), (long)holder.Offset, (long)holder.Length),
            // During a grace period a server cannot say (its locks are still being reclaimed): say so, do not wait.
            _ => throw new NfsLockException(path, "TEST", result.Status),
        };
    }

    // ---- LOCK ------------------------------------------------------------------------------------------------------

    /// <summary>How long to wait before asking again while the server is in its grace period.</summary>
    internal static TimeSpan GraceRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>First and longest pause between re-sent blocking LOCKs (the GRANTED call-back usually ends the wait).</summary>
    internal static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(250);
    internal static TimeSpan MaxPollWithCallbacks { get; set; } = TimeSpan.FromSeconds(30);
    internal static TimeSpan MaxPollWithoutCallbacks { get; set; } = TimeSpan.FromSeconds(2);

    internal async Task<NfsFileLock> LockAsync(NfsFileStream stream, NfsLockOwner owner, long offset, long length, bool exclusive, bool wait,
        string path, CancellationToken cancellationToken)
    {
        var alock = Describe(stream.Handle, owner, offset, length);
        var first = await LockOrUndoAsync(alock, block: false, exclusive, owner, cancellationToken).ConfigureAwait(false);
        if (first == Nlm4Status.Granted) return Held(stream, owner, offset, length, exclusive, path);
        if (!wait)
        {
            if (first == Nlm4Status.Denied)
            {
                NfsLockHolder? holder = null;
                try
                {
                    holder = await TestAsync(stream.Handle, owner, offset, length, exclusive, path, cancellationToken).ConfigureAwait(false);
                }
                catch (NfsLockException)
                {
                    // Who holds it is a nicety; the conflict is the answer.
                }
                throw new NfsLockConflictException(path, offset, length, exclusive, holder);
            }
            // Not waiting includes not waiting out a grace period (which lasts 90 s by default): say why at once.
            throw new NfsLockException(path, "LOCK", first);
        }
        else if (first is not (Nlm4Status.Denied or Nlm4Status.DeniedGracePeriod or Nlm4Status.Blocked))
        {
            throw new NfsLockException(path, "LOCK", first);
        }

        if (first == Nlm4Status.DeniedGracePeriod)
        {
            _warn?.Invoke($"{path}: the lock server {ServerName} restarted and is in its grace period (only reclaims accepted): waiting for its end");
            Interlocked.Increment(ref _graceWaits);
            await Task.Delay(GraceRetryDelay, cancellationToken).ConfigureAwait(false);
        }

        // Wait: for the GRANTED call-back when servers can reach us, re-sending the blocking LOCK now and then anyway
        // (a lost call-back, or a server that cannot call us, must not leave us waiting forever).
        using var pending = _agent.ExpectGrant(ServerAddress, alock, exclusive);
        var pause = FirstPoll;
        var maxPause = _agent.CallbacksRegistered ? MaxPollWithCallbacks : MaxPollWithoutCallbacks;
        try
        {
            while (true)
            {
                var status = await LockOrUndoAsync(alock, block: wait, exclusive, owner, cancellationToken).ConfigureAwait(false);
                switch (status)
                {
                    case Nlm4Status.Granted:
                        return Held(stream, owner, offset, length, exclusive, path);
                    case Nlm4Status.DeniedGracePeriod:
                        Interlocked.Increment(ref _graceWaits);
                        await Task.Delay(GraceRetryDelay, cancellationToken).ConfigureAwait(false);
                        continue;
                    case Nlm4Status.Blocked or Nlm4Status.Denied:
                        var delay = Task.Delay(pause, cancellationToken);
                        if (await Task.WhenAny(pending.Granted, delay).ConfigureAwait(false) == pending.Granted && pending.Granted.IsCompletedSuccessfully)
                            return Held(stream, owner, offset, length, exclusive, path);
                        await delay.ConfigureAwait(false); // throws when cancelled
                        pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, maxPause.Ticks));
                        continue;
                    default:
                        throw new NfsLockException(path, "LOCK", status);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException)
        {
            // Giving up the wait: from now on a GRANTED is refused (so the server takes the lock back); the queued
            // request is withdrawn; and a GRANTED we accepted before that is undone, since nobody will hold the lock.
            bool granted = await pending.WithdrawAsync().ConfigureAwait(false);
            await CancelQuietlyAsync(alock, exclusive).ConfigureAwait(false);
            if (granted) await UndoGrantAsync(alock, owner).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>CANCEL of a blocked request we gave up; best effort, brief.</summary>
    private async Task CancelQuietlyAsync(Nlm4Lock alock, bool exclusive)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _nlm.CancelAsync(new Nlm4CancelArgs(NextCookie(), true, exclusive, alock), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or ObjectDisposedException)
        {
            _warn?.Invoke($"could not cancel the blocked lock {alock.DescribeRange()} at {_connection.Describe()}: {e.Message}");
        }
    }

    /// <summary>
    /// A LOCK the caller may give up on while it is at the server: the call itself is not abandoned, and when the
    /// server granted it after all (or its reply never came, so it may have), the grant is undone — a request given up
    /// must not leave a lock held at the server by nobody (cf. Linux's nlmclnt_lock, which unlocks on a fatal error).
    /// </summary>
    private async Task<Nlm4Status> LockOrUndoAsync(Nlm4Lock alock, bool block, bool exclusive, NfsLockOwner owner, CancellationToken cancellationToken)
    {
        var late = new CancellationTokenSource();
        var call = SendLockAsync(alock, block, exclusive, reclaim: false, late.Token);
        bool abandoned = false;
        try
        {
            return await call.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Its reply is waited for in the background, for a while: a hard connection would retry it forever, and
            // every wait given up would add one more such call.
            abandoned = true;
            late.CancelAfter(AbandonedLockWait);
            _ = UndoUnlessRefusedAsync(call, alock, owner, late);
            throw;
        }
        catch (Exception e) when (MayHaveBeenGranted(e))
        {
            await UndoGrantAsync(alock, owner).ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (!abandoned) late.Dispose();
        }
    }

    /// <summary>How long the reply to a LOCK given up on is waited for before its grant is presumed, and undone.</summary>
    private static readonly TimeSpan AbandonedLockWait = TimeSpan.FromSeconds(30);

    /// <summary>A LOCK failed without an answer from the server (timeout, lost connection): it may have been granted.</summary>
    private static bool MayHaveBeenGranted(Exception e) => e is RpcException and not (RpcAcceptedException or RpcDeniedException);

    private async Task UndoUnlessRefusedAsync(Task<Nlm4Status> call, Nlm4Lock alock, NfsLockOwner owner, CancellationTokenSource late)
    {
        using (late)
        {
            try
            {
                if (await call.ConfigureAwait(false) != Nlm4Status.Granted) return;
            }
            catch (Exception e) when (e is OperationCanceledException || MayHaveBeenGranted(e))
            {
                // No reply (in time): it may have been granted.
            }
            catch (Exception)
            {
                return; // refused, or the client is closing (and its connection, and the server's view of us, with it)
            }
        }
        await UndoGrantAsync(alock, owner).ConfigureAwait(false);
    }

    /// <summary>
    /// Releases what a LOCK given up on may have been granted. The owner's locks held in that range must survive
    /// (the grant merged with them there, fcntl style): only the parts they do not cover are unlocked, and then they
    /// are asserted again, which puts back a type the grant changed (re-locking one's own range never conflicts).
    /// </summary>
    private async Task UndoGrantAsync(Nlm4Lock alock, NfsLockOwner owner)
    {
        var range = LockRange.FromOffsetLength(alock.Offset, alock.Length);
        NfsFileLock[] kept;
        lock (_lock) kept = [.. _held.Where(h => ReferenceEquals(h.Owner, owner) && !h.IsLost && h.Range.Overlaps(range))];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            foreach (var piece in range.Without(kept.Select(k => k.Range)))
            {
                var unlock = alock with { Offset = piece.Start, Length = piece.Length };
                await _nlm.UnlockAsync(new Nlm4UnlockArgs(NextCookie(), unlock), timeout.Token).ConfigureAwait(false);
            }
            foreach (var item in kept)
            {
                var again = alock with { Offset = (ulong)item.Offset, Length = (ulong)item.Length };
                var status = await SendLockAsync(again, block: false, item.Exclusive, reclaim: false, timeout.Token).ConfigureAwait(false);
                if (status != Nlm4Status.Granted) Lose(item, again, $"restoring it after an abandoned request answered {status.WireName()}");
            }
        }
        catch (Exception e) when (e is RpcException or NfsLockException or OperationCanceledException or ObjectDisposedException)
        {
            _warn?.Invoke($"could not release {alock.DescribeRange()}, which the server may have granted to a request given up, at {_connection.Describe()}: {e.Message}");
        }
    }

    private async Task<Nlm4Status> SendLockAsync(Nlm4Lock alock, bool block, bool exclusive, bool reclaim, CancellationToken cancellationToken)
    {
        try
        {
            return (await _nlm.LockAsync(new Nlm4LockArgs(NextCookie(), block, exclusive, alock, reclaim, _agent.State), cancellationToken).ConfigureAwait(false)).Status;
        }
        catch (RpcAcceptedException e) when (e.Stat == RpcAcceptStat.ProcUnavail)
        {
            throw NotALockManager(e);
        }
    }

    private NfsFileLock Held(NfsFileStream stream, NfsLockOwner owner, long offset, long length, bool exclusive, string path)
    {
        var held = new NfsFileLock(this, stream, owner, offset, length, exclusive, path);
        lock (_lock) _held.Add(held);
        _agent.Monitor(this);
        StartStateWatch();
        return held;
    }

    // ---- watching the server's NSM state ---------------------------------------------------------------------------

    /// <summary>
    /// How often the server's status monitor is asked for its state while we hold locks there: often when its
    /// SM_NOTIFY cannot reach us (another lock manager holds our namespace's registration — an NFS server or another
    /// process in the same namespace), rarely otherwise (a notice may still be lost).
    /// </summary>
    internal static TimeSpan StateWatchWithoutNotices { get; set; } = TimeSpan.FromSeconds(5);
    internal static TimeSpan StateWatchWithNotices { get; set; } = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stopWatching = new();
    private int _watching;
    private int? _serverState;

    /// <summary>The server's NSM state as last seen by SM_STAT (null before the first answer or when it has none).</summary>
    public int? ServerState => _serverState;

    /// <summary>
    /// Starts (once) asking the server's status monitor SM_STAT for its state number while locks are held. A larger
    /// number than before means the server restarted without its notice reaching us: its locks are reclaimed just as
    /// after an SM_NOTIFY. This closes the gap of the only-one-lock-manager-per-host rule of NLM, which a namespace
    /// shared with a server or another NfsNs process runs into.
    /// </summary>
    private void StartStateWatch()
    {
        if (Interlocked.Exchange(ref _watching, 1) == 1) return;
        _ = Task.Run(WatchServerStateAsync);
    }

    private async Task WatchServerStateAsync()
    {
        var token = _stopWatching.Token;
        var sockets = new NamespaceSocketFactory(_server.Namespace);
        RpcConnection? connection = null;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (HeldLocks > 0)
                {
                    try
                    {
                        connection ??= new RpcConnection(sockets, new IPEndPoint(ServerAddress,
                            await RpcBinder.GetPortAsync(sockets, ServerAddress, Protocols.Nsm.Nsm.Program, Protocols.Nsm.Nsm.Version, token).ConfigureAwait(false)),
                            StateWatchOptions);
                        var nsm = new Protocols.Nsm.NsmClient(new RpcProgramClient(connection, Protocols.Nsm.Nsm.Program, Protocols.Nsm.Nsm.Version, RpcCredentials.None));
                        var answer = await nsm.StatAsync(ServerName, token).ConfigureAwait(false);
                        int? before = _serverState;
                        _serverState = answer.State;
                        if (before is { } old && answer.State != old) ServerRestarted(answer.State);
                    }
                    catch (RpcProgramNotRegisteredException)
                    {
                        return; // no status monitor to ask: notices are all we have
                    }
                    catch (Exception e) when (e is RpcException or Xdr.XdrException or IOException)
                    {
                        // The server may be restarting; ask again next round on a new connection.
                        if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }
                }
                await Task.Delay(_agent.CallbacksRegistered ? StateWatchWithNotices : StateWatchWithoutNotices, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static readonly RpcConnectionOptions StateWatchOptions = new()
    {
        Timeout = TimeSpan.FromSeconds(5), Retransmits = 1, Hard = false, Reconnect = false,
    };

    internal bool Holds(NfsFileLock held)
    {
        lock (_lock) return _held.Contains(held);
    }

    // ---- UNLOCK ----------------------------------------------------------------------------------------------------

    internal async Task UnlockAsync(NfsFileLock held, CancellationToken cancellationToken)
    {
        // Not while the lock is being reclaimed: a reclaim that reached the server after our UNLOCK would hold it again.
        await held.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                if (!_held.Remove(held)) return;
            }
            if (held.IsLost) return;
            var alock = Describe(held.Stream.Handle, held.Owner, held.Offset, held.Length);
            for (int attempt = 0; ; attempt++)
            {
                Nlm4Result result;
                try
                {
                    result = await _nlm.UnlockAsync(new Nlm4UnlockArgs(NextCookie(), alock), cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    // The server may still hold it: it stays monitored, so the next start tells it we restarted.
                    Volatile.Write(ref _unreleased, true);
                    throw;
                }
                // NLM4_DENIED_GRACE_PERIOD for an UNLOCK means "ask again after the grace period" (XNFS 10); the lock
                // was lost in the restart anyway, so a few tries are enough.
                if (result.Status == Nlm4Status.DeniedGracePeriod && attempt < 20)
                {
                    await Task.Delay(GraceRetryDelay, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                if (result.Status != Nlm4Status.Granted) throw new NfsLockException(held.Path, "UNLOCK", result.Status);
                return;
            }
        }
        finally
        {
            held.Gate.Release();
        }
    }

    // ---- server restart --------------------------------------------------------------------------------------------

    /// <summary>
    /// Whether an SM_NOTIFY sent from <paramref name="from"/> is our server's. Its source address decides, not the
    /// mon_name it announces (a host name there, such as sm-notify sends, means nothing across namespaces): anyone in
    /// the namespace can call the agent, and a notice "on behalf of" our server from elsewhere must not move our locks.
    /// </summary>
    internal bool IsServer(IPAddress from) => from.Equals(ServerAddress);

    /// <summary>
    /// The server restarted and forgot our locks: re-acquire every one with reclaim set, which the server accepts
    /// during its grace period (RFC 1813 appendix II, XNFS 10 "reclaim"). A refused reclaim loses that lock: it is
    /// marked lost and a warning names it (the kernel client would send SIGLOST or fail later I/O). False when the
    /// notice repeats the restart last acted on (sm-notify retransmits until answered; over UDP every copy arrives).
    /// A restart noticed while a reclaim runs makes it go round again once it ends.
    /// </summary>
    internal bool ServerRestarted(int serverState)
    {
        if (Interlocked.Exchange(ref _lastServerState, serverState) == serverState) return false;
        if (Interlocked.Increment(ref _reclaimsWanted) > 1) return true;
        _ = Task.Run(async () =>
        {
            int wanted;
            do
            {
                wanted = Volatile.Read(ref _reclaimsWanted);
                try
                {
                    await ReclaimAsync().ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    // In the background nobody else would see it; and the next notice must still find us able to reclaim.
                    _warn?.Invoke($"reclaiming the locks held at {_connection.Describe()} failed: {e.Message}");
                }
            }
            while (Interlocked.Add(ref _reclaimsWanted, -wanted) > 0);
        });
        return true;
    }

    /// <summary>Re-acquires every held lock with reclaim set (also callable directly, for tests and operators).</summary>
    public async Task ReclaimAsync(CancellationToken cancellationToken = default)
    {
        NfsFileLock[] held;
        lock (_lock) held = [.. _held];
        foreach (var item in held)
        {
            // One at a time with its UNLOCK: an application that unlocks meanwhile must not find it held again.
            await item.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!item.IsLost && Holds(item)) await ReclaimAsync(item, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                item.Gate.Release();
            }
        }
    }

    private async Task ReclaimAsync(NfsFileLock item, CancellationToken cancellationToken)
    {
        var alock = Describe(item.Stream.Handle, item.Owner, item.Offset, item.Length);
        Nlm4Status status;
        try
        {
            status = await SendLockAsync(alock, block: false, item.Exclusive, reclaim: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or NfsLockException or ObjectDisposedException)
        {
            _warn?.Invoke($"reclaiming lock {alock.DescribeRange()} of {item.Path} at {_connection.Describe()} failed: {e.Message}");
            return;
        }
        if (status == Nlm4Status.DeniedGracePeriod)
        {
            // "Not in a grace period": this server did not forget its locks (a status monitor restarted without
            // it, or a notice came late). A plain LOCK tells: the same owner's lock is granted again if the server
            // still has it or the range stayed free; a conflict means someone else took it, and it is lost.
            try
            {
                status = await SendLockAsync(alock, block: false, item.Exclusive, reclaim: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or NfsLockException or ObjectDisposedException)
            {
                _warn?.Invoke($"re-taking lock {alock.DescribeRange()} of {item.Path} at {_connection.Describe()} failed: {e.Message}");
                return;
            }
        }
        if (status == Nlm4Status.Granted)
        {
            Interlocked.Increment(ref _reclaims);
            return;
        }
        Lose(item, alock, $"when {ServerName} restarted: reclaim answered {status.WireName()} ({status.Describe()})");
    }

    private void Lose(NfsFileLock item, Nlm4Lock alock, string why)
    {
        item.MarkLost();
        Interlocked.Increment(ref _lost);
        _warn?.Invoke($"lock {alock.DescribeRange()} of {item.Path} was lost {why}");
    }

    /// <summary>Answers a GRANTED_MSG call-back with GRANTED_RES; best effort (the server treats silence as "granted").</summary>
    internal async Task SendGrantedResultAsync(Nlm4Result result)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _nlm.GrantedResAsync(result, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or Xdr.XdrException)
        {
            _warn?.Invoke($"could not answer a GRANTED_MSG call-back of {_connection.Describe()}: {e.Message}");
        }
    }

    /// <summary>
    /// Releases the held locks <paramref name="which"/> selects — those of a mount that closes with streams still
    /// open (as exit(2) closes a process's files), so the server does not keep them for nobody. Best effort, brief.
    /// </summary>
    internal async Task ReleaseAsync(Func<NfsFileLock, bool> which)
    {
        NfsFileLock[] leaving;
        lock (_lock) leaving = [.. _held.Where(which)];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // for them all: a dead server must not hold up closing
        foreach (var item in leaving)
        {
            try
            {
                await UnlockAsync(item, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or NfsLockException or OperationCanceledException or ObjectDisposedException)
            {
                _warn?.Invoke($"could not release {item} at {_connection.Describe()}: {e.Message}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopWatching.CancelAsync().ConfigureAwait(false);
        await ReleaseAsync(_ => true).ConfigureAwait(false);
        _agent.Detach(this);
        _agent.Unmonitor(this, forget: !Volatile.Read(ref _unreleased));
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Whether an UNLOCK failed, so that the server may hold a lock of ours that we no longer know of.</summary>
    private bool _unreleased;

    /// <summary>The locking part of the mount table.</summary>
    public NfsLockInfo Describe() => new(
        _connection.Describe(), _connection.LocalEndPoint?.ToString(), CallerName, HeldLocks, _agent.CallbacksRegistered,
        _agent.CallbackEndPoint.ToString(), _agent.CallbackProblem, _agent.State, _agent.GrantedCallbacks, Reclaims, LostLocks);

    public override string ToString() => $"NLM v4 client of {_connection.Describe()} as {CallerName}";
}

/// <summary>
/// Who owns a lock: NLM's (svid, oh) pair. One owner per <see cref="NfsFileStream"/>, so two streams conflict the way
/// two processes (or two open file descriptions with OFD locks) do; locks of one stream follow POSIX rules among
/// themselves (overlapping ones merge).
/// </summary>
public sealed record NfsLockOwner(int Svid, NetObj Handle)
{
    private static int s_nextSvid;

    /// <summary>A new owner, "nfsns:PID:SVID" as oh, readable in a capture and in the server's lock list.</summary>
    public static NfsLockOwner Create()
    {
        int svid = Interlocked.Increment(ref s_nextSvid);
        return new NfsLockOwner(svid, new NetObj(Encoding.ASCII.GetBytes($"nfsns:{Environment.ProcessId}:{svid}")));
    }
}

/// <summary>The owner of a conflicting lock, as the server's TEST reports it.</summary>
/// <param name="Owner">The holder's owner handle: printable ASCII as it is, every other byte as <c>\xNN</c>.</param>
public sealed record NfsLockHolder(bool Exclusive, int Svid, string Owner, long Offset, long Length)
{
    /// <summary>
    /// An owner handle as text. It is opaque bytes chosen by another client, shown in messages and on terminals:
    /// control characters there could rewrite the user's screen, so only printable ASCII passes.
    /// </summary>
    internal static string Readable(ReadOnlySpan<byte> owner)
    {
        var text = new StringBuilder(owner.Length);
        foreach (byte b in owner)
        {
            if (b is >= 0x20 and < 0x7F) text.Append((char)b);
            else text.Append($"\\x{b:x2}");
        }
        return text.ToString();
    }

    public override string ToString() =>
        $"{(Exclusive ? "exclusive" : "shared")} lock on {(Length == 0 ? $"[{Offset}, end)" : $"[{Offset}, {Offset + Length})")} held by svid {Svid} ({Owner})";
}

/// <summary>A held byte-range lock. Dispose (or <see cref="UnlockAsync"/>) releases it.</summary>
public sealed class NfsFileLock : IAsyncDisposable
{
    private readonly NfsLockClient _client;
    private int _lost;

    internal NfsFileLock(NfsLockClient client, NfsFileStream stream, NfsLockOwner owner, long offset, long length, bool exclusive, string path)
    {
        _client = client;
        Stream = stream;
        Owner = owner;
        Offset = offset;
        Length = length;
        Exclusive = exclusive;
        Path = path;
    }

    internal NfsFileStream Stream { get; }

    /// <summary>Held while the lock is being unlocked or reclaimed, so the two never cross at the server.</summary>
    internal SemaphoreSlim Gate { get; } = new(1, 1);

    internal LockRange Range => LockRange.FromOffsetLength((ulong)Offset, (ulong)Length);

    public NfsLockOwner Owner { get; }
    public long Offset { get; }
    /// <summary>0: to the end of the file, however long it grows.</summary>
    public long Length { get; }
    public bool Exclusive { get; }
    public string Path { get; }

    /// <summary>Until unlocked (and not lost).</summary>
    public bool IsHeld => _client.Holds(this) && !IsLost;

    /// <summary>True once a server restart made the lock impossible to reclaim.</summary>
    public bool IsLost => Volatile.Read(ref _lost) != 0;

    internal void MarkLost() => Volatile.Write(ref _lost, 1);

    public Task UnlockAsync(CancellationToken cancellationToken = default) => _client.UnlockAsync(this, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await UnlockAsync(timeout.Token).ConfigureAwait(false);
    }

    public override string ToString() =>
        $"{(Exclusive ? "exclusive" : "shared")} lock on {Path} {(Length == 0 ? $"[{Offset}, end)" : $"[{Offset}, {Offset + Length})")}{(IsLost ? " (lost)" : "")}";
}

/// <summary>A lock request that failed for a reason other than a conflict.</summary>
public class NfsLockException : IOException
{
    public NfsLockException(string message, Exception? inner = null) : base(message, inner) { }

    public NfsLockException(string path, string procedure, Nlm4Status status)
        : base($"NLM {procedure} {path}: {status.WireName()} ({status.Describe()})") => Status = status;

    public Nlm4Status? Status { get; }
}

/// <summary>The range is locked by another owner and the caller did not want to wait.</summary>
public sealed class NfsLockConflictException(string path, long offset, long length, bool exclusive, NfsLockHolder? holder)
    : NfsLockException($"{path}: cannot take {(exclusive ? "an exclusive" : "a shared")} lock on {(length == 0 ? $"[{offset}, end)" : $"[{offset}, {offset + length})")}: " +
        (holder is null ? "the range is locked by another owner" : $"conflicts with the {holder}"))
{
    public NfsLockHolder? Holder { get; } = holder;
}
