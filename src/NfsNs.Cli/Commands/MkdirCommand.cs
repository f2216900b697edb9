using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns mkdir</c>.</summary>
public sealed record MkdirOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary><c>-p</c>: create missing parents; an existing directory is not an error.</summary>
    public bool Parents { get; init; }
}

/// <summary>Creates a directory.</summary>
public static class MkdirCommand
{
    public static Task RunAsync(MkdirOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("mkdir");
}
