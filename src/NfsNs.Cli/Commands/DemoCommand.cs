namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns demo</c>.</summary>
public sealed record DemoOptions : CommandOptions;

/// <summary>Runs the mission's demonstration: two namespaces, the same address, two servers with different content.</summary>
public static class DemoCommand
{
    public static Task RunAsync(DemoOptions options, CancellationToken cancellationToken) =>
        throw NotWrittenYet.Command("demo");
}
