using System.ComponentModel;
using System.Diagnostics;

namespace NfsNs.Peers;

/// <summary>Runs a short-lived command (in the caller's own namespaces) to completion, bounded by a timeout.</summary>
public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for a killed command's output pipes to close (a grandchild may hold them).</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    public static async Task<CommandResult> RunAsync(string file, IEnumerable<string> arguments, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        var startInfo = CreateStartInfo(file, arguments);
        string commandLine = CommandLine(startInfo);
        using var process = Start(startInfo, commandLine);
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        var started = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
            // The output pipes close when the last holder exits; a daemon the command left behind could hold them.
            TimeSpan left = timeout - started.Elapsed;
            await Task.WhenAll(stdout, stderr).WaitAsync(left > DrainTimeout ? left : DrainTimeout, CancellationToken.None);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            KillTree(process);
            cancellationToken.ThrowIfCancellationRequested();
            string partial = await DrainAsync(stderr);
            throw new PeerException(
                $"'{commandLine}' did not finish within {timeout.TotalSeconds:0.#} s and was killed; stderr so far: {Or(partial)}");
        }
        return new CommandResult(commandLine, process.ExitCode, await stdout, await stderr);
    }

    internal static ProcessStartInfo CreateStartInfo(string file, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) startInfo.ArgumentList.Add(argument);
        return startInfo;
    }

    internal static Process Start(ProcessStartInfo startInfo, string commandLine)
    {
        try
        {
            return Process.Start(startInfo) ?? throw new PeerException($"could not start '{commandLine}'");
        }
        catch (Win32Exception e)
        {
            throw new PeerException(
                $"could not start '{commandLine}': {e.Message}. Is it installed? scripts/install-peers.sh installs the peers.", e);
        }
    }

    internal static string CommandLine(ProcessStartInfo startInfo) =>
        string.Join(' ', startInfo.ArgumentList.Prepend(startInfo.FileName));

    private static void KillTree(Process process)
    {
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { /* exited meanwhile */ }
    }

    private static async Task<string> DrainAsync(Task<string> output)
    {
        try { return await output.WaitAsync(DrainTimeout); }
        catch (TimeoutException) { return ""; }
    }

    private static string Or(string text) => string.IsNullOrWhiteSpace(text) ? "(none)" : text.Trim();
}
