using NfsNs.Cli.Output;
using NfsNs.Namespaces;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns exports</c>.</summary>
public sealed record ExportsOptions : CommandOptions
{
    /// <summary>The server: a URL whose path is ignored (its query can give netns, mountport…).</summary>
    public required NfsUrl Server { get; init; }

    public bool Json { get; init; }
}

/// <summary>Lists a server's exports (MOUNT EXPORT).</summary>
public static class ExportsCommand
{
    public static async Task RunAsync(ExportsOptions options, CancellationToken cancellationToken)
    {
        var url = options.Server;
        NetworkNamespace? ns = url.Netns is null ? null : NetworkNamespace.Open(url.Netns);
        try
        {
            // In "exports HOST:PORT" the port is MOUNT's (the only program EXPORT goes to); mountport= says the same.
            var mountOptions = NfsMountOptions.FromUrl(url, ns) with { MountPort = url.MountPort ?? url.Port };
            var exports = await NfsMount.ListExportsAsync(mountOptions, cancellationToken);
            if (options.Json)
            {
                Json.Write(options.Console.Out, exports.Select(e => new { directory = e.Directory, groups = e.Groups }).ToList());
                return;
            }
            options.Console.Out.WriteLine($"Export list for {url.Host}:");
            int width = exports.Count == 0 ? 0 : exports.Max(e => e.Directory.Length);
            foreach (var e in exports)
                options.Console.Out.WriteLine($"{e.Directory.PadRight(width)} {(e.Groups.Count == 0 ? "*" : string.Join(',', e.Groups))}");
        }
        finally
        {
            ns?.Dispose();
        }
    }
}
