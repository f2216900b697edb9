using System.Runtime.InteropServices;

namespace NfsNs.Namespaces;

/// <summary>The few Linux system calls that .NET does not expose: namespaces and raw socket creation.</summary>
internal static partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;
    public const int SOCK_CLOEXEC = 0x80000;
    /// <summary>ioctl on an nsfs fd returning the CLONE_NEW* type of the namespace (linux/nsfs.h: _IO(0xb7, 0x3)).</summary>
    public const uint NS_GET_NSTYPE = 0xb703;

    public const int EPERM = 1, ENOENT = 2, EACCES = 13, ENOTDIR = 20, EINVAL = 22, ENOTTY = 25;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int unshare(int flags);

    [LibraryImport("libc")]
    public static partial uint geteuid();

    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int flock(SafeHandle fd, int operation);

    /// <summary>struct stat for x86_64 and aarch64 differ; we read st_dev and st_ino only, through statx which is stable.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, out Statx buffer);

    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_INO = 0x100;

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint stx_mask;
        public uint stx_blksize;
        public ulong stx_attributes;
        public uint stx_nlink;
        public uint stx_uid;
        public uint stx_gid;
        public ushort stx_mode;
        public ushort __spare0;
        public ulong stx_ino;
        public ulong stx_size;
        public ulong stx_blocks;
        public ulong stx_attributes_mask;
        public Timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
        public uint stx_rdev_major, stx_rdev_minor;
        public uint stx_dev_major, stx_dev_minor;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timestamp
    {
        public long tv_sec;
        public uint tv_nsec;
        public int __reserved;
    }

    /// <summary>
    /// .NET's <see cref="System.Net.Sockets.AddressFamily"/> numbers are Windows' (InterNetworkV6 = 23); Linux's
    /// socket(2) wants AF_INET6 = 10. Only AF_INET (2) happens to agree.
    /// </summary>
    public static int ToLinuxAddressFamily(System.Net.Sockets.AddressFamily family) => family switch
    {
        System.Net.Sockets.AddressFamily.InterNetwork => 2,
        System.Net.Sockets.AddressFamily.InterNetworkV6 => 10,
        System.Net.Sockets.AddressFamily.Unix => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "only IPv4, IPv6 and Unix sockets can be created in a namespace"),
    };

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
