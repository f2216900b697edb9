using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns mv</c>.</summary>
public sealed record MvOptions : CommandOptions
{
    public required NfsUrl Source { get; init; }

    /// <summary>On the same server and export as <see cref="Source"/> (NFS RENAME does not cross file systems).</summary>
    public required NfsUrl Destination { get; init; }
}

/// <summary>Renames a file or directory on one server.</summary>
public static class MvCommand
{
    public static async Task RunAsync(MvOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Source, cancellationToken);
        string destination = Remote.PathIn(mount, options.Destination);
        await mount.RenameAsync(mount.PathInExport, destination, cancellationToken);
    }
}
