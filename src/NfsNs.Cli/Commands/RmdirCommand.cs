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
    public static async Task RunAsync(RmdirOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        await mount.RemoveDirectoryAsync(mount.PathInExport, cancellationToken);
    }
}
