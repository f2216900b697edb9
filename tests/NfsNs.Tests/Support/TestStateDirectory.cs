using System.Runtime.CompilerServices;

namespace NfsNs.Tests.Support;

/// <summary>
/// Keeps the NSM state that lock tests create (one directory per namespace, and test namespaces have random names)
/// out of /var/lib/nfsns: every test run gets a directory of its own under /tmp, unless one is set already.
/// </summary>
internal static class TestStateDirectory
{
    public static string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"nfsns-test-state-{Environment.ProcessId}");

    [ModuleInitializer]
    internal static void Initialize()
    {
        if (Environment.GetEnvironmentVariable("NFSNS_STATE_DIR") is { Length: > 0 }) return;
        RemoveThoseOfEndedRuns();
        Environment.SetEnvironmentVariable("NFSNS_STATE_DIR", Path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        };
    }

    /// <summary>
    /// A test host that is killed (not ended) never runs ProcessExit: remove the directories of runs whose process is
    /// gone, so that they do not pile up in /tmp.
    /// </summary>
    private static void RemoveThoseOfEndedRuns()
    {
        foreach (string directory in Directory.EnumerateDirectories(System.IO.Path.GetTempPath(), "nfsns-test-state-*"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(directory)["nfsns-test-state-".Length..], out int pid) || pid == Environment.ProcessId) continue;
            if (Directory.Exists($"/proc/{pid}")) continue;
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
