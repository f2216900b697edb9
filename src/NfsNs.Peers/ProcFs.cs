namespace NfsNs.Peers;

/// <summary>Process facts read from /proc, and bounded reads of log files.</summary>
public static class ProcFs
{
    /// <summary>
    /// True while the process exists and is not a zombie. A zombie has exited; PID 1 on this kind of machine
    /// reaps orphans late, so "gone from /proc" alone would wait for the reaper, not for the process.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException) { return false; }
        // proc(5): "pid (comm) state ..."; comm may contain ')' and spaces, so the state follows the last ')'.
        int close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length) return false;
        char state = stat[close + 2];
        return state is not ('Z' or 'X' or 'x');
    }

    /// <summary>The last <paramref name="lines"/> lines of a text file (reads at most its last 64 KiB), or a note when absent.</summary>
    public static string Tail(string path, int lines = 30)
    {
        const int MaxBytes = 64 * 1024;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long start = Math.Max(0, stream.Length - MaxBytes);
            stream.Seek(start, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            string[] all = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return $"({path} does not exist)";
        }
    }
}
