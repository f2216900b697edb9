using System.Diagnostics;
using System.Globalization;
using System.Text;
using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>
/// <c>nfsns serve …</c> as a child process (the CLI dll next to the tests), as users run it: its stderr log is
/// collected, it is ready once a log line contains the given marker, and it is stopped by PID (SIGTERM, then kill).
/// </summary>
public sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly Task<string> _stdout;

    private ServeProcess(Process process)
    {
        _process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Log
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    /// <summary>Starts <c>nfsns ARGS</c> and waits until stderr shows <paramref name="readyMarker"/>; fails with the log otherwise.</summary>
    public static async Task<ServeProcess> StartAsync(IEnumerable<string> arguments, string readyMarker, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll"));
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        var serve = new ServeProcess(Process.Start(start)!);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        serve._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (serve._stderr) serve._stderr.AppendLine(e.Data);
            if (e.Data.Contains(readyMarker, StringComparison.Ordinal)) ready.TrySetResult();
        };
        serve._process.BeginErrorReadLine();
        try
        {
            await Task.WhenAny(ready.Task, serve._process.WaitForExitAsync()).WaitAsync(TimeSpan.FromSeconds(60));
            if (!ready.Task.IsCompleted) throw new InvalidOperationException($"nfsns serve did not start: {serve.Log}");
            return serve;
        }
        catch
        {
            await serve.DisposeAsync();
            throw;
        }
    }

    public Task SignalAsync(string signal) =>
        ProcessRunner.RunAsync("kill", [$"-{signal}", Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10))
            .ContinueWith(t => t.Result.EnsureSuccess(), TaskScheduler.Default);

    /// <summary>SIGTERM, then waits for exit; returns its standard output.</summary>
    public async Task<string> StopAsync()
    {
        await SignalAsync("TERM");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return await _stdout;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
