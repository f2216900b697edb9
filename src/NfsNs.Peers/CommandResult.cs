namespace NfsNs.Peers;

/// <summary>What a finished command printed and how it exited.</summary>
/// <param name="CommandLine">The command as run, for messages (arguments joined by spaces, not shell-quoted).</param>
public sealed record CommandResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Returns this result when the command exited 0, otherwise throws with its command line and stderr.</summary>
    public CommandResult EnsureSuccess()
    {
        if (Succeeded) return this;
        throw new PeerException($"'{CommandLine}' exited with code {ExitCode}: {Describe(Stderr, Stdout)}");
    }

    private static string Describe(string stderr, string stdout)
    {
        string text = string.IsNullOrWhiteSpace(stderr) ? stdout : stderr;
        return string.IsNullOrWhiteSpace(text) ? "(no output)" : text.Trim();
    }

    public override string ToString() => $"'{CommandLine}' → exit {ExitCode}; stdout: {Stdout.Trim()}; stderr: {Stderr.Trim()}";
}
