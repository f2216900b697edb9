using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns ls</c>.</summary>
public sealed record LsOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary><c>-l</c>: one line per entry with mode, links, owner, size and time (<see cref="Output.LsFormatter"/>).</summary>
    public bool Long { get; init; }

    /// <summary><c>-R</c>: list subdirectories too.</summary>
    public bool Recursive { get; init; }

    /// <summary><c>--json</c>: a JSON array of entries instead of text (<see cref="Output.Json"/>).</summary>
    public bool Json { get; init; }
}

/// <summary>Lists a directory (or shows one file) on an NFS server.</summary>
public static class LsCommand
{
    public static Task RunAsync(LsOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("ls");
}
