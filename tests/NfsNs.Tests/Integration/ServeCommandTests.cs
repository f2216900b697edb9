using System.Diagnostics;
using System.Text;
using NfsNs.Client;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary><c>nfsns serve</c> as a child process inside a test namespace: serves, logs mounts, stops on SIGTERM.</summary>
[Trait("Category", "Integration")]
public sealed class ServeCommandTests
{
    [Fact]
    public async Task Serve_memory_in_a_namespace_serves_and_stops_cleanly_on_SIGTERM()
    {
        await using var ns = await TestNamespace.CreateAsync("emb-cli");
        // Default options (root squashed to 65534): the memory export's root is 01777, so writing works anyway.
        await using var serve = await ServeProcess.StartAsync(["serve", "--memory", "--netns", ns.Name], "serving /export");
        await using (var mount = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}"))
        {
            await using (var file = await mount.OpenWriteAsync("hello"))
                await file.WriteAsync(Encoding.UTF8.GetBytes("served by nfsns serve"));
            await using var read = await mount.OpenReadAsync("hello");
            Assert.Equal("served by nfsns serve", await new StreamReader(read).ReadToEndAsync());
        }
        // SIGUSR1 prints the client table and keeps serving.
        await serve.SignalAsync("USR1");
        await Task.Delay(500);
        Assert.False(serve.HasExited);
        await using (var again = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}"))
            await again.GetAttributesAsync("hello");
        string stdout = await serve.StopAsync();
        Assert.True(serve.ExitCode is 0 or 143, $"exit {serve.ExitCode}; stderr: {serve.Log}");
        Assert.Contains("MNT /export from 127.0.0.1", serve.Log);
        Assert.Equal(2, stdout.Split("CLIENT").Length - 1); // once for SIGUSR1, once at exit
        Assert.Contains("127.0.0.1", stdout);
    }
}
