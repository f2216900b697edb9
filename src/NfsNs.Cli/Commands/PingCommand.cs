using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns ping</c>.</summary>
public sealed record PingOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary>How many NULL calls to make.</summary>
    public int Count { get; init; } = DefaultCount;

    public const int DefaultCount = 4;
    public const int MaxCount = 1_000_000;
}

/// <summary>Calls the NFS NULL procedure and reports round-trip times.</summary>
public static class PingCommand
{
    public static Task RunAsync(PingOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("ping");
}
