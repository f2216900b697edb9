namespace NfsNs.Rpc;

/// <summary>
/// How an <see cref="RpcConnection"/> waits, retransmits and reconnects. The timeout knobs follow mount(8):
/// <c>timeo</c> (<see cref="Timeout"/>), <c>retrans</c> (<see cref="Retransmits"/>) and <c>hard</c>/<c>soft</c>
/// (<see cref="Hard"/>).
/// </summary>
public sealed record RpcConnectionOptions
{
    /// <summary>The largest RPC header plus a 1 MiB READ/WRITE payload, with room to spare.</summary>
    public const int DefaultMaxRecordSize = 1024 * 1024 + 64 * 1024;

    /// <summary>Linux caps the linearly growing retransmission timeout at 600 s.</summary>
    public static readonly TimeSpan MaxRetransmitTimeout = TimeSpan.FromSeconds(600);

    public static RpcConnectionOptions Default { get; } = new();

    /// <summary>
    /// timeo: how long to wait for a reply before the connection is considered stuck and the call is retransmitted
    /// on a new connection. Grows by the same amount for each retransmission (timeo, 2·timeo, …, at most 600 s).
    /// 60 s is the TCP default of mount(8).
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>retrans: how many retransmissions a soft call gets before it fails with <see cref="RpcTimeoutException"/>.</summary>
    public int Retransmits { get; init; } = 2;

    /// <summary>hard: calls never time out, they retransmit until cancelled. soft: they fail after <see cref="Retransmits"/>.</summary>
    public bool Hard { get; init; } = true;

    /// <summary>Calls on the wire at once; further callers wait asynchronously for a slot.</summary>
    public int MaxInFlight { get; init; } = 64;

    /// <summary>A reply record larger than this closes the connection (it is never allocated).</summary>
    public int MaxRecordSize { get; init; } = DefaultMaxRecordSize;

    /// <summary>
    /// Open a new connection when one is lost. When false, losing the connection fails every pending and later call
    /// at once, and an expired timeo cannot be followed by a retransmission (that needs a new connection): a soft
    /// call still fails after retrans timeouts, a hard one keeps waiting on the same connection.
    /// </summary>
    public bool Reconnect { get; init; } = true;

    /// <summary>The wait before the second connect attempt; it doubles with each failure up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one connect attempt may take; null: the same as <see cref="Timeout"/>.</summary>
    public TimeSpan? ConnectTimeout { get; init; }

    internal TimeSpan EffectiveConnectTimeout => ConnectTimeout ?? Timeout;

    /// <summary>Receives one line per connection event (connect, loss and its reason, refused, dropped replies).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// Receives what a user of a hard mount must hear, like the kernel's "server not responding, still trying" and
    /// "server OK" lines: said once when calls reach a major timeout (timeo after retrans retransmissions) and once
    /// when the server answers again.
    /// </summary>
    public Action<string>? Warn { get; init; }

    internal void Validate()
    {
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "timeo must be positive");
        if (Retransmits < 0) throw new ArgumentOutOfRangeException(nameof(Retransmits), Retransmits, "retrans must not be negative");
        if (MaxInFlight <= 0) throw new ArgumentOutOfRangeException(nameof(MaxInFlight), MaxInFlight, "must be positive");
        if (MaxRecordSize < 64) throw new ArgumentOutOfRangeException(nameof(MaxRecordSize), MaxRecordSize, "too small for any reply");
        if (ConnectTimeout is { } connectTimeout && connectTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), connectTimeout, "must be positive");
        if (ReconnectDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReconnectDelay), ReconnectDelay, "must not be negative");
        if (MaxReconnectDelay < ReconnectDelay)
            throw new ArgumentOutOfRangeException(nameof(MaxReconnectDelay), MaxReconnectDelay, "must be at least ReconnectDelay");
    }

    /// <summary>The wait for the reply after <paramref name="timeoutsSoFar"/> timeouts: timeo·(n+1), at most 600 s.</summary>
    internal TimeSpan RetransmitTimeout(int timeoutsSoFar)
    {
        double ticks = (double)Timeout.Ticks * ((double)timeoutsSoFar + 1);
        return ticks >= MaxRetransmitTimeout.Ticks ? MaxRetransmitTimeout : TimeSpan.FromTicks((long)ticks);
    }
}
