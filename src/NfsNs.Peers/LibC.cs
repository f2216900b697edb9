using System.Runtime.InteropServices;

namespace NfsNs.Peers;

/// <summary>
/// The system calls .NET does not expose that the peers need: kill(2) with any signal (.NET can only send SIGKILL),
/// and for <see cref="SocketCensus"/> pidfd_getfd(2), the socket options and ioctl that tell a socket's namespace and
/// addresses, setns(2), and statx(2) for a namespace file's inode.
/// </summary>
internal static unsafe partial class LibC
{
    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;
    public const int ESRCH = 3, EBADF = 9, ENOTCONN = 107;

    public const int O_RDONLY = 0, O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;

    // <asm-generic/socket.h>, <netinet/in.h>, <bits/socket.h>
    public const int SOL_SOCKET = 1, SO_ACCEPTCONN = 30, SO_PROTOCOL = 38, SO_DOMAIN = 39;
    public const int AF_INET = 2, AF_INET6 = 10;
    public const int IPPROTO_TCP = 6, IPPROTO_UDP = 17;
    /// <summary>ioctl on a socket returning a new nsfs fd for the socket's network namespace (linux/sockios.h, Linux 4.9).</summary>
    public const nuint SIOCGSKNS = 0x894C;

    /// <summary>ioctl on an nsfs fd returning its CLONE_NEW* type (linux/nsfs.h: _IO(0xb7, 0x3)).</summary>
    public const nuint NS_GET_NSTYPE = 0xb703;

    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_INO = 0x100;
    /// <summary>sizeof(struct statx) and the offset of its stx_ino (linux/stat.h; the same on every architecture).</summary>
    public const int StatxSize = 256, StatxInoOffset = 32;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    /// <summary>glibc 2.36 wrapper of pidfd_open(2) (Linux 5.3).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int pidfd_open(int pid, uint flags);

    /// <summary>glibc 2.36 wrapper of pidfd_getfd(2) (Linux 5.6): a duplicate, in this process, of another process's fd.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int pidfd_getfd(int pidfd, int targetfd, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int option, int* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* address, int* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getpeername(int fd, byte* address, int* length);

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
