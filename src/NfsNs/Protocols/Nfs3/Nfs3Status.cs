using System.Collections.Frozen;

namespace NfsNs.Protocols.Nfs3;

/// <summary>nfsstat3 (RFC 1813 §2.6).</summary>
public enum Nfs3Status : uint
{
    Ok = 0,
    Perm = 1,
    NoEnt = 2,
    Io = 5,
    NxIo = 6,
    Acces = 13,
    Exist = 17,
    XDev = 18,
    NoDev = 19,
    NotDir = 20,
    IsDir = 21,
    Inval = 22,
    FBig = 27,
    NoSpc = 28,
    RoFs = 30,
    MLink = 31,
    NameTooLong = 63,
    NotEmpty = 66,
    DQuot = 69,
    Stale = 70,
    Remote = 71,
    BadHandle = 10001,
    NotSync = 10002,
    BadCookie = 10003,
    NotSupp = 10004,
    TooSmall = 10005,
    ServerFault = 10006,
    BadType = 10007,
    Jukebox = 10008,
}

/// <summary>Names, descriptions and errno mapping of <see cref="Nfs3Status"/>.</summary>
public static class Nfs3StatusInfo
{
    private readonly record struct Info(string Suffix, string Description, LinuxErrno Errno);

    // Suffix is the RFC's name without its NFS3ERR_ prefix; MOUNT v3 shares the numbers and suffixes (RFC 1813
    // appendix I). Errnos are what Linux user space sees; the kernel-internal codes (EBADHANDLE 521 …
    // EJUKEBOX 528) never reach it, so those statuses map to the nearest user-visible errno.
    private static readonly FrozenDictionary<Nfs3Status, Info> Table = new Dictionary<Nfs3Status, Info>
    {
        [Nfs3Status.Ok] = new("OK", "success", new LinuxErrno(0, "OK")),
        [Nfs3Status.Perm] = new("PERM", "operation not permitted", LinuxErrno.EPERM),
        [Nfs3Status.NoEnt] = new("NOENT", "no such file or directory", LinuxErrno.ENOENT),
        [Nfs3Status.Io] = new("IO", "I/O error", LinuxErrno.EIO),
        [Nfs3Status.NxIo] = new("NXIO", "no such device or address", LinuxErrno.ENXIO),
        [Nfs3Status.Acces] = new("ACCES", "permission denied", LinuxErrno.EACCES),
        [Nfs3Status.Exist] = new("EXIST", "file exists", LinuxErrno.EEXIST),
        [Nfs3Status.XDev] = new("XDEV", "cross-device link", LinuxErrno.EXDEV),
        [Nfs3Status.NoDev] = new("NODEV", "no such device", LinuxErrno.ENODEV),
        [Nfs3Status.NotDir] = new("NOTDIR", "not a directory", LinuxErrno.ENOTDIR),
        [Nfs3Status.IsDir] = new("ISDIR", "is a directory", LinuxErrno.EISDIR),
        [Nfs3Status.Inval] = new("INVAL", "invalid argument", LinuxErrno.EINVAL),
        [Nfs3Status.FBig] = new("FBIG", "file too large", LinuxErrno.EFBIG),
        [Nfs3Status.NoSpc] = new("NOSPC", "no space left on device", LinuxErrno.ENOSPC),
        [Nfs3Status.RoFs] = new("ROFS", "read-only file system", LinuxErrno.EROFS),
        [Nfs3Status.MLink] = new("MLINK", "too many links", LinuxErrno.EMLINK),
        [Nfs3Status.NameTooLong] = new("NAMETOOLONG", "file name too long", LinuxErrno.ENAMETOOLONG),
        [Nfs3Status.NotEmpty] = new("NOTEMPTY", "directory not empty", LinuxErrno.ENOTEMPTY),
        [Nfs3Status.DQuot] = new("DQUOT", "disk quota exceeded", LinuxErrno.EDQUOT),
        [Nfs3Status.Stale] = new("STALE", "stale file handle", LinuxErrno.ESTALE),
        [Nfs3Status.Remote] = new("REMOTE", "too many levels of remote in path", LinuxErrno.EREMOTE),
        [Nfs3Status.BadHandle] = new("BADHANDLE", "illegal NFS file handle", LinuxErrno.ESTALE),
        [Nfs3Status.NotSync] = new("NOT_SYNC", "update synchronization mismatch", LinuxErrno.EINVAL),
        [Nfs3Status.BadCookie] = new("BAD_COOKIE", "directory cookie is stale", LinuxErrno.EINVAL),
        [Nfs3Status.NotSupp] = new("NOTSUPP", "operation not supported", LinuxErrno.EOPNOTSUPP),
        [Nfs3Status.TooSmall] = new("TOOSMALL", "buffer or request is too small", LinuxErrno.EINVAL),
        [Nfs3Status.ServerFault] = new("SERVERFAULT", "server fault", LinuxErrno.EREMOTEIO),
        [Nfs3Status.BadType] = new("BADTYPE", "object type not supported by the server", LinuxErrno.EINVAL),
        [Nfs3Status.Jukebox] = new("JUKEBOX", "server busy, try again later", LinuxErrno.EAGAIN),
    }.ToFrozenDictionary();

    /// <summary>The RFC's name, e.g. <c>NFS3ERR_NOENT</c>; unknown values as <c>NFS3ERR_#12345</c>.</summary>
    public static string WireName(this Nfs3Status status) => Name("NFS3", status);

    /// <summary>A short lower-case description in the style of strerror(3).</summary>
    public static string Describe(this Nfs3Status status) =>
        Table.TryGetValue(status, out var info) ? info.Description : "unknown NFS error";

    /// <summary>The errno a Linux NFS mount would report; unknown statuses are EIO.</summary>
    public static LinuxErrno ToErrno(this Nfs3Status status) =>
        Table.TryGetValue(status, out var info) ? info.Errno : LinuxErrno.EIO;

    /// <summary><c>{prefix}_OK</c>, <c>{prefix}ERR_{suffix}</c> or <c>{prefix}ERR_#{number}</c>; MOUNT v3 uses prefix "MNT3".</summary>
    internal static string Name(string prefix, Nfs3Status status) =>
        status == Nfs3Status.Ok ? prefix + "_OK"
        : Table.TryGetValue(status, out var info) ? $"{prefix}ERR_{info.Suffix}"
        : $"{prefix}ERR_#{(uint)status}";
}
