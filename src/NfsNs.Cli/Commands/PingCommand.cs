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
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        var o = options.Console.Out;
        o.WriteLine($"NULL calls to NFS v3 at {mount.NfsEndPoint} in network namespace {mount.Namespace}");
        var times = new List<double>(Math.Min(options.Count, 10_000));
        for (int i = 1; i <= options.Count; i++)
        {
            double ms = (await mount.PingAsync(cancellationToken)).TotalMilliseconds;
            if (times.Count < 10_000) times.Add(ms);
            o.WriteLine($"seq={i} time={ms:0.000} ms");
        }
        o.WriteLine($"{options.Count} calls, rtt min/avg/max = {times.Min():0.000}/{times.Average():0.000}/{times.Max():0.000} ms");
    }
}
