namespace NfsNs.Server.Locking;

/// <summary>Bounds on what one <see cref="ByteRangeLockTable{TFile}"/> holds, so a client cannot exhaust the server.</summary>
public sealed record ByteRangeLockLimits
{
    public static ByteRangeLockLimits Default { get; } = new();

    /// <summary>Held lock ranges of one host (after merging); beyond, LOCK is NLM4_DENIED_NOLOCKS.</summary>
    public int MaxLocksPerHost { get; init; } = 4096;

    /// <summary>Held lock ranges of every host together.</summary>
    public int MaxLocks { get; init; } = 65536;

    /// <summary>Blocked requests one host may have waiting.</summary>
    public int MaxQueuedPerHost { get; init; } = 256;

    /// <summary>Blocked requests of every host together.</summary>
    public int MaxQueued { get; init; } = 4096;

    /// <summary>How many wait-for edges deadlock detection follows before giving up (and letting the request wait).</summary>
    public int MaxDeadlockSteps { get; init; } = 4096;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxLocksPerHost, nameof(MaxLocksPerHost));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxLocks, nameof(MaxLocks));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxQueuedPerHost, nameof(MaxQueuedPerHost));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxQueued, nameof(MaxQueued));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxDeadlockSteps, nameof(MaxDeadlockSteps));
    }
}

/// <summary>A lock held on a byte range of a file.</summary>
public sealed record HeldLock<TFile>(TFile File, LockOwner Owner, LockRange Range, bool Exclusive) where TFile : notnull;

/// <summary>
/// A blocked lock request waiting in its file's FIFO queue; once granted it is handed back (with its
/// <see cref="Tag"/>, which the lock manager uses to call the client back).
/// </summary>
public sealed class QueuedLock<TFile> where TFile : notnull
{
    internal QueuedLock(TFile file, LockOwner owner, LockRange range, bool exclusive, object? tag)
    {
        File = file;
        Owner = owner;
        Range = range;
        Exclusive = exclusive;
        Tag = tag;
    }

    public TFile File { get; }
    public LockOwner Owner { get; }
    public LockRange Range { get; }
    public bool Exclusive { get; }

    /// <summary>What the caller attached when queuing (for NLM: how to reach the client with GRANTED).</summary>
    public object? Tag { get; }

    /// <summary>Once granted: the owner's own locks the grant replaced in its range (see <see cref="ByteRangeLockTable{TFile}.Revert"/>).</summary>
    public IReadOnlyList<HeldLock<TFile>> Replaced { get; internal set; } = [];

    internal bool Matches(TFile file, LockOwner owner, LockRange range, bool exclusive) =>
        EqualityComparer<TFile>.Default.Equals(File, file) && Owner == owner && Range == range && Exclusive == exclusive;

    public override string ToString() => $"{(Exclusive ? "exclusive" : "shared")} {Range} of {File} for {Owner}";
}

public enum LockOutcome
{
    Granted,
    /// <summary>Another owner holds a conflicting lock (and the request did not ask to wait).</summary>
    Denied,
    /// <summary>Queued: it will be granted when the conflicts go away (or was queued already).</summary>
    Blocked,
    /// <summary>Waiting would close a cycle of owners waiting for each other.</summary>
    Deadlock,
    /// <summary>A host or table limit is reached.</summary>
    NoLocks,
}

/// <summary>The answer to a lock request: the outcome and, when denied or blocked, one lock that conflicts.</summary>
public readonly record struct LockDecision<TFile>(LockOutcome Outcome, HeldLock<TFile>? Conflict) where TFile : notnull;

/// <summary>What releasing locks did: how many ranges and queued requests went, and which waiters got their lock.</summary>
public sealed record LockRelease<TFile>(int Locks, int Queued, IReadOnlyList<QueuedLock<TFile>> Granted) where TFile : notnull
{
    public static LockRelease<TFile> None { get; } = new(0, 0, []);
}

/// <summary>
/// POSIX (fcntl) byte-range locks per file, as a lock manager keeps them for its clients:
/// <list type="bullet">
/// <item>shared locks of different owners coexist; an exclusive lock conflicts with every overlapping lock of
/// another owner;</item>
/// <item>an owner's own locks never conflict: a new lock replaces whatever the owner held in its range (upgrade,
/// downgrade), touching or overlapping locks of the same type merge, and unlocking any sub-range splits;</item>
/// <item>a request that may wait is queued per file and granted in FIFO order as conflicts go away — every call that
/// releases something returns the requests it granted, so the caller can tell their owners;</item>
/// <item>a request whose owner would wait for an owner that (transitively) waits for it is refused as a deadlock,
/// like fcntl's EDEADLK.</item>
/// </list>
/// Thread-safe (one lock around every operation); all results are snapshots.
/// </summary>
public sealed class ByteRangeLockTable<TFile> where TFile : notnull
{
    private sealed class FileState
    {
        public readonly List<HeldLock<TFile>> Held = [];
        public readonly List<QueuedLock<TFile>> Queue = [];
        public bool IsEmpty => Held.Count == 0 && Queue.Count == 0;
    }

    private sealed class HostCounts
    {
        public int Locks;
        public int Queued;
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<TFile, FileState> _files = [];
    private readonly Dictionary<LockHost, HostCounts> _hosts = [];
    private readonly ByteRangeLockLimits _limits;
    private int _lockCount;
    private int _queuedCount;

    public ByteRangeLockTable(ByteRangeLockLimits? limits = null)
    {
        _limits = limits ?? ByteRangeLockLimits.Default;
        _limits.Validate();
    }

    public ByteRangeLockLimits Limits => _limits;

    /// <summary>Every held lock, by file and start.</summary>
    public IReadOnlyList<HeldLock<TFile>> Locks
    {
        get
        {
            lock (_lock) return [.. _files.Values.SelectMany(f => f.Held).OrderBy(l => l.File.ToString(), StringComparer.Ordinal).ThenBy(l => l.Range.Start)];
        }
    }

    /// <summary>Every queued request, per file in FIFO order.</summary>
    public IReadOnlyList<QueuedLock<TFile>> Queued
    {
        get { lock (_lock) return [.. _files.Values.SelectMany(f => f.Queue)]; }
    }

    public int LockCount
    {
        get { lock (_lock) return _lockCount; }
    }

    public int QueuedCount
    {
        get { lock (_lock) return _queuedCount; }
    }

    /// <summary>The hosts that hold or wait for at least one lock.</summary>
    public IReadOnlyList<LockHost> Hosts
    {
        get { lock (_lock) return [.. _hosts.Keys]; }
    }

    /// <summary>How many lock ranges <paramref name="host"/> holds.</summary>
    public int LockCountOf(LockHost host)
    {
        lock (_lock) return _hosts.TryGetValue(host, out var counts) ? counts.Locks : 0;
    }

    /// <summary>
    /// TEST: the first lock (lowest start) of another owner that would conflict with <paramref name="owner"/> taking
    /// <paramref name="range"/> (exclusively or not), or null when it could be granted now.
    /// </summary>
    public HeldLock<TFile>? Test(TFile file, LockOwner owner, LockRange range, bool exclusive)
    {
        lock (_lock) return _files.TryGetValue(file, out var state) ? FirstConflict(state, owner, range, exclusive) : null;
    }

    /// <summary>
    /// LOCK: grants the range to <paramref name="owner"/> when no other owner's lock conflicts; otherwise denies it
    /// or, with <paramref name="wait"/>, queues it (once: asking again for a request already queued answers
    /// <see cref="LockOutcome.Blocked"/> without queuing a second copy). <paramref name="tag"/> goes with the
    /// queued request.
    /// </summary>
    public LockDecision<TFile> Lock(TFile file, LockOwner owner, LockRange range, bool exclusive, bool wait, object? tag = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (_lock)
        {
            var state = _files.TryGetValue(file, out var existing) ? existing : null;
            if (state is not null && FirstConflict(state, owner, range, exclusive) is { } conflict)
            {
                if (!wait) return new(LockOutcome.Denied, conflict);
                if (state.Queue.Exists(q => q.Matches(file, owner, range, exclusive))) return new(LockOutcome.Blocked, conflict);
                if (WouldDeadlock(owner, state, range, exclusive)) return new(LockOutcome.Deadlock, conflict);
                var counts = CountsOf(owner.Host, create: false);
                if (_queuedCount >= _limits.MaxQueued || (counts?.Queued ?? 0) >= _limits.MaxQueuedPerHost)
                    return new(LockOutcome.NoLocks, conflict);
                state.Queue.Add(new QueuedLock<TFile>(file, owner, range, exclusive, tag));
                CountsOf(owner.Host, create: true)!.Queued++;
                _queuedCount++;
                return new(LockOutcome.Blocked, conflict);
            }
            state ??= new FileState();
            if (!TryApply(file, state, owner, range, exclusive)) return new(LockOutcome.NoLocks, null);
            _files[file] = state;
            // A request of the same owner queued earlier for exactly this is satisfied now; granting it again later
            // would send a second GRANTED for one lock.
            RemoveQueued(state, q => q.Matches(file, owner, range, exclusive));
            return new(LockOutcome.Granted, null);
        }
    }

    /// <summary>
    /// UNLOCK: releases whatever <paramref name="owner"/> holds inside <paramref name="range"/> (splitting locks that
    /// reach beyond it; nothing held is not an error) and grants the queued requests that no longer conflict.
    /// </summary>
    public LockRelease<TFile> Unlock(TFile file, LockOwner owner, LockRange range)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (_lock)
        {
            if (!_files.TryGetValue(file, out var state)) return LockRelease<TFile>.None;
            int released = state.Held.Count(h => h.Owner == owner && h.Range.Overlaps(range));
            if (released > 0) Replace(state, owner, Carve(state, owner, range));
            var granted = GrantWaiters(file, state);
            Forget(file, state);
            return new(released, 0, granted);
        }
    }

    /// <summary>
    /// Takes back a lock granted to a waiter (its owner refused it, or could not be told) and puts back what the owner
    /// held in that range before — a request given up must not cost the owner the locks it already had there (a grant
    /// merges with them, fcntl style). Grants the queued requests that no longer conflict.
    /// </summary>
    public LockRelease<TFile> Revert(QueuedLock<TFile> granted)
    {
        ArgumentNullException.ThrowIfNull(granted);
        lock (_lock)
        {
            if (!_files.TryGetValue(granted.File, out var state)) return LockRelease<TFile>.None;
            var range = granted.Range;
            var mine = Carve(state, granted.Owner, range);
            foreach (var before in granted.Replaced)
            {
                var part = new LockRange(Math.Max(before.Range.Start, range.Start), Math.Min(before.Range.End, range.End));
                // Others may have taken shared locks there meanwhile, when the grant was shared: then it stays shared.
                bool exclusive = before.Exclusive && FirstConflict(state, granted.Owner, part, exclusive: true) is null;
                mine.Add(before with { Range = part, Exclusive = exclusive });
            }
            Replace(state, granted.Owner, mine);
            var waiters = GrantWaiters(granted.File, state);
            Forget(granted.File, state);
            return new(1, 0, waiters);
        }
    }

    /// <summary>CANCEL: removes the queued request that matches exactly; false when there is none.</summary>
    public bool Cancel(TFile file, LockOwner owner, LockRange range, bool exclusive)
    {
        ArgumentNullException.ThrowIfNull(owner);
        lock (_lock)
        {
            if (!_files.TryGetValue(file, out var state)) return false;
            bool removed = RemoveQueued(state, q => q.Matches(file, owner, range, exclusive)) > 0;
            Forget(file, state);
            return removed;
        }
    }

    /// <summary>Releases every lock and queued request of the hosts <paramref name="match"/> selects (a client rebooted).</summary>
    public LockRelease<TFile> ReleaseHosts(Func<LockHost, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (_lock)
        {
            int locks = 0, queued = 0;
            var granted = new List<QueuedLock<TFile>>();
            foreach (var (file, state) in _files.ToList())
            {
                queued += RemoveQueued(state, q => match(q.Owner.Host));
                var gone = state.Held.Where(l => match(l.Owner.Host)).ToList();
                foreach (var held in gone) RemoveHeld(state, held);
                locks += gone.Count;
                if (gone.Count > 0) granted.AddRange(GrantWaiters(file, state));
                Forget(file, state);
            }
            return new(locks, queued, granted);
        }
    }

    /// <summary>Releases every lock and queued request of <paramref name="host"/>.</summary>
    public LockRelease<TFile> ReleaseHost(LockHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return ReleaseHosts(h => h == host);
    }

    // ---- internals (all under _lock) -------------------------------------------------------------------------------

    private static bool Conflicts(HeldLock<TFile> held, LockOwner owner, LockRange range, bool exclusive) =>
        held.Owner != owner && (exclusive || held.Exclusive) && held.Range.Overlaps(range);

    private static HeldLock<TFile>? FirstConflict(FileState state, LockOwner owner, LockRange range, bool exclusive)
    {
        HeldLock<TFile>? first = null;
        foreach (var held in state.Held)
        {
            if (Conflicts(held, owner, range, exclusive) && (first is null || held.Range.Start < first.Range.Start)) first = held;
        }
        return first;
    }

    /// <summary>
    /// Whether <paramref name="owner"/> waiting for the holders of conflicting locks closes a cycle: some holder
    /// waits (through a queued request) for a lock of an owner that … waits for a lock of <paramref name="owner"/>.
    /// Follows at most <see cref="ByteRangeLockLimits.MaxDeadlockSteps"/> edges.
    /// </summary>
    private bool WouldDeadlock(LockOwner owner, FileState state, LockRange range, bool exclusive)
    {
        var pending = new Stack<LockOwner>(state.Held.Where(h => Conflicts(h, owner, range, exclusive)).Select(h => h.Owner).Distinct());
        var visited = new HashSet<LockOwner>();
        int steps = 0;
        while (pending.TryPop(out var holder))
        {
            if (holder == owner) return true;
            if (!visited.Add(holder)) continue;
            foreach (var (_, file) in _files)
            {
                foreach (var waiting in file.Queue)
                {
                    if (waiting.Owner != holder) continue;
                    foreach (var blocker in file.Held)
                    {
                        if (++steps > _limits.MaxDeadlockSteps) return false;
                        if (Conflicts(blocker, holder, waiting.Range, waiting.Exclusive)) pending.Push(blocker.Owner);
                    }
                }
            }
        }
        return false;
    }

    /// <summary>The owner's locks in <paramref name="state"/> with <paramref name="range"/> cut out of them.</summary>
    private static List<HeldLock<TFile>> Carve(FileState state, LockOwner owner, LockRange range)
    {
        var kept = new List<HeldLock<TFile>>();
        foreach (var held in state.Held)
        {
            if (held.Owner != owner) continue;
            if (!held.Range.Overlaps(range))
            {
                kept.Add(held);
                continue;
            }
            if (held.Range.Start < range.Start)
                kept.Add(held with { Range = new LockRange(held.Range.Start, range.Start - 1) });
            if (held.Range.End > range.End)
                kept.Add(held with { Range = new LockRange(range.End + 1, held.Range.End) });
        }
        return kept;
    }

    /// <summary>Sorts by start and merges neighbours of the same type that overlap or touch.</summary>
    private static List<HeldLock<TFile>> Coalesce(List<HeldLock<TFile>> locks)
    {
        locks.Sort((a, b) => a.Range.Start.CompareTo(b.Range.Start));
        var merged = new List<HeldLock<TFile>>(locks.Count);
        foreach (var held in locks)
        {
            if (merged.Count > 0 && merged[^1] is var last && last.Exclusive == held.Exclusive && last.Range.OverlapsOrTouches(held.Range))
            {
                merged[^1] = last with { Range = new LockRange(last.Range.Start, Math.Max(last.Range.End, held.Range.End)) };
                continue;
            }
            merged.Add(held);
        }
        return merged;
    }

    /// <summary>Gives <paramref name="owner"/> the range (no conflict checked here) unless that breaks a limit.</summary>
    private bool TryApply(TFile file, FileState state, LockOwner owner, LockRange range, bool exclusive)
    {
        var mine = Carve(state, owner, range);
        mine.Add(new HeldLock<TFile>(file, owner, range, exclusive));
        mine = Coalesce(mine);
        int delta = mine.Count - state.Held.Count(h => h.Owner == owner);
        if (delta > 0)
        {
            var counts = CountsOf(owner.Host, create: false);
            if (_lockCount + delta > _limits.MaxLocks || (counts?.Locks ?? 0) + delta > _limits.MaxLocksPerHost) return false;
        }
        Replace(state, owner, mine);
        return true;
    }

    /// <summary>Replaces the owner's locks in <paramref name="state"/> by <paramref name="mine"/>, keeping the counts.</summary>
    private void Replace(FileState state, LockOwner owner, List<HeldLock<TFile>> mine)
    {
        foreach (var held in state.Held.Where(h => h.Owner == owner).ToList()) RemoveHeld(state, held);
        foreach (var held in Coalesce(mine))
        {
            state.Held.Add(held);
            CountsOf(owner.Host, create: true)!.Locks++;
            _lockCount++;
        }
    }

    private void RemoveHeld(FileState state, HeldLock<TFile> held)
    {
        if (!state.Held.Remove(held)) return;
        _lockCount--;
        if (CountsOf(held.Owner.Host, create: false) is { } counts)
        {
            counts.Locks--;
            ForgetHost(held.Owner.Host, counts);
        }
    }

    private int RemoveQueued(FileState state, Predicate<QueuedLock<TFile>> match)
    {
        int removed = 0;
        for (int i = state.Queue.Count - 1; i >= 0; i--)
        {
            var queued = state.Queue[i];
            if (!match(queued)) continue;
            state.Queue.RemoveAt(i);
            removed++;
            _queuedCount--;
            if (CountsOf(queued.Owner.Host, create: false) is { } counts)
            {
                counts.Queued--;
                ForgetHost(queued.Owner.Host, counts);
            }
        }
        return removed;
    }

    /// <summary>Grants, in FIFO order, every queued request of the file that no longer conflicts (and fits the limits).</summary>
    private List<QueuedLock<TFile>> GrantWaiters(TFile file, FileState state)
    {
        var granted = new List<QueuedLock<TFile>>();
        foreach (var waiting in state.Queue.ToList())
        {
            // One over a limit now stays where it is in line; a later release may grant it.
            if (FirstConflict(state, waiting.Owner, waiting.Range, waiting.Exclusive) is not null) continue;
            var replaced = state.Held.Where(h => h.Owner == waiting.Owner && h.Range.Overlaps(waiting.Range)).ToList();
            if (!TryApply(file, state, waiting.Owner, waiting.Range, waiting.Exclusive)) continue;
            waiting.Replaced = replaced;
            RemoveQueued(state, q => ReferenceEquals(q, waiting));
            granted.Add(waiting);
        }
        return granted;
    }

    private HostCounts? CountsOf(LockHost host, bool create)
    {
        if (_hosts.TryGetValue(host, out var counts)) return counts;
        if (!create) return null;
        counts = new HostCounts();
        _hosts[host] = counts;
        return counts;
    }

    private void ForgetHost(LockHost host, HostCounts counts)
    {
        if (counts.Locks == 0 && counts.Queued == 0) _hosts.Remove(host);
    }

    private void Forget(TFile file, FileState state)
    {
        if (state.IsEmpty) _files.Remove(file);
    }
}
