using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns rmdir</c>.</summary>
public sealed record RmdirOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }
}

/// <summary>Removes an empty directory.</summary>
public static class RmdirCommand
{
    public static Task RunAsync(RmdirOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("rmdir");
}
