using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns stat</c>.</summary>
public sealed record StatOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    public bool Json { get; init; }
}

/// <summary>Shows the attributes of one file.</summary>
public static class StatCommand
{
    public static Task RunAsync(StatOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("stat");
}
