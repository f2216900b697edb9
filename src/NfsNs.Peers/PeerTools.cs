namespace NfsNs.Peers;

/// <summary>Checks that the real peers can run here: the tools are installed and we may create namespaces.</summary>
public static class PeerTools
{
    /// <summary>Every program this library runs.</summary>
    public static IReadOnlyList<string> RequiredTools { get; } =
    [
        "ip", "nsenter", "unshare", "setsid", "mount", "ss", "chown", "bash",
        "rpcbind", "rpcinfo", "rpc.statd", "ganesha.nfsd",
        "nfs-ls", "nfs-cat", "nfs-cp", "tshark", "tcpdump",
    ];

    /// <summary>ganesha's VFS backend ships as a separate package (nfs-ganesha-vfs); without it no export loads.</summary>
    public const string GaneshaVfsModule = "libfsalvfs.so";

    private static readonly string[] GaneshaModuleDirectories =
        ["/usr/lib/x86_64-linux-gnu/ganesha", "/usr/lib/aarch64-linux-gnu/ganesha", "/usr/lib64/ganesha", "/usr/lib/ganesha"];

    // sbin directories are searched even when PATH lacks them, as on a non-login root shell.
    private static readonly string[] ExtraSearchDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    private static readonly Lazy<string?> Problems = new(FindProblemsUncached);

    /// <summary>Null when everything is in place, otherwise what is missing and how to fix it.</summary>
    public static string? FindProblems() => Problems.Value;

    /// <summary>Throws <see cref="PeerToolsUnavailableException"/> explaining what is missing and how to install it.</summary>
    public static void EnsureAvailable()
    {
        if (FindProblems() is { } problems) throw new PeerToolsUnavailableException(problems);
    }

    /// <summary>The full path of a program on PATH (or in an sbin directory), or null.</summary>
    public static string? Locate(string program)
    {
        string[] path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (string directory in path.Concat(ExtraSearchDirectories))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string? FindProblemsUncached()
    {
        var problems = new List<string>();
        if (!Environment.IsPrivilegedProcess)
            problems.Add("the real peers need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network and mount namespaces; " +
                         "run the tests as root");
        var missing = RequiredTools.Where(tool => Locate(tool) is null).ToList();
        if (!GaneshaModuleDirectories.Any(directory => File.Exists(Path.Combine(directory, GaneshaVfsModule))))
            missing.Add($"{GaneshaVfsModule} (package nfs-ganesha-vfs)");
        if (missing.Count > 0)
            problems.Add($"missing: {string.Join(", ", missing)}; install them with scripts/install-peers.sh " +
                         "(Debian: nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common libnfs-utils tshark tcpdump iperf3)");
        return problems.Count == 0 ? null : "Cannot run the real NFS peers: " + string.Join("; ", problems) + ".";
    }
}
