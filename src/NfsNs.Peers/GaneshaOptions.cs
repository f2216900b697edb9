namespace NfsNs.Peers;

/// <summary>How a <see cref="GaneshaServer"/> is configured and how long it may take to start and stop.</summary>
public sealed record GaneshaOptions
{
    public static GaneshaOptions Default { get; } = new();

    /// <summary>Also run rpc.statd and enable ganesha's NLM v4 (port 32803), for lock tests.</summary>
    public bool EnableNlm { get; init; }

    /// <summary>Export read-only (Access_Type = RO) instead of read-write.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Bound on each daemon's start (until it answers on its port), with the log tail in the error.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long ganesha may take to exit after SIGTERM before it gets SIGKILL (it usually takes about 1 s).</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
