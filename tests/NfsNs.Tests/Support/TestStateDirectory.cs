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
}
