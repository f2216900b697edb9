using System.Runtime.InteropServices;
using NfsNs.Namespaces;

namespace NfsNs.Client.Locking;

/// <summary>flock(2) on a state directory's <c>host.lock</c>: who else is alive using it.</summary>
internal static class HostLock
{
    /// <summary>
    /// True when no other open file description holds the lock (we are the first user); either way the file is
    /// left locked shared, which tells later users that we are alive. The lock goes with the descriptor.
    /// </summary>
    public static bool TryExclusiveThenShared(SafeHandle file)
    {
        bool first = LibC.flock(file, LibC.LOCK_EX | LibC.LOCK_NB) == 0;
        if (LibC.flock(file, LibC.LOCK_SH) != 0)
            throw new IOException($"flock(LOCK_SH) failed: errno {Marshal.GetLastPInvokeError()}");
        return first;
    }
}
