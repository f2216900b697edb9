using System.Collections.Concurrent;
using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nlm4;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Server.Locking;

/// <summary>
/// A locked file as the lock manager keys it: the export and the file's identity in its file system, so two handles
/// of one file (should a backend ever issue them) share their locks.
/// </summary>
public readonly record struct LockedFile(uint ExportId, ulong FileSystemId, ulong FileId)
{
    public override string ToString() => $"export {ExportId} fileid {FileId}";
}

/// <summary>How a <see cref="LockManager"/> behaves; built by <see cref="NfsServer"/> from its options.</summary>
internal sealed record LockManagerOptions
{
    public required string StateDirectory { get; init; }
    public TimeSpan GracePeriod { get; init; } = NfsServerOptions.DefaultGracePeriod;
    public string? ServerName { get; init; }
    public RpcServiceResolver? Resolver { get; init; }
    public Action<string>? Log { get; init; }
    public ByteRangeLockLimits Limits { get; init; } = ByteRangeLockLimits.Default;

    /// <summary>How long one call-back waits for its reply.</summary>
    public TimeSpan CallbackTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>GRANTED call-backs per granted request before the lock is taken back.</summary>
    public int GrantAttempts { get; init; } = 5;

    /// <summary>The wait between GRANTED attempts, and the first wait between SM_NOTIFY attempts (which then doubles).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// The server's lock manager: NLM v4 semantics over a <see cref="ByteRangeLockTable{TFile}"/> and a
/// <see cref="ShareReservationTable{TFile}"/>, with the grace period after a restart, NSM monitoring of its clients
/// (<see cref="StatusMonitor"/>), GRANTED call-backs for blocked requests, and the release of a rebooted client's
/// locks. The RPC face is <see cref="Nlm4Program"/> (and <see cref="NsmProgram"/> for SM_NOTIFY).
/// </summary>
/// <remarks>
/// Policy choices, each with its reason:
/// <list type="bullet">
/// <item>Grace: entered only when the previous run had monitored clients — those are the only ones that can hold
/// locks to reclaim; a first start, or a restart with no lock holders, serves at once. During grace only LOCK with
/// reclaim is accepted; TEST, plain LOCK and SHARE answer NLM4_DENIED_GRACE_PERIOD (as Linux lockd). UNLOCK and
/// CANCEL are accepted (Linux refuses them too): they only release, so they cannot take a lock from a reclaiming
/// client. A reclaim after the grace period is NLM4_DENIED_GRACE_PERIOD, as on Linux: the lock may have been granted
/// to someone else meanwhile, so the client must learn that it lost it.</item>
/// <item>CANCEL of a request that is not queued is NLM4_DENIED: XNFS allows GRANTED or DENIED, and Linux moved to
/// DENIED ("NLM: Further cancel fixes") so a client can tell that its request was granted before the cancel.</item>
/// <item>A granted waiter is told with a synchronous GRANTED (procedure 5) at the address its LOCK came from (then
/// at caller_name if that is an address), with the LOCK's cookie. A refusal other than NLM4_DENIED_GRACE_PERIOD, or
/// <see cref="LockManagerOptions.GrantAttempts"/> failed attempts, takes the lock back — it must not be held
/// by nobody — and leaves the owner what it held in that range before (<see cref="ByteRangeLockTable{TFile}.Revert"/>).
/// A LOCK or UNLOCK of that owner meanwhile settles it: the client knows what it holds.</item>
/// </list>
/// </remarks>
internal sealed class LockManager : IAsyncDisposable
{
    /// <summary>How to reach the owner of a queued request once it is granted.</summary>
    private sealed record GrantTarget(NetObj Cookie, Nlm4Lock Lock, bool Exclusive);

    /// <summary>A GRANTED call-back in progress; <see cref="Settled"/> once the client showed it knows about the lock.</summary>
    private sealed class PendingGrant(QueuedLock<LockedFile> granted)
    {
        public QueuedLock<LockedFile> Granted { get; } = granted;
        public volatile bool Settled;
    }

    private const int HostStatesPruneThreshold = 1024;

    /// <summary>*_RES messages being sent at once; more *_MSG calls meanwhile get no *_RES (the client retransmits).</summary>
    private const int MaxResultsInFlight = 64;

    private readonly LockManagerOptions _options;
    private readonly Action<string>? _log;
    private readonly ByteRangeLockTable<LockedFile> _locks;
    private readonly ShareReservationTable<LockedFile> _shares;
    private readonly StatusMonitor _monitor;
    private readonly LockCallbacks _callbacks;
    private readonly ConcurrentDictionary<LockHost, int> _hostStates = new();
    private readonly ConcurrentDictionary<PendingGrant, byte> _pendingGrants = new();
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private int _resultsInFlight;
    private readonly CancellationTokenSource _stopping = new();
    private readonly long _graceEndsAt;

    public LockManager(LockManagerOptions options, ISocketFactory sockets, Func<IPEndPoint, bool> isOwnEndPoint)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.GracePeriod < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "the grace period must not be negative");
        _options = options;
        _log = options.Log;
        _locks = new ByteRangeLockTable<LockedFile>(options.Limits);
        _shares = new ShareReservationTable<LockedFile>(options.Limits.MaxLocksPerHost, options.Limits.MaxLocks);
        _monitor = new StatusMonitor(options.StateDirectory, options.Log);
        _callbacks = new LockCallbacks(sockets, options.Resolver, isOwnEndPoint, options.CallbackTimeout);
        bool restarted = _monitor.PreviousClients.Count > 0;
        _graceEndsAt = restarted ? Environment.TickCount64 + (long)options.GracePeriod.TotalMilliseconds : 0;
        GraceEndsAt = restarted ? DateTimeOffset.UtcNow + options.GracePeriod : null;
    }

    public ByteRangeLockTable<LockedFile> Locks => _locks;
    public ShareReservationTable<LockedFile> Shares => _shares;
    public int State => _monitor.State;
    public string StateDirectory => _monitor.Directory;
    public IReadOnlyDictionary<string, int> MonitoredClients => _monitor.Monitored;
    public IReadOnlyList<(string Peer, int State)> PreviousClients => _monitor.PreviousClients;

    /// <summary>When the grace period ends (ended); null when this start had none.</summary>
    public DateTimeOffset? GraceEndsAt { get; }

    public bool InGrace => _graceEndsAt != 0 && Environment.TickCount64 < _graceEndsAt;

    /// <summary>Starts telling the previous run's clients that we restarted (in the background; never blocks).</summary>
    public void Start()
    {
        if (_monitor.PreviousClients.Count == 0) return;
        _log?.Invoke($"NLM: restarted with NSM state {State}: grace period of {_options.GracePeriod.TotalSeconds:0.#} s for " +
            $"{_monitor.PreviousClients.Count} client{(_monitor.PreviousClients.Count == 1 ? "" : "s")} to reclaim their locks " +
            $"({string.Join(", ", _monitor.PreviousClients.Select(c => c.Peer))})");
        var deadline = GraceEndsAt ?? DateTimeOffset.UtcNow;
        RunInBackground(token => _monitor.NotifyPreviousClientsAsync(_callbacks, _options.ServerName, deadline, _options.RetryDelay, token));
    }

    // ---- NLM operations ---------------------------------------------------------------------------------------------

    /// <summary>NLM4_FBIG for a range past 2^63−1 (as Linux), else null and the range.</summary>
    private static Nlm4Status? CheckRange(Nlm4Lock alock, out LockRange range)
    {
        range = default;
        if (LockRange.IsBeyondMaxOffset(alock.Offset, alock.Length)) return Nlm4Status.FileTooBig;
        range = LockRange.FromOffsetLength(alock.Offset, alock.Length);
        return null;
    }

    private static LockOwner OwnerOf(LockHost host, Nlm4Lock alock) => new(host, alock.Svid, alock.OwnerHandle);

    public (Nlm4Status Status, HeldLock<LockedFile>? Holder) Test(LockedFile file, LockHost host, bool exclusive, Nlm4Lock alock)
    {
        if (CheckRange(alock, out var range) is { } bad) return (bad, null);
        if (InGrace) return (Nlm4Status.DeniedGracePeriod, null);
        var holder = _locks.Test(file, OwnerOf(host, alock), range, exclusive);
        return holder is null ? (Nlm4Status.Granted, null) : (Nlm4Status.Denied, holder);
    }

    /// <summary>LOCK (and NM_LOCK, with <paramref name="monitored"/> false: no NSM monitoring, never queued).</summary>
    public Nlm4Status Lock(LockedFile file, LockHost host, Nlm4LockArgs args, bool monitored)
    {
        if (CheckRange(args.Lock, out var range) is { } bad) return bad;
        bool inGrace = InGrace;
        if (inGrace != args.Reclaim) return Nlm4Status.DeniedGracePeriod;
        if (monitored)
        {
            RememberState(host, args.State);
            try
            {
                _monitor.Monitor(AddressString(host.Address), args.State);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log?.Invoke($"NLM: cannot monitor {host} in {_monitor.Directory}, so no lock for it: {e.Message}");
                return Nlm4Status.DeniedNoLocks;
            }
        }
        var owner = OwnerOf(host, args.Lock);
        // Reclaims are granted or refused at once: there is nothing to wait for among reclaims.
        bool wait = args.Block && monitored && !args.Reclaim;
        var decision = _locks.Lock(file, owner, range, args.Exclusive, wait, new GrantTarget(args.Cookie, args.Lock, args.Exclusive));
        switch (decision.Outcome)
        {
            case LockOutcome.Granted:
                Settle(file, owner, g => g.Range == range && g.Exclusive == args.Exclusive);
                return Nlm4Status.Granted;
            case LockOutcome.Blocked:
                return Nlm4Status.Blocked;
            case LockOutcome.Deadlock:
                return Nlm4Status.Deadlock;
            case LockOutcome.NoLocks:
                _log?.Invoke($"NLM: {host} is at its lock limit (or the server is): NLM4_DENIED_NOLOCKS for {range} of {file}");
                return Nlm4Status.DeniedNoLocks;
            default:
                return Nlm4Status.Denied;
        }
    }

    public Nlm4Status Unlock(LockedFile file, LockHost host, Nlm4Lock alock)
    {
        if (CheckRange(alock, out var range) is { } bad) return bad;
        var owner = OwnerOf(host, alock);
        Settle(file, owner, g => g.Range.Overlaps(range));
        Deliver(_locks.Unlock(file, owner, range).Granted);
        return Nlm4Status.Granted;
    }

    public Nlm4Status Cancel(LockedFile file, LockHost host, bool exclusive, Nlm4Lock alock)
    {
        if (CheckRange(alock, out var range) is { } bad) return bad;
        return _locks.Cancel(file, OwnerOf(host, alock), range, exclusive) ? Nlm4Status.Granted : Nlm4Status.Denied;
    }

    public Nlm4Status Share(LockedFile file, LockHost host, Nlm4ShareArgs args)
    {
        if (InGrace != args.Reclaim) return Nlm4Status.DeniedGracePeriod;
        return _shares.Share(file, host, args.OwnerHandle, args.Access, args.Mode);
    }

    public Nlm4Status Unshare(LockedFile file, LockHost host, Nlm4ShareArgs args)
    {
        _shares.Unshare(file, host, args.OwnerHandle);
        return Nlm4Status.Granted;
    }

    /// <summary>FREE_ALL: every lock, waiter and share of the host (name, address) goes; no reply is owed.</summary>
    public void FreeAll(string name, IPAddress sender)
    {
        var host = new LockHost(name, sender);
        Release(h => h == host, $"FREE_ALL from {host}");
    }

    /// <summary>
    /// SM_NOTIFY received: host <paramref name="monName"/> restarted with NSM state <paramref name="state"/>. Its
    /// locks are released — the hosts known by that caller_name or address whose last reported state differs —
    /// but only when the notification comes from that host's own address (as statd checks), so nobody else can
    /// free a client's locks.
    /// </summary>
    public void HandleRebootNotification(IPAddress sender, string monName, int state)
    {
        if (_monitor.IsOwnAnnouncement(monName, state)) return;
        var known = _locks.Hosts.Concat(_shares.Reservations.Select(s => s.Host)).Concat(_hostStates.Keys)
            .Where(h => h.Name == monName || AddressString(h.Address) == monName).Distinct().ToList();
        var fromElsewhere = known.Where(h => !h.Address.Equals(sender)).ToList();
        if (fromElsewhere.Count > 0)
            _log?.Invoke($"NSM: ignored SM_NOTIFY for {monName} from {sender}: it is not the address of {string.Join(", ", fromElsewhere)}");
        var rebooted = known.Where(h => h.Address.Equals(sender) && (!_hostStates.TryGetValue(h, out int s) || s != state)).ToHashSet();
        if (rebooted.Count == 0)
        {
            if (known.Count == 0) _log?.Invoke($"NSM: SM_NOTIFY for {monName} (state {state}) from {sender}: no locks of that host");
            return;
        }
        Release(rebooted.Contains, $"SM_NOTIFY: {monName} restarted (state {state})");
    }

    private void Release(Func<LockHost, bool> match, string why)
    {
        foreach (var pending in _pendingGrants.Keys)
        {
            if (match(pending.Granted.Owner.Host)) pending.Settled = true;
        }
        var release = _locks.ReleaseHosts(match);
        int shares = _shares.ReleaseHosts(match);
        var hosts = _hostStates.Keys.Where(match).ToList();
        foreach (var host in hosts) _hostStates.TryRemove(host, out _);
        // A client address none of whose hosts holds anything any more is not monitored any more.
        var stillThere = _locks.Hosts.Concat(_shares.Reservations.Select(s => s.Host)).Select(h => AddressString(h.Address)).ToHashSet();
        foreach (string address in hosts.Select(h => AddressString(h.Address)).Distinct())
        {
            if (!stillThere.Contains(address)) _monitor.Unmonitor(address);
        }
        _log?.Invoke($"NLM: {why}: released {release.Locks} lock{(release.Locks == 1 ? "" : "s")}, {release.Queued} waiting " +
            $"request{(release.Queued == 1 ? "" : "s")} and {shares} share{(shares == 1 ? "" : "s")}");
        Deliver(release.Granted);
    }

    private void RememberState(LockHost host, int state)
    {
        _hostStates[host] = state;
        if (_hostStates.Count <= HostStatesPruneThreshold) return;
        // Forget the states of hosts that hold nothing any more, so a stream of one-off clients cannot grow this.
        var active = _locks.Hosts.Concat(_shares.Reservations.Select(s => s.Host)).ToHashSet();
        foreach (var known in _hostStates.Keys)
        {
            if (!active.Contains(known) && known != host) _hostStates.TryRemove(known, out _);
        }
    }

    private static string AddressString(IPAddress address) => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    // ---- GRANTED call-backs -----------------------------------------------------------------------------------------

    private void Settle(LockedFile file, LockOwner owner, Func<QueuedLock<LockedFile>, bool> match)
    {
        foreach (var pending in _pendingGrants.Keys)
        {
            var granted = pending.Granted;
            if (granted.File == file && granted.Owner == owner && match(granted)) pending.Settled = true;
        }
    }

    private void Deliver(IReadOnlyList<QueuedLock<LockedFile>> granted)
    {
        foreach (var lockGranted in granted)
        {
            var pending = new PendingGrant(lockGranted);
            _pendingGrants[pending] = 0;
            RunInBackground(async token =>
            {
                try
                {
                    await DeliverGrantAsync(pending, token).ConfigureAwait(false);
                }
                finally
                {
                    _pendingGrants.TryRemove(pending, out _);
                }
            });
        }
    }

    private async Task DeliverGrantAsync(PendingGrant pending, CancellationToken cancellationToken)
    {
        var granted = pending.Granted;
        var target = (GrantTarget)granted.Tag!;
        string? failure = null;
        int attempts = 0;
        for (int attempt = 1; attempt <= _options.GrantAttempts && !pending.Settled; attempt++)
        {
            attempts = attempt;
            try
            {
                var status = await SendGrantedAsync(granted.Owner.Host, target, cancellationToken).ConfigureAwait(false);
                if (status == Nlm4Status.Granted)
                {
                    _log?.Invoke($"NLM: granted waiting {granted}; the client confirmed GRANTED");
                    return;
                }
                failure = $"the client answered GRANTED with {status.WireName()}";
                if (status != Nlm4Status.DeniedGracePeriod) break;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (e.Message != failure)
                    _log?.Invoke($"NLM: GRANTED call-back for {granted} failed (attempt {attempt} of {_options.GrantAttempts}): {e.Message}");
                failure = e.Message;
                if (e is CallbackException { IsPermanent: true }) break;
            }
            if (attempt < _options.GrantAttempts && !pending.Settled)
                await Task.Delay(_options.RetryDelay, cancellationToken).ConfigureAwait(false);
        }
        if (pending.Settled) return;
        _log?.Invoke($"NLM: took back {granted} after {attempts} GRANTED attempt{(attempts == 1 ? "" : "s")}: {failure}");
        Deliver(_locks.Revert(granted).Granted);
    }

    /// <summary>GRANTED at the LOCK's source address, then at caller_name when it is another address.</summary>
    private async Task<Nlm4Status> SendGrantedAsync(LockHost host, GrantTarget target, CancellationToken cancellationToken)
    {
        var addresses = new List<IPAddress> { host.Address };
        if (IPAddress.TryParse(target.Lock.CallerName, out var named) && !named.Equals(host.Address)) addresses.Add(named);
        Exception? last = null;
        foreach (var address in addresses)
        {
            try
            {
                var endPoint = await _callbacks.ResolveAsync(address, Nlm4.Program, Nlm4.Version, cancellationToken).ConfigureAwait(false);
                await using var connection = _callbacks.Connect(endPoint);
                var result = await LockCallbacks.CallAsync(connection, Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Granted,
                    new Nlm4TestArgs(target.Cookie, target.Exclusive, target.Lock), Nlm4Result.Read, cancellationToken).ConfigureAwait(false);
                return result.Status;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                last = e;
            }
        }
        throw last!;
    }

    /// <summary>
    /// Sends the result of an NLM *_MSG call to the caller's lock manager as the matching *_RES call (procedure
    /// <paramref name="resultProcedure"/>), in the background; failures are logged, as the caller retransmits.
    /// </summary>
    public void SendResult<T>(IPAddress caller, Nlm4Procedure resultProcedure, T result) where T : IXdrWritable
    {
        if (Interlocked.Increment(ref _resultsInFlight) > MaxResultsInFlight)
        {
            Interlocked.Decrement(ref _resultsInFlight);
            _log?.Invoke($"NLM: {MaxResultsInFlight} *_RES messages are being sent already: none for {caller}'s {resultProcedure}");
            return;
        }
        RunInBackground(async token =>
        {
            try
            {
                var endPoint = await _callbacks.ResolveAsync(caller, Nlm4.Program, Nlm4.Version, token).ConfigureAwait(false);
                await using var connection = _callbacks.Connect(endPoint);
                await LockCallbacks.CallAsync(connection, Nlm4.Program, Nlm4.Version, (uint)resultProcedure, result, XdrVoid.Read, token)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log?.Invoke($"NLM: could not send {resultProcedure} to {caller}: {e.Message}");
            }
            finally
            {
                Interlocked.Decrement(ref _resultsInFlight);
            }
        });
    }

    // ---- background work --------------------------------------------------------------------------------------------

    private void RunInBackground(Func<CancellationToken, Task> work)
    {
        if (_stopping.IsCancellationRequested) return;
        var task = Task.Run(async () =>
        {
            try
            {
                await work(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                _log?.Invoke($"NLM: background work failed: {e.GetType().Name}: {e.Message}");
            }
        });
        _background[task] = 0;
        task.ContinueWith(t => _background.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>
    /// Stops call-backs and notifications in progress (waiting at most a few seconds for them). A clean stop also
    /// stops monitoring the clients that hold nothing now: they have nothing to reclaim, so the next start needs no
    /// grace period for them (after a crash nothing runs here, and every monitored client is told and waited for).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        var holding = _locks.Hosts.Concat(_shares.Reservations.Select(s => s.Host)).Concat(_locks.Queued.Select(q => q.Owner.Host))
            .Select(h => AddressString(h.Address)).ToHashSet();
        foreach (string idle in _monitor.Monitored.Keys.Where(address => !holding.Contains(address)).ToList())
            _monitor.Unmonitor(idle);
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_background.Keys).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _log?.Invoke("NLM: call-backs still running at shutdown were abandoned");
        }
    }
}
