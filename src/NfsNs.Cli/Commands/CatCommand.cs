using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns cat</c>.</summary>
public sealed record CatOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }
}

/// <summary>Writes a file's bytes to standard output (<see cref="CliConsole.OpenBinaryOutput"/>).</summary>
public static class CatCommand
{
    public static async Task RunAsync(CatOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        await using var file = await mount.OpenReadAsync(mount.PathInExport, cancellationToken);
        var output = options.Console.OpenBinaryOutput();
        await file.CopyToAsync(output, 1 << 20, cancellationToken);
        await output.FlushAsync(cancellationToken);
    }
}
