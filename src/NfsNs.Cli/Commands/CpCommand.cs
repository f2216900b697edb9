using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns cp</c>.</summary>
public sealed record CpOptions : CommandOptions
{
    /// <summary>A URL or a local path; at least one of the two sides is a URL.</summary>
    public required FileLocation Source { get; init; }

    public required FileLocation Destination { get; init; }

    /// <summary><c>-r</c>: copy directories recursively.</summary>
    public bool Recursive { get; init; }
}

/// <summary>Copies between a URL and a local path, or between two URLs; shows a <see cref="Output.ProgressBar"/> on a terminal.</summary>
public static class CpCommand
{
    public static Task RunAsync(CpOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("cp");
}
