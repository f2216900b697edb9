using NfsNs.Namespaces;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns ping</c>.</summary>
public sealed record PingOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary>How many NULL calls to make.</summary>
    public int Count { get; init; } = DefaultCount;

    public const int DefaultCount = 4;
    public const int MaxCount = 1_000_000;
}

/// <summary>Calls the NFS NULL procedure and reports round-trip times.</summary>
public static class PingCommand
{
    public static async Task RunAsync(PingOptions options, CancellationToken cancellationToken)
    {
        // NULL needs no file handle: connect to NFS directly, without MOUNT (which a server may refuse for "/").
        using var ns = options.Url.Netns is null ? null : NetworkNamespace.Open(options.Url.Netns);
        await using var connection = await NfsMount.ConnectNfsAsync(NfsMountOptions.FromUrl(options.Url, ns) with { Soft = true }, cancellationToken);
        var nfs = new Nfs3Client(new RpcProgramClient(connection, Nfs3.Program, Nfs3.Version, RpcCredentials.None));
        var o = options.Console.Out;
        o.WriteLine($"NULL calls to NFS v3 at {connection.Describe()}");
        var times = new List<double>(Math.Min(options.Count, 10_000));
        for (int i = 1; i <= options.Count; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            await nfs.NullAsync(cancellationToken);
            double ms = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (times.Count < 10_000) times.Add(ms);
            o.WriteLine($"seq={i} time={ms:0.000} ms");
        }
        o.WriteLine($"{options.Count} calls, rtt min/avg/max = {times.Min():0.000}/{times.Average():0.000}/{times.Max():0.000} ms");
    }
}
