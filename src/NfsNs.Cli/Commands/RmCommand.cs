using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns rm</c>.</summary>
public sealed record RmOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary><c>-r</c>: remove a directory and everything below it.</summary>
    public bool Recursive { get; init; }
}

/// <summary>Removes a file (or, with -r, a tree).</summary>
public static class RmCommand
{
    public static Task RunAsync(RmOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("rm");
}
