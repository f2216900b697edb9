using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns cat</c>.</summary>
public sealed record CatOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }
}

/// <summary>Writes a file's bytes to standard output (<see cref="CliConsole.OpenBinaryOutput"/>).</summary>
public static class CatCommand
{
    public static Task RunAsync(CatOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("cat");
}
