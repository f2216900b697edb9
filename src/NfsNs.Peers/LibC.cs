using System.Runtime.InteropServices;

namespace NfsNs.Peers;

/// <summary>kill(2): .NET can only send SIGKILL to a process, the peers need SIGTERM and SIGINT as well.</summary>
internal static partial class LibC
{
    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;
    public const int ESRCH = 3;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);
}
