using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NfsNs.Peers;

/// <summary>
/// A long-running process this library started, whose stdout and stderr are appended to a file. It is only ever
/// signalled by its own PID, and only while .NET has not seen it exit (so a reused PID is never hit).
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(5);

    private readonly Process _process;
    private readonly StreamWriter _output;
    private readonly Action<string>? _onLine;
    private readonly Lock _gate = new();
    private bool _closed;

    /// <summary>What it is and where, for messages: e.g. "rpcbind in nfsns-a-1f2e3d".</summary>
    public string Name { get; }
    public int Pid { get; }
    public string CommandLine { get; }
    /// <summary>The file its stdout and stderr go to.</summary>
    public string OutputPath { get; }

    private DaemonProcess(Process process, string name, string commandLine, string outputPath, StreamWriter output, Action<string>? onLine)
    {
        _process = process;
        _output = output;
        _onLine = onLine;
        Name = name;
        Pid = process.Id;
        CommandLine = commandLine;
        OutputPath = outputPath;
    }

    /// <param name="onLine">Called with every output line (from a thread-pool thread), e.g. to spot a readiness message.</param>
    public static DaemonProcess Start(string name, string file, IEnumerable<string> arguments, string outputPath,
        Action<string>? onLine = null)
    {
        var startInfo = ProcessRunner.CreateStartInfo(file, arguments);
        string commandLine = ProcessRunner.CommandLine(startInfo);
        var output = new StreamWriter(new FileStream(outputPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            AutoFlush = true,
        };
        Process process;
        try
        {
            process = ProcessRunner.Start(startInfo, commandLine);
        }
        catch
        {
            output.Dispose();
            throw;
        }
        var daemon = new DaemonProcess(process, name, commandLine, outputPath, output, onLine);
        process.OutputDataReceived += (_, e) => daemon.Record(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return daemon;
    }

    /// <summary>
    /// True once the process has exited. A zombie counts as exited: the process is done, only its reaping is late.
    /// </summary>
    public bool HasExited => _process.HasExited || !ProcFs.IsAlive(Pid);

    /// <summary>Waits (polling, bounded by <paramref name="timeout"/>) for the process to exit; true if it did.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        while (!HasExited)
        {
            if (waited.Elapsed >= timeout) return false;
            await Task.Delay(PollInterval, cancellationToken);
        }
        return true;
    }

    /// <summary>
    /// Sends <paramref name="signal"/> and waits up to <paramref name="grace"/>; then SIGKILL and waits up to 5 s more.
    /// Does nothing if the process has already exited.
    /// </summary>
    public async Task StopAsync(int signal, TimeSpan grace)
    {
        if (HasExited) return;
        Signal(signal);
        if (await WaitForExitAsync(grace)) return;
        Signal(LibC.SIGKILL);
        if (!await WaitForExitAsync(KillWait))
            throw new PeerException($"{Name} (PID {Pid}) is still running {KillWait.TotalSeconds:0} s after SIGKILL");
    }

    public void Signal(int signal)
    {
        if (_process.HasExited) return;
        if (LibC.kill(Pid, signal) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.ESRCH)
                throw new PeerException($"cannot send signal {signal} to {Name} (PID {Pid}): errno {errno}");
        }
    }

    /// <summary>After the process exited: waits (up to 1 s) until everything it printed is in the output file.</summary>
    public async Task DrainOutputAsync()
    {
        // With asynchronous reading, Process.WaitForExitAsync also waits for the end of both output streams.
        try { await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(1)); }
        catch (TimeoutException) { /* a child it left behind holds the pipes: take what is there */ }
    }

    /// <summary>The last lines the process printed.</summary>
    public string OutputTail(int lines = 20) => ProcFs.Tail(OutputPath, lines);

    private void Record(string? line)
    {
        if (line is null) return;
        lock (_gate)
        {
            if (_closed) return;
            _output.WriteLine(line);
        }
        _onLine?.Invoke(line);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            _output.Dispose();
        }
        _process.Dispose();
    }
}
