using NfsNs.Client;
using NfsNs.Client.Locking;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>Two namespaces A and B, each with its own ganesha with NLM and rpc.statd at the same 127.0.0.1.</summary>
public sealed class GaneshaLockFixture : IAsyncLifetime
{
    public GaneshaSide A { get; private set; } = null!;
    public GaneshaSide B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        A = await GaneshaPairFixture.StartSideAsync("LA", new GaneshaOptions { EnableNlm = true });
        try
        {
            B = await GaneshaPairFixture.StartSideAsync("LB", new GaneshaOptions { EnableNlm = true });
        }
        catch
        {
            await GaneshaPairFixture.StopSideAsync(A);
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (B is not null) await GaneshaPairFixture.StopSideAsync(B);
        }
        finally
        {
            if (A is not null) await GaneshaPairFixture.StopSideAsync(A);
        }
    }
}

/// <summary>
/// Byte-range locks through NLM v4 against ganesha, client and server in one namespace at 127.0.0.1: the server's
/// own nlockmgr holds the namespace's rpcbind entry, so our GRANTED listener cannot be registered there and blocked
/// locks are polled (the call-back route is tested on the tenant network, where client and server are two hosts).
/// </summary>
public sealed class GaneshaLockingTests(GaneshaLockFixture fixture) : IClassFixture<GaneshaLockFixture>
{
    private static string Url(GaneshaSide side, string file) => $"nfs://127.0.0.1/export/{file}?netns={side.Namespace.Name}";

    private static async Task<(NfsMount Mount, NfsFileStream First, NfsFileStream Second)> OpenTwiceAsync(GaneshaSide side, string file)
    {
        File.WriteAllText(Path.Combine(side.ExportDirectory, file), "lock me\n");
        var mount = await NfsMount.MountAsync(Url(side, ""));
        return (mount, await mount.OpenWriteAsync(file, FileMode.Open), await mount.OpenWriteAsync(file, FileMode.Open));
    }

    [Fact]
    public async Task Exclusive_lock_blocks_another_owner_until_released()
    {
        var (mount, first, second) = await OpenTwiceAsync(fixture.A, "excl.lock");
        await using var _ = mount;
        await using var __ = first;
        await using var ___ = second;

        var held = await first.LockAsync();
        Assert.Null(await second.TryLockAsync());
        var holder = await second.TestLockAsync();
        Assert.NotNull(holder);
        Assert.True(holder!.Exclusive);
        Assert.Equal(first.LockOwner.Svid, holder.Svid);
        var conflict = await Assert.ThrowsAsync<NfsLockConflictException>(() => second.LockAsync(wait: false));
        Assert.Contains($"svid {first.LockOwner.Svid}", conflict.Message);

        var waiting = second.LockAsync(wait: true);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        await held.UnlockAsync();
        var granted = await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(granted.IsHeld);
        Assert.Null(await first.TryLockAsync(0, 10));
    }

    [Fact]
    public async Task Shared_locks_coexist_and_exclude_writers()
    {
        var (mount, first, second) = await OpenTwiceAsync(fixture.A, "shared.lock");
        await using var _ = mount;
        await using var __ = first;
        await using var ___ = second;
        await using var third = await mount.OpenReadAsync("shared.lock");

        await using var a = await first.LockAsync(0, 100, exclusive: false);
        await using var b = await second.LockAsync(50, 100, exclusive: false);
        Assert.Null(await third.TryLockAsync(exclusive: true));
        Assert.Null(await third.TryLockAsync(120, 1, exclusive: true));
        // Ranges that do not overlap never conflict.
        await using var c = await third.LockAsync(offset: 1 << 20, length: 10, exclusive: true, wait: false);
    }

    [Fact]
    public async Task The_same_path_through_B_is_another_server_and_another_lock()
    {
        var (mountA, firstA, _) = await OpenTwiceAsync(fixture.A, "ns.lock");
        var (mountB, firstB, _) = await OpenTwiceAsync(fixture.B, "ns.lock");
        await using var _a = mountA;
        await using var _b = mountB;
        await using var heldA = await firstA.LockAsync(wait: false);
        await using var heldB = await firstB.LockAsync(wait: false);
        Assert.NotEqual(mountA.Server.LockClient!.Connection.Describe(), mountB.Server.LockClient!.Connection.Describe());
    }

    [Fact]
    public async Task Closing_a_stream_releases_its_locks_and_cancelling_a_wait_withdraws_it()
    {
        var (mount, first, second) = await OpenTwiceAsync(fixture.A, "close.lock");
        await using var _ = mount;
        await using var __ = second;
        await first.LockAsync();
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.LockAsync(wait: true, cancellationToken: cancel.Token));
        await first.DisposeAsync();
        await using var now = await second.LockAsync(wait: false);
        Assert.Equal(0, mount.Server.LockClient!.LostLocks);
    }
}
