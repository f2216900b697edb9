using System.Diagnostics;
using System.Text;
using NfsNs.Client;
using NfsNs.Peers;

namespace NfsNs.Tests.Integration;

/// <summary><c>nfsns serve</c> as a child process inside a test namespace: serves, logs mounts, stops on SIGTERM.</summary>
[Trait("Category", "Integration")]
public sealed class ServeCommandTests
{
    [Fact]
    public async Task Serve_memory_in_a_namespace_serves_and_stops_cleanly_on_SIGTERM()
    {
        await using var ns = await TestNamespace.CreateAsync("emb-cli");
        string cli = Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in new[] { cli, "serve", "--memory", "--squash", "none", "--netns", ns.Name }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = new StringBuilder();
        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.Contains("serving /export", StringComparison.Ordinal)) serving.TrySetResult();
        };
        process.BeginErrorReadLine();
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        try
        {
            await serving.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await using (var mount = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}"))
            {
                await using (var file = await mount.OpenWriteAsync("hello"))
                    await file.WriteAsync(Encoding.UTF8.GetBytes("served by nfsns serve"));
                await using var read = await mount.OpenReadAsync("hello");
                Assert.Equal("served by nfsns serve", await new StreamReader(read).ReadToEndAsync());
            }
            string pid = process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // SIGUSR1 prints the client table and keeps serving.
            (await ProcessRunner.RunAsync("kill", ["-USR1", pid], TimeSpan.FromSeconds(10))).EnsureSuccess();
            await Task.Delay(500);
            Assert.False(process.HasExited);
            await using (var again = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}"))
                await again.GetAttributesAsync("hello");
            (await ProcessRunner.RunAsync("kill", ["-TERM", pid], TimeSpan.FromSeconds(10))).EnsureSuccess();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            string stdout = await stdoutTask;
            string log;
            lock (stderr) log = stderr.ToString();
            Assert.True(process.ExitCode is 0 or 143, $"exit {process.ExitCode}; stderr: {log}");
            Assert.Contains("MNT /export from 127.0.0.1", log);
            Assert.Equal(2, stdout.Split("CLIENT").Length - 1); // once for SIGUSR1, once at exit
            Assert.Contains("127.0.0.1", stdout);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }
    }
}
