using System.Net;
using NfsNs.Protocols.Nlm4;
using NfsNs.Server.Locking;

namespace NfsNs.Tests.Unit;

public sealed class ByteRangeLockTableTests
{
    private static readonly LockHost HostA = new("client-a", IPAddress.Parse("10.0.0.1"));
    private static readonly LockHost HostB = new("client-b", IPAddress.Parse("10.0.0.2"));
    private static readonly LockOwner A1 = Owner(HostA, 1);
    private static readonly LockOwner A2 = Owner(HostA, 2);
    private static readonly LockOwner B1 = Owner(HostB, 1);
    private const string F = "file";

    private static LockOwner Owner(LockHost host, int svid) => new(host, svid, new NetObj([(byte)svid, 0xAB]));

    private static LockRange R(ulong offset, ulong length) => LockRange.FromOffsetLength(offset, length);

    /// <summary>The table's locks as (svid@host, "[a, b)", exclusive) for compact asserts.</summary>
    private static List<string> Dump(ByteRangeLockTable<string> table) =>
        [.. table.Locks.Select(l => $"{l.Owner.Svid}@{l.Owner.Host.Name} {l.Range} {(l.Exclusive ? "X" : "S")}")];

    [Fact]
    public void Ranges_map_nlm_offsets_and_lengths()
    {
        Assert.Equal(new LockRange(10, 19), R(10, 10));
        Assert.Equal(new LockRange(10, LockRange.ToEnd), R(10, 0));
        Assert.Equal(0ul, R(10, 0).Length);
        Assert.Equal(10ul, R(10, 10).Length);
        // A range whose end passes 2^64-1 reaches to the end instead of wrapping around.
        Assert.Equal(new LockRange(ulong.MaxValue - 5, LockRange.ToEnd), R(ulong.MaxValue - 5, 100));
        Assert.Equal(new LockRange(1, LockRange.ToEnd), R(1, ulong.MaxValue));
        Assert.Equal("[10, 20)", R(10, 10).ToString());
        Assert.Equal("[10, end)", R(10, 0).ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => new LockRange(5, 4));

        Assert.False(LockRange.IsBeyondMaxOffset(0, 0));
        Assert.False(LockRange.IsBeyondMaxOffset(long.MaxValue, 1));
        Assert.False(LockRange.IsBeyondMaxOffset(long.MaxValue, 0));
        Assert.True(LockRange.IsBeyondMaxOffset(long.MaxValue, 2));
        Assert.True(LockRange.IsBeyondMaxOffset((ulong)long.MaxValue + 1, 0));
        Assert.True(LockRange.IsBeyondMaxOffset(1, ulong.MaxValue));

        Assert.True(R(0, 10).OverlapsOrTouches(R(10, 5)));
        Assert.False(R(0, 10).Overlaps(R(10, 5)));
        Assert.False(R(0, 10).OverlapsOrTouches(R(11, 5)));
        Assert.True(R(5, 0).Overlaps(R(ulong.MaxValue, 1)));
    }

    [Fact]
    public void A_range_without_others_leaves_the_uncovered_pieces()
    {
        Assert.Equal([R(0, 10)], R(0, 10).Without([]));
        Assert.Equal([R(0, 2), R(5, 5)], R(0, 10).Without([R(2, 3), R(50, 1)]));
        Assert.Equal([R(0, 2), R(8, 2)], R(0, 10).Without([R(4, 4), R(2, 3)]));
        Assert.Empty(R(0, 10).Without([R(0, 0)]));
        Assert.Equal([R(0, 1), R(20, 0)], R(0, 0).Without([R(1, 19)]));
        Assert.Equal([R(0, 5)], R(0, 0).Without([R(5, 0), R(7, 1)]));
    }

    [Fact]
    public void Shared_locks_coexist_and_exclusive_ones_conflict_with_other_owners_only()
    {
        var table = new ByteRangeLockTable<string>();
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A1, R(0, 100), exclusive: false, wait: false).Outcome);
        Assert.Equal(LockOutcome.Granted, table.Lock(F, B1, R(50, 100), exclusive: false, wait: false).Outcome);
        // Same host, other process: a different owner.
        var denied = table.Lock(F, A2, R(90, 1), exclusive: true, wait: false);
        Assert.Equal(LockOutcome.Denied, denied.Outcome);
        Assert.Equal(A1, denied.Conflict!.Owner);
        Assert.Null(table.Test(F, A2, R(200, 0), exclusive: true));
        Assert.Null(table.Test(F, A1, R(0, 50), exclusive: true)); // its own shared lock does not conflict
        // The first conflict by start is reported.
        var holder = table.Test(F, A2, R(0, 0), exclusive: true);
        Assert.Equal((A1, R(0, 100), false), (holder!.Owner, holder.Range, holder.Exclusive));
        Assert.Equal(B1, table.Test(F, A2, R(100, 10), exclusive: true)!.Owner);
        // Another file is independent.
        Assert.Equal(LockOutcome.Granted, table.Lock("other", B1, R(0, 0), exclusive: true, wait: false).Outcome);
    }

    [Fact]
    public void Same_owner_locks_merge_split_upgrade_and_downgrade()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock(F, A1, R(0, 10), false, false);
        table.Lock(F, A1, R(10, 10), false, false);   // touching: merges
        table.Lock(F, A1, R(5, 10), false, false);    // inside: nothing changes
        Assert.Equal(["1@client-a [0, 20) S"], Dump(table));

        table.Lock(F, A1, R(5, 5), true, false);      // upgrade the middle: splits into three
        Assert.Equal(["1@client-a [0, 5) S", "1@client-a [5, 10) X", "1@client-a [10, 20) S"], Dump(table));

        table.Lock(F, A1, R(5, 5), false, false);     // downgrade again: merges back into one
        Assert.Equal(["1@client-a [0, 20) S"], Dump(table));

        table.Unlock(F, A1, R(8, 4));                 // unlock a sub-range: splits
        Assert.Equal(["1@client-a [0, 8) S", "1@client-a [12, 20) S"], Dump(table));
        Assert.Equal(2, table.LockCountOf(HostA));

        table.Lock(F, A1, R(0, 0), true, false);      // exclusive to the end swallows both
        Assert.Equal(["1@client-a [0, end) X"], Dump(table));
        table.Unlock(F, A1, R(100, 0));
        Assert.Equal(["1@client-a [0, 100) X"], Dump(table));

        var release = table.Unlock(F, A1, R(0, 0));
        Assert.Equal(1, release.Locks);
        Assert.Empty(table.Locks);
        Assert.Empty(table.Hosts);
        Assert.Equal(0, table.LockCount);
        // Unlocking what is not held is no error.
        Assert.Equal(0, table.Unlock(F, A1, R(0, 0)).Locks);
    }

    [Fact]
    public void An_upgrade_that_conflicts_keeps_the_shared_lock()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock(F, A1, R(0, 10), false, false);
        table.Lock(F, B1, R(5, 10), false, false);
        Assert.Equal(LockOutcome.Denied, table.Lock(F, A1, R(0, 10), true, false).Outcome);
        Assert.Equal(["1@client-a [0, 10) S", "1@client-b [5, 15) S"], Dump(table));
    }

    [Fact]
    public void Reverting_a_grant_puts_back_what_the_owner_held_in_its_range()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock(F, A1, R(0, 10), true, false);    // exclusive, to become shared by a shared grant
        table.Lock(F, A1, R(20, 10), false, false);  // shared, inside the range
        table.Lock(F, A1, R(95, 20), true, false);   // reaching out of the range
        table.Lock(F, B1, R(50, 5), true, false);
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, A1, R(0, 100), false, true).Outcome);
        var granted = Assert.Single(table.Unlock(F, B1, R(50, 5)).Granted);
        Assert.Equal(["1@client-a [0, 100) S", "1@client-a [100, 115) X"], Dump(table));
        // Meanwhile another owner shares [5, 6): A's exclusive [0, 10) can only come back shared.
        table.Lock(F, B1, R(5, 1), false, false);

        table.Revert(granted);
        Assert.Equal(["1@client-a [0, 10) S", "1@client-b [5, 6) S", "1@client-a [20, 30) S", "1@client-a [95, 115) X"], Dump(table));
        table.Unlock(F, B1, R(5, 1));
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A2, R(10, 10), true, false).Outcome); // the rest of the range is free again
    }

    [Fact]
    public void Blocked_requests_are_granted_in_fifo_order_once_the_conflict_goes()
    {
        var table = new ByteRangeLockTable<string>();
        var a2 = Owner(HostA, 2);
        var b2 = Owner(HostB, 2);
        table.Lock(F, A1, R(0, 100), true, false);
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, B1, R(0, 10), true, true, tag: "first").Outcome);
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, a2, R(5, 10), true, true, tag: "second").Outcome);
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, b2, R(50, 10), false, true, tag: "third").Outcome);
        // Asking again (a client's re-poll) does not queue twice.
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, B1, R(0, 10), true, true, tag: "again").Outcome);
        Assert.Equal(3, table.QueuedCount);

        // Releasing [0, 50) frees the first; the second still conflicts with it; the third still waits for A1.
        var release = table.Unlock(F, A1, R(0, 50));
        Assert.Equal(["first"], release.Granted.Select(g => (string)g.Tag!));
        Assert.Equal(B1, table.Test(F, a2, R(5, 10), true)!.Owner);

        release = table.Unlock(F, A1, R(0, 0));
        Assert.Equal(["third"], release.Granted.Select(g => (string)g.Tag!));
        release = table.Unlock(F, B1, R(0, 0));
        Assert.Equal(["second"], release.Granted.Select(g => (string)g.Tag!));
        Assert.Equal(0, table.QueuedCount);
        // A re-poll of a request already granted is simply granted (the owner holds it).
        Assert.Equal(LockOutcome.Granted, table.Lock(F, a2, R(5, 10), true, true).Outcome);
        Assert.Equal(["2@client-a [5, 15) X", "2@client-b [50, 60) S"], Dump(table));
    }

    [Fact]
    public void A_request_granted_directly_drops_its_queued_copy()
    {
        var table = new ByteRangeLockTable<string>(new ByteRangeLockLimits { MaxLocksPerHost = 1 });
        table.Lock(F, A1, R(0, 10), true, false);
        table.Lock(F, B1, R(100, 10), true, false);
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, B1, R(0, 10), true, true).Outcome);
        // B's host is at its limit of one range, so the release cannot grant the waiter…
        Assert.Empty(table.Unlock(F, A1, R(0, 0)).Granted);
        Assert.Equal(1, table.QueuedCount);
        // …until B frees a range; then B asks again and gets it directly, and the queued copy is gone.
        table.Unlock(F, B1, R(100, 10));
        Assert.Equal(LockOutcome.Granted, table.Lock(F, B1, R(0, 10), true, true).Outcome);
        Assert.Equal(0, table.QueuedCount);
    }

    [Fact]
    public void Cancel_removes_only_an_exactly_matching_queued_request()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock(F, A1, R(0, 0), true, false);
        table.Lock(F, B1, R(0, 10), true, true);
        Assert.False(table.Cancel(F, B1, R(0, 10), exclusive: false));
        Assert.False(table.Cancel(F, B1, R(0, 11), exclusive: true));
        Assert.False(table.Cancel(F, Owner(HostB, 9), R(0, 10), exclusive: true));
        Assert.True(table.Cancel(F, B1, R(0, 10), exclusive: true));
        Assert.False(table.Cancel(F, B1, R(0, 10), exclusive: true));
        Assert.Empty(table.Unlock(F, A1, R(0, 0)).Granted);
        Assert.Empty(table.Hosts);
    }

    [Fact]
    public void Releasing_a_host_drops_its_locks_and_waiters_and_grants_others()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock(F, A1, R(0, 10), true, false);
        table.Lock(F, A2, R(20, 10), true, false);
        table.Lock("g", A1, R(0, 0), false, false);
        table.Lock(F, B1, R(0, 0), true, true, tag: "b");
        table.Lock("h", B1, R(0, 0), true, false);
        Assert.Equal(LockOutcome.Blocked, table.Lock("h", Owner(HostA, 3), R(0, 0), true, true).Outcome);

        var release = table.ReleaseHost(HostA);
        Assert.Equal(3, release.Locks);
        Assert.Equal(1, release.Queued);
        Assert.Equal(["b"], release.Granted.Select(g => (string)g.Tag!));
        Assert.Equal([HostB], table.Hosts);
        Assert.Equal(["1@client-b [0, end) X", "1@client-b [0, end) X"], Dump(table));
        Assert.Equal(0, table.LockCountOf(HostA));
    }

    [Fact]
    public void Limits_answer_no_locks()
    {
        var table = new ByteRangeLockTable<string>(new ByteRangeLockLimits { MaxLocksPerHost = 2, MaxLocks = 3, MaxQueuedPerHost = 1, MaxQueued = 1 });
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A1, R(0, 1), true, false).Outcome);
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A1, R(10, 1), true, false).Outcome);
        Assert.Equal(LockOutcome.NoLocks, table.Lock(F, A1, R(20, 1), true, false).Outcome);
        // Merging does not add a range, so it still fits.
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A1, R(1, 1), true, false).Outcome);
        Assert.Equal(LockOutcome.Granted, table.Lock(F, B1, R(100, 1), true, false).Outcome);
        Assert.Equal(LockOutcome.NoLocks, table.Lock(F, B1, R(200, 1), true, false).Outcome); // table-wide limit
        Assert.Equal(LockOutcome.Blocked, table.Lock(F, B1, R(0, 1), true, true).Outcome);
        Assert.Equal(LockOutcome.NoLocks, table.Lock(F, Owner(HostB, 2), R(0, 1), true, true).Outcome);
        // An unlock that splits may pass the limit: releasing must never fail.
        Assert.Equal(LockOutcome.Granted, table.Lock(F, A1, R(10, 5), true, false).Outcome);
        table.Unlock(F, A1, R(12, 1));
        Assert.Equal(3, table.LockCountOf(HostA));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ByteRangeLockTable<string>(new ByteRangeLockLimits { MaxLocks = 0 }));
    }

    [Fact]
    public void Waiting_in_a_cycle_is_a_deadlock()
    {
        var table = new ByteRangeLockTable<string>();
        table.Lock("x", A1, R(0, 1), true, false);
        table.Lock("y", B1, R(0, 1), true, false);
        Assert.Equal(LockOutcome.Blocked, table.Lock("y", A1, R(0, 1), true, true).Outcome);   // A1 waits for B1
        Assert.Equal(LockOutcome.Deadlock, table.Lock("x", B1, R(0, 1), true, true).Outcome);  // B1 would wait for A1
        // Three owners in a ring.
        var c = Owner(new LockHost("client-c", IPAddress.Parse("10.0.0.3")), 1);
        table.Lock("z", c, R(0, 1), true, false);
        table.Cancel("y", A1, R(0, 1), true);
        Assert.Equal(LockOutcome.Blocked, table.Lock("y", A1, R(0, 1), true, true).Outcome);   // A1 → B1
        Assert.Equal(LockOutcome.Blocked, table.Lock("z", B1, R(0, 1), true, true).Outcome);   // B1 → C
        Assert.Equal(LockOutcome.Deadlock, table.Lock("x", c, R(0, 1), true, true).Outcome);   // C → A1 closes it
        Assert.Equal(LockOutcome.Denied, table.Lock("x", c, R(0, 1), true, false).Outcome);    // not waiting: plain denial
    }
}

public sealed class ShareReservationTableTests
{
    private static readonly LockHost HostA = new("a", IPAddress.Parse("10.0.0.1"));
    private static readonly LockHost HostB = new("b", IPAddress.Parse("10.0.0.2"));
    private static readonly NetObj Oh1 = new([1]);
    private static readonly NetObj Oh2 = new([2]);

    [Fact]
    public void Access_and_deny_modes_conflict_across_owners_only()
    {
        var shares = new ShareReservationTable<string>(maxPerHost: 2);
        Assert.Equal(Nlm4Status.Granted, shares.Share("f", HostA, Oh1, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyWrite));
        Assert.Equal(Nlm4Status.Denied, shares.Share("f", HostB, Oh1, Nlm4ShareAccess.Write, Nlm4ShareMode.DenyNone));
        Assert.Equal(Nlm4Status.Denied, shares.Share("f", HostA, Oh2, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyNone)); // another owner on A
        Assert.Equal(Nlm4Status.Denied, shares.Share("f", HostB, Oh1, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyRead));     // would deny A's read
        Assert.Equal(Nlm4Status.Granted, shares.Share("f", HostB, Oh1, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyNone));
        Assert.Equal(Nlm4Status.Granted, shares.Share("g", HostB, Oh1, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyReadWrite));
        Assert.Equal(Nlm4Status.DeniedNoLocks, shares.Share("h", HostB, Oh1, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyNone));
        // The same owner's second SHARE replaces its first (no conflict with itself, no extra count).
        Assert.Equal(Nlm4Status.Granted, shares.Share("f", HostA, Oh1, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyNone));
        Assert.Equal(3, shares.Reservations.Count);
        Assert.True(shares.Unshare("f", HostA, Oh1));
        Assert.False(shares.Unshare("f", HostA, Oh1));
        Assert.Equal(2, shares.ReleaseHosts(h => h == HostB));
        Assert.Empty(shares.Reservations);
    }

    [Fact]
    public void The_table_is_bounded_however_many_names_one_address_uses()
    {
        var shares = new ShareReservationTable<string>(maxPerHost: 2, max: 3);
        var statuses = Enumerable.Range(0, 5).Select(i =>
            shares.Share("f", HostA with { Name = $"name-{i}" }, Oh1, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyNone)).ToList();
        Assert.Equal([Nlm4Status.Granted, Nlm4Status.Granted, Nlm4Status.Granted, Nlm4Status.DeniedNoLocks, Nlm4Status.DeniedNoLocks], statuses);
        // Replacing one's own reservation still works at the limit.
        Assert.Equal(Nlm4Status.Granted, shares.Share("f", HostA with { Name = "name-0" }, Oh1, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyNone));
    }
}
