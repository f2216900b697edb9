using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns df</c>.</summary>
public sealed record DfOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    public bool Json { get; init; }
}

/// <summary>Shows the size and free space of the file system holding a path (FSSTAT).</summary>
public static class DfCommand
{
    public static Task RunAsync(DfOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("df");
}
