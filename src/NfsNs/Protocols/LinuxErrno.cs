namespace NfsNs.Protocols;

/// <summary>
/// A Linux errno as user space sees it (name and number from asm-generic/errno*.h), for the CLI's messages and
/// exit codes. Protocol statuses are mapped to these so a user reads the error a kernel NFS mount would give.
/// </summary>
public readonly record struct LinuxErrno(int Number, string Name)
{
    public static readonly LinuxErrno EPERM = new(1, nameof(EPERM));
    public static readonly LinuxErrno ENOENT = new(2, nameof(ENOENT));
    public static readonly LinuxErrno EIO = new(5, nameof(EIO));
    public static readonly LinuxErrno ENXIO = new(6, nameof(ENXIO));
    public static readonly LinuxErrno EAGAIN = new(11, nameof(EAGAIN));
    public static readonly LinuxErrno EACCES = new(13, nameof(EACCES));
    public static readonly LinuxErrno EEXIST = new(17, nameof(EEXIST));
    public static readonly LinuxErrno EXDEV = new(18, nameof(EXDEV));
    public static readonly LinuxErrno ENODEV = new(19, nameof(ENODEV));
    public static readonly LinuxErrno ENOTDIR = new(20, nameof(ENOTDIR));
    public static readonly LinuxErrno EISDIR = new(21, nameof(EISDIR));
    public static readonly LinuxErrno EINVAL = new(22, nameof(EINVAL));
    public static readonly LinuxErrno EFBIG = new(27, nameof(EFBIG));
    public static readonly LinuxErrno ENOSPC = new(28, nameof(ENOSPC));
    public static readonly LinuxErrno EROFS = new(30, nameof(EROFS));
    public static readonly LinuxErrno EMLINK = new(31, nameof(EMLINK));
    public static readonly LinuxErrno ENAMETOOLONG = new(36, nameof(ENAMETOOLONG));
    public static readonly LinuxErrno ENOTEMPTY = new(39, nameof(ENOTEMPTY));
    public static readonly LinuxErrno EREMOTE = new(66, nameof(EREMOTE));
    public static readonly LinuxErrno EOPNOTSUPP = new(95, nameof(EOPNOTSUPP));
    public static readonly LinuxErrno ESTALE = new(116, nameof(ESTALE));
    public static readonly LinuxErrno EREMOTEIO = new(121, nameof(EREMOTEIO));
    public static readonly LinuxErrno EDQUOT = new(122, nameof(EDQUOT));

    public override string ToString() => $"{Name} ({Number})";
}
