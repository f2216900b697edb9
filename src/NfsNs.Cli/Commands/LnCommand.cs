using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns ln</c>.</summary>
public sealed record LnOptions : CommandOptions
{
    /// <summary><c>-s</c>: create a symbolic link whose content is <see cref="Target"/>.</summary>
    public bool Symbolic { get; init; }

    /// <summary>What was typed: with <c>-s</c> the link text, stored as is; else a URL to an existing file.</summary>
    public required string Target { get; init; }

    /// <summary>The hard link's existing file (null with <c>-s</c>).</summary>
    public NfsUrl? TargetUrl { get; init; }

    /// <summary>The link to create.</summary>
    public required NfsUrl Link { get; init; }
}

/// <summary>Creates a hard link or (with -s) a symbolic link.</summary>
public static class LnCommand
{
    public static async Task RunAsync(LnOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Link, cancellationToken);
        if (options.Symbolic)
        {
            await mount.SymlinkAsync(options.Target, mount.PathInExport, cancellationToken);
            return;
        }
        string existing = Remote.PathIn(mount, options.TargetUrl ?? throw new UsageException("ln: a hard link's target must be an nfs:// URL"));
        await mount.LinkAsync(existing, mount.PathInExport, cancellationToken);
    }
}
