using NfsNs.Protocols.Nfs3;
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
    public static async Task RunAsync(MkdirOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        string path = mount.PathInExport;
        if (!options.Parents)
        {
            await mount.CreateDirectoryAsync(path, cancellationToken: cancellationToken);
            return;
        }
        string current = "/";
        foreach (string component in NfsPath.Components(path))
        {
            current = NfsPath.Combine(current, component);
            try
            {
                await mount.CreateDirectoryAsync(current, cancellationToken: cancellationToken);
            }
            catch (Nfs3Exception e) when (e.Status == Nfs3Status.Exist)
            {
                var existing = await mount.GetAttributesAsync(current, cancellationToken);
                if (existing.Type != Nfs3FileType.Directory)
                    throw new Nfs3Exception(Nfs3Procedure.Mkdir, Nfs3Status.NotDir, mount.ServerPath(current));
            }
        }
    }
}
