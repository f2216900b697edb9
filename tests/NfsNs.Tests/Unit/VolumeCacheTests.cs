using NfsNs.Client;
using NfsNs.Protocols.Nfs3;

namespace NfsNs.Tests.Unit;

/// <summary>A clock that moves only when told, for the attribute timeouts.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _ticks = TimeSpan.FromDays(1).Ticks;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() => _ticks;
    public void Advance(TimeSpan by) => _ticks += by.Ticks;
}

/// <summary>The timeout arithmetic of nfs(5)'s acregmin…acdirmax, and the attribute and LOOKUP caches of a volume, on a manual clock.</summary>
public class VolumeCacheTests
{
    private static readonly TimeSpan S = TimeSpan.FromSeconds(1);
    private static readonly NfsFileHandle Dir = new([1, 1]);
    private static readonly NfsFileHandle File1 = new([2, 1]);
    private static readonly NfsFileHandle File2 = new([2, 2]);

    private static Fattr3 Attributes(Nfs3FileType type = Nfs3FileType.Regular, ulong size = 10, uint mtime = 100, uint ctime = 100) =>
        new(type, 0x1A4, 1, 0, 0, size, size, default, Fsid: 7, FileId: 1, new NfsTime(mtime, 0), new NfsTime(mtime, 0), new NfsTime(ctime, 0));

    private static Fattr3 Directory(uint mtime = 100) => Attributes(Nfs3FileType.Directory, 4096, mtime, mtime);

    private static WccAttr Before(Fattr3 a) => new(a.Size, a.Mtime, a.Ctime);

    // ---- AttributeTimeouts ---------------------------------------------------------------------------------

    [Theory]
    [InlineData(Nfs3FileType.Regular, 0, 3)]
    [InlineData(Nfs3FileType.Regular, 2.5, 3)]
    [InlineData(Nfs3FileType.Regular, 10, 10)]
    [InlineData(Nfs3FileType.Regular, 59, 59)]
    [InlineData(Nfs3FileType.Regular, 3600, 60)]
    [InlineData(Nfs3FileType.Symlink, 0, 3)]
    [InlineData(Nfs3FileType.Directory, 0, 30)]
    [InlineData(Nfs3FileType.Directory, 45, 45)]
    [InlineData(Nfs3FileType.Directory, 3600, 60)]
    public void Default_timeout_is_the_time_unchanged_clamped_to_min_and_max(Nfs3FileType type, double unchangedSeconds, double expectedSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), AttributeTimeouts.Default.For(type, TimeSpan.FromSeconds(unchangedSeconds)));
    }

    [Fact]
    public void A_max_below_its_min_is_raised_to_it_and_zero_disables()
    {
        var odd = new AttributeTimeouts(10 * S, 5 * S, 1 * S, 2 * S);
        Assert.Equal(10 * S, odd.For(Nfs3FileType.Regular, TimeSpan.Zero));
        Assert.Equal(10 * S, odd.For(Nfs3FileType.Regular, 100 * S));
        Assert.Equal(2 * S, odd.For(Nfs3FileType.Directory, 100 * S));
        Assert.True(AttributeTimeouts.None.IsDisabled);
        Assert.False(AttributeTimeouts.Default.IsDisabled);
        Assert.Equal(TimeSpan.Zero, AttributeTimeouts.Uniform(TimeSpan.Zero).For(Nfs3FileType.Directory, 100 * S));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AttributeTimeouts(-S, S, S, S).Validate("options"));
    }

    // ---- AttributeCache ------------------------------------------------------------------------------------

    [Fact]
    public void Fresh_for_acregmin_then_longer_the_longer_the_file_stays_unchanged_and_back_to_min_after_a_change()
    {
        var time = new ManualTime();
        var cache = new AttributeCache(100, time);
        var timeouts = AttributeTimeouts.Default;
        cache.Observe(File1, Attributes(), 1);

        time.Advance(2.9 * S);
        Assert.True(cache.TryGetFresh(File1, timeouts, out _));
        time.Advance(0.1 * S);
        Assert.False(cache.TryGetFresh(File1, timeouts, out _)); // exactly acregmin old: expired

        // Revalidated unchanged 10 s after first seen: kept 10 s this time.
        time.Advance(7 * S);
        cache.Observe(File1, Attributes(), 2);
        time.Advance(9.9 * S);
        Assert.True(cache.TryGetFresh(File1, timeouts, out _));
        time.Advance(0.1 * S);
        Assert.False(cache.TryGetFresh(File1, timeouts, out _));

        // Unchanged for minutes: never more than acregmax.
        time.Advance(300 * S);
        cache.Observe(File1, Attributes(), 3);
        time.Advance(59.9 * S);
        Assert.True(cache.TryGetFresh(File1, timeouts, out _));
        time.Advance(0.1 * S);
        Assert.False(cache.TryGetFresh(File1, timeouts, out _));

        // A new mtime: back to acregmin.
        cache.Observe(File1, Attributes(mtime: 200, ctime: 200), 4);
        time.Advance(2.9 * S);
        Assert.True(cache.TryGetFresh(File1, timeouts, out var fresh));
        Assert.Equal(200u, fresh.Mtime.Seconds);
        time.Advance(0.1 * S);
        Assert.False(cache.TryGetFresh(File1, timeouts, out _));
    }

    [Fact]
    public void The_same_entry_is_fresh_or_not_depending_on_the_asking_mount_s_timeouts()
    {
        var time = new ManualTime();
        var cache = new AttributeCache(100, time);
        cache.Observe(File1, Attributes(), 1);
        time.Advance(5 * S);
        Assert.False(cache.TryGetFresh(File1, AttributeTimeouts.Default, out _));
        Assert.True(cache.TryGetFresh(File1, AttributeTimeouts.Uniform(30 * S), out _));
        Assert.False(cache.TryGetFresh(File1, AttributeTimeouts.None, out _));
        cache.Observe(File1, Attributes(), 2);
        Assert.False(cache.TryGetFresh(File1, AttributeTimeouts.None, out _)); // noac: not even at once
    }

    [Fact]
    public void Attributes_of_an_older_call_answered_late_do_not_overwrite_newer_ones_unless_visibly_newer()
    {
        var cache = new AttributeCache(100, new ManualTime());
        cache.Observe(File1, Attributes(size: 200, ctime: 150), sequence: 5);
        cache.Observe(File1, Attributes(size: 100, ctime: 140), sequence: 3);
        Assert.Equal(200ul, cache.Find(File1)!.Attributes.Size);
        cache.Observe(File1, Attributes(size: 100, ctime: 160), sequence: 4); // a later ctime: the server changed it since
        Assert.Equal(100ul, cache.Find(File1)!.Attributes.Size);
        cache.Observe(File1, Attributes(size: 300, ctime: 160), sequence: 2); // larger: writes went on
        Assert.Equal(300ul, cache.Find(File1)!.Attributes.Size);
    }

    [Fact]
    public void Our_own_change_keeps_the_generation_when_the_pre_operation_attributes_match_and_renews_it_otherwise()
    {
        var time = new ManualTime();
        var cache = new AttributeCache(100, time);
        var before = Directory(100);
        long generation = cache.Observe(Dir, before, 1).Generation;

        var after = Directory(101);
        cache.ObserveOwnChange(Dir, new WccData(Before(before), after), 2);
        Assert.Equal(generation, cache.Find(Dir)!.Generation);
        Assert.Equal(after, cache.Find(Dir)!.Attributes);

        // Someone else changed it between our view and our operation: pre-operation attributes differ.
        cache.ObserveOwnChange(Dir, new WccData(Before(Directory(150)), Directory(151)), 3);
        Assert.NotEqual(generation, cache.Find(Dir)!.Generation);
        Assert.Equal(151u, cache.Find(Dir)!.Attributes.Mtime.Seconds);

        // No pre-operation attributes: cannot tell, so it counts as changed.
        long third = cache.Find(Dir)!.Generation;
        cache.ObserveOwnChange(Dir, new WccData(null, Directory(152)), 4);
        Assert.NotEqual(third, cache.Find(Dir)!.Generation);

        // No post-operation attributes: nothing is known any more.
        cache.ObserveOwnChange(Dir, new WccData(Before(Directory(152)), null), 5);
        Assert.Null(cache.Find(Dir));
    }

    // ---- NfsVolume: LOOKUP cache ---------------------------------------------------------------------------

    private static NfsVolume Volume(ManualTime time, int capacity = 1000) => new(null, 7, time, capacity);

    [Fact]
    public void A_cached_name_is_used_while_its_directory_s_attributes_are_fresh_and_unchanged()
    {
        var time = new ManualTime();
        var volume = Volume(time);
        var timeouts = AttributeTimeouts.Default;
        volume.RememberLookup(Dir, "a", File1, Attributes(), Directory(100), "sys:0:0:", volume.BeginRequest());

        Assert.True(volume.TryLookup(Dir, "a", "sys:0:0:", timeouts, out var child, out var attributes));
        Assert.Equal(File1, child);
        Assert.Equal(10ul, attributes!.Size);
        Assert.False(volume.TryLookup(Dir, "b", "sys:0:0:", timeouts, out _, out _));

        // acdirmin (30 s) later the directory must be asked again...
        time.Advance(30 * S);
        Assert.False(volume.TryLookup(Dir, "a", "sys:0:0:", timeouts, out _, out _));
        // ...and when it is unchanged, its names are good again.
        volume.Remember(Dir, Directory(100), volume.BeginRequest());
        Assert.True(volume.TryLookup(Dir, "a", "sys:0:0:", timeouts, out _, out _));
        // A new mtime drops every name of the directory (nfs(5), "Directory entry caching").
        volume.Remember(Dir, Directory(200), volume.BeginRequest());
        Assert.False(volume.TryLookup(Dir, "a", "sys:0:0:", timeouts, out _, out _));
        Assert.False(volume.TryLookup(Dir, "a", "sys:0:0:", AttributeTimeouts.None, out _, out _));

        var stats = volume.Stats;
        Assert.Equal((2L, 4L), (stats.LookupHits, stats.LookupMisses));
    }

    [Fact]
    public void Cached_names_are_given_only_to_credentials_the_server_let_search_the_directory()
    {
        var volume = Volume(new ManualTime());
        volume.RememberLookup(Dir, "a", File1, Attributes(), Directory(), "sys:0:0:", volume.BeginRequest());
        Assert.False(volume.TryLookup(Dir, "a", "sys:1000:1000:", AttributeTimeouts.Default, out _, out _));
        volume.RememberLookup(Dir, "b", File2, Attributes(), Directory(), "sys:1000:1000:", volume.BeginRequest());
        Assert.True(volume.TryLookup(Dir, "a", "sys:1000:1000:", AttributeTimeouts.Default, out _, out _));

        // READDIRPLUS fills names without proving search permission.
        var other = new NfsFileHandle([9]);
        volume.Remember(other, Directory(), volume.BeginRequest());
        volume.RememberLookup(other, "x", File1, null, null, credential: null, volume.BeginRequest());
        Assert.False(volume.TryLookup(other, "x", "sys:0:0:", AttributeTimeouts.Default, out _, out _));
    }

    [Fact]
    public void Our_own_create_remove_and_rename_update_the_names_without_dropping_the_others()
    {
        var volume = Volume(new ManualTime());
        const string cred = "sys:0:0:";
        var dir = Directory(100);
        volume.RememberLookup(Dir, "a", File1, Attributes(), dir, cred, volume.BeginRequest());

        var afterCreate = Directory(101);
        volume.RememberCreated(Dir, new WccData(Before(dir), afterCreate), "b", File2, Attributes(size: 0), cred, volume.BeginRequest());
        Assert.True(volume.TryLookup(Dir, "a", cred, AttributeTimeouts.Default, out _, out _));
        Assert.True(volume.TryLookup(Dir, "b", cred, AttributeTimeouts.Default, out var b, out _));
        Assert.Equal(File2, b);

        var afterRename = Directory(102);
        volume.RememberRename(Dir, "b", Dir, "c", new RenameResult(new WccData(Before(afterCreate), afterRename), new WccData(Before(afterCreate), afterRename)),
            volume.BeginRequest());
        Assert.False(volume.TryLookup(Dir, "b", cred, AttributeTimeouts.Default, out _, out _));
        Assert.True(volume.TryLookup(Dir, "c", cred, AttributeTimeouts.Default, out var c, out _));
        Assert.Equal(File2, c);
        Assert.True(volume.TryLookup(Dir, "a", cred, AttributeTimeouts.Default, out _, out _));

        volume.RememberOwnChange(Dir, new WccData(Before(afterRename), Directory(103)), volume.BeginRequest());
        volume.Forget(Dir, "a");
        Assert.False(volume.TryLookup(Dir, "a", cred, AttributeTimeouts.Default, out _, out _));
        Assert.Null(volume.KnownAttributes(File1)); // its link count changed
        Assert.True(volume.TryLookup(Dir, "c", cred, AttributeTimeouts.Default, out _, out _));
    }

    [Fact]
    public void A_change_by_someone_else_seen_in_our_own_operation_s_wcc_drops_the_names()
    {
        var volume = Volume(new ManualTime());
        const string cred = "sys:0:0:";
        volume.RememberLookup(Dir, "a", File1, Attributes(), Directory(100), cred, volume.BeginRequest());
        // The directory was at mtime 150 when our CREATE ran: someone else changed it after we cached "a".
        volume.RememberCreated(Dir, new WccData(Before(Directory(150)), Directory(151)), "b", File2, null, cred, volume.BeginRequest());
        Assert.False(volume.TryLookup(Dir, "a", cred, AttributeTimeouts.Default, out _, out _));
        Assert.True(volume.TryLookup(Dir, "b", cred, AttributeTimeouts.Default, out _, out _));
    }

    [Fact]
    public void A_LOOKUP_answered_after_newer_news_of_its_directory_leaves_no_name_behind()
    {
        var volume = Volume(new ManualTime());
        const string cred = "sys:0:0:";
        volume.Remember(Dir, Directory(100), volume.BeginRequest());
        long lookupSent = volume.BeginRequest();
        volume.Remember(Dir, Directory(200), volume.BeginRequest()); // a newer reply: the directory changed meanwhile
        volume.RememberLookup(Dir, "a", File1, Attributes(), Directory(100), cred, lookupSent);
        Assert.Equal(200u, volume.KnownAttributes(Dir)!.Mtime.Seconds);
        Assert.False(volume.TryLookup(Dir, "a", cred, AttributeTimeouts.Default, out _, out _));

        // The same without directory attributes in the reply: only the call order tells.
        volume.RememberLookup(Dir, "b", File2, Attributes(), null, cred, lookupSent);
        Assert.False(volume.TryLookup(Dir, "b", cred, AttributeTimeouts.Default, out _, out _));
        volume.RememberLookup(Dir, "b", File2, Attributes(), null, cred, volume.BeginRequest());
        Assert.True(volume.TryLookup(Dir, "b", cred, AttributeTimeouts.Default, out _, out _));
    }

    // ---- bounds --------------------------------------------------------------------------------------------

    [Fact]
    public void The_lru_drops_the_least_recently_used()
    {
        var lru = new BoundedLru<int, string>(3);
        lru.Set(1, "a");
        lru.Set(2, "b");
        lru.Set(3, "c");
        Assert.True(lru.TryGetValue(1, out _)); // 1 is now the most recent; 2 the least
        lru.Set(4, "d");
        Assert.False(lru.TryGetValue(2, out _));
        Assert.True(lru.TryGetValue(1, out _));
        Assert.True(lru.TryGetValue(3, out _));
        Assert.Equal(3, lru.Count);
        Assert.Equal(1, lru.Evictions);
        lru.Set(3, "c2"); // replacing does not evict
        Assert.Equal(1, lru.Evictions);
        Assert.True(lru.TryGetValue(3, out var value));
        Assert.Equal("c2", value);
        Assert.True(lru.Remove(3));
        Assert.Equal(2, lru.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoundedLru<int, int>(0));
    }

    [Fact]
    public void A_volume_never_holds_more_than_its_capacity_however_many_names_go_through_it()
    {
        var volume = Volume(new ManualTime(), capacity: 1000);
        volume.Remember(Dir, Directory(), volume.BeginRequest());
        for (int i = 0; i < 100_000; i++)
        {
            var child = new NfsFileHandle(BitConverter.GetBytes(i));
            volume.RememberLookup(Dir, $"f{i}", child, Attributes(), Directory(), "sys:0:0:", volume.BeginRequest());
        }
        var stats = volume.Stats;
        Assert.True(stats.AttributesCached <= 1000, $"{stats.AttributesCached} attributes cached");
        Assert.True(stats.LookupsCached <= 1000, $"{stats.LookupsCached} names cached");
        Assert.True(stats.Evictions >= 2 * (100_000 - 1000), $"{stats.Evictions} evictions");
        // The directory is used on every step, so it is never the least recently used: the newest names still work.
        Assert.True(volume.TryLookup(Dir, "f99999", "sys:0:0:", AttributeTimeouts.Default, out _, out _));
        Assert.False(volume.TryLookup(Dir, "f0", "sys:0:0:", AttributeTimeouts.Default, out _, out _));
    }
}
