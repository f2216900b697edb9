using NfsNs.Cli;

namespace NfsNs.Tests.Integration;

/// <summary>The README's main command, run in-process: it must succeed and leave nothing behind.</summary>
[Trait("Category", "Integration")]
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_reads_two_servers_at_one_address_and_cleans_up()
    {
        static IEnumerable<string> DemoNamespaces() =>
            Directory.Exists("/run/netns") ? Directory.GetFiles("/run/netns", "nfsns-demo-*") : [];
        var before = DemoNamespaces().ToHashSet();
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await NfsNsCli.RunAsync(["demo"], output, error);
        Assert.True(exitCode == 0, error.ToString());
        string text = output.ToString();
        Assert.Contains("through A (", text);
        Assert.Contains("hello from the server in namespace A", text);
        Assert.Contains("hello from the server in namespace B", text);
        Assert.Contains("A's export has it: yes; B's export has it: no", text);
        Assert.Contains("connection refused, as expected", text);
        Assert.DoesNotContain(DemoNamespaces(), n => !before.Contains(n));
    }
}
