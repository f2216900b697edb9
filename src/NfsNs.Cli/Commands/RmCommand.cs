using NfsNs.Protocols.Nfs3;
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
    public static async Task RunAsync(RmOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        string path = mount.PathInExport;
        var attributes = await mount.GetAttributesAsync(path, cancellationToken);
        if (attributes.Type != Nfs3FileType.Directory)
        {
            await mount.RemoveFileAsync(path, cancellationToken);
            return;
        }
        if (!options.Recursive)
            throw new Nfs3Exception(Nfs3Procedure.Remove, Nfs3Status.IsDir, mount.ServerPath(path));
        await RemoveTreeAsync(mount, path, cancellationToken);
    }

    /// <summary>Depth first: a directory's entries are read completely before any is removed, so cookies stay valid.</summary>
    private static async Task RemoveTreeAsync(NfsMount mount, string directory, CancellationToken cancellationToken)
    {
        var entries = new List<NfsDirectoryEntry>();
        await foreach (var entry in mount.ListAsync(directory, cancellationToken))
            if (entry.Name is not ("." or "..")) entries.Add(entry);
        foreach (var entry in entries)
        {
            string child = NfsPath.Combine(directory, entry.Name);
            var type = entry.Attributes?.Type ?? (await mount.GetAttributesAsync(child, cancellationToken)).Type;
            if (type == Nfs3FileType.Directory) await RemoveTreeAsync(mount, child, cancellationToken);
            else await mount.RemoveFileAsync(child, cancellationToken);
        }
        if (directory != "/") await mount.RemoveDirectoryAsync(directory, cancellationToken);
    }
}
