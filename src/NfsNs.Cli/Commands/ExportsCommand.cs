using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns exports</c>.</summary>
public sealed record ExportsOptions : CommandOptions
{
    /// <summary>The server: a URL whose path is ignored (its query can give netns, mountport…).</summary>
    public required NfsUrl Server { get; init; }

    public bool Json { get; init; }
}

/// <summary>Lists a server's exports (MOUNT EXPORT).</summary>
public static class ExportsCommand
{
    public static Task RunAsync(ExportsOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("exports");
}
