namespace NfsNs.Protocols.Nfs3;

/// <summary>
/// How <see cref="Nfs3Client"/> retries a procedure the server answered with NFS3ERR_JUKEBOX ("the file is being
/// brought back from slow storage; try again later", RFC 1813 §2.6). The delay starts at
/// <see cref="InitialDelay"/> and doubles up to <see cref="MaxDelay"/> (Linux waits a flat NFS_JUKEBOX_RETRY_TIME
/// of 5 s; starting lower answers quickly when the wait is short). After <see cref="MaxAttempts"/> calls in all,
/// the JUKEBOX status is thrown as an <see cref="Nfs3Exception"/>.
/// </summary>
public sealed record JukeboxPolicy
{
    public static readonly JukeboxPolicy Default = new();

    /// <summary>No retries: the first JUKEBOX is thrown.</summary>
    public static readonly JukeboxPolicy NoRetry = new() { MaxAttempts = 1 };

    public TimeSpan InitialDelay
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(InitialDelay), value, "must not be negative");
    } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxDelay
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(MaxDelay), value, "must not be negative");
    } = TimeSpan.FromSeconds(5);

    /// <summary>Calls made in all, the first included; at least 1.</summary>
    public int MaxAttempts
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxAttempts), value, "must be at least 1");
    } = 10;

    /// <summary>How long to wait after the <paramref name="attempt"/>-th call (1-based) was answered JUKEBOX.</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        var delay = InitialDelay;
        for (int i = 1; i < attempt && delay < MaxDelay; i++)
            delay = delay.Ticks > MaxDelay.Ticks / 2 ? MaxDelay : delay + delay;
        return delay < MaxDelay ? delay : MaxDelay;
    }
}
