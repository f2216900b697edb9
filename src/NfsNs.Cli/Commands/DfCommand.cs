using NfsNs.Cli.Output;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns df</c>.</summary>
public sealed record DfOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    public bool Json { get; init; }
}

/// <summary>Shows the size and free space of the file system holding a path (FSSTAT).</summary>
public static class DfCommand
{
    public static async Task RunAsync(DfOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        var fs = await mount.FsStatAsync(mount.PathInExport, cancellationToken);
        ulong used = fs.TotalBytes - fs.FreeBytes;
        string source = $"{options.Url.Host}:{mount.ExportPath}";
        if (options.Json)
        {
            Json.Write(options.Console.Out, new
            {
                source,
                totalBytes = fs.TotalBytes,
                usedBytes = used,
                freeBytes = fs.FreeBytes,
                availableBytes = fs.AvailableBytes,
                totalFiles = fs.TotalFiles,
                freeFiles = fs.FreeFiles,
                availableFiles = fs.AvailableFiles,
                @namespace = mount.Namespace.ToString(),
            });
            return;
        }
        ulong kib(ulong bytes) => bytes / 1024;
        double percent = used + fs.AvailableBytes == 0 ? 0 : Math.Ceiling(100.0 * used / (used + fs.AvailableBytes));
        options.Console.Out.WriteLine($"{"Filesystem",-30} {"1K-blocks",12} {"Used",12} {"Available",12} {"Use%",5}");
        options.Console.Out.WriteLine($"{source,-30} {kib(fs.TotalBytes),12} {kib(used),12} {kib(fs.AvailableBytes),12} {percent,4}%");
    }
}
