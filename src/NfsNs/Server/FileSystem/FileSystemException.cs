using System.Runtime.InteropServices;

namespace NfsNs.Server.FileSystem;

/// <summary>
/// Why a file-system operation failed, independent of any protocol version. Protocol handlers map each value to
/// their own status in one table (NFS3ERR_* of RFC 1813 section 2.6, NFS4ERR_* of RFC 8881 section 15).
/// </summary>
public enum FileSystemError
{
    NotFound,
    Exists,
    NotDirectory,
    IsDirectory,
    NotEmpty,
    AccessDenied,
    NotPermitted,
    ReadOnly,
    NoSpace,
    QuotaExceeded,
    NameTooLong,
    CrossDevice,
    Invalid,
    /// <summary>The handle is well-formed and authentic, but the object it named no longer exists.</summary>
    Stale,
    /// <summary>The handle was not issued by this file system (wrong length, version, export or MAC).</summary>
    BadHandle,
    TooManyLinks,
    NotSupported,
    Io,
    FileTooBig,
    /// <summary>A guarded SETATTR whose ctime guard did not match (NFS3ERR_NOT_SYNC).</summary>
    NotSync,
    /// <summary>A READDIR cookie that this directory never issued.</summary>
    BadCookie,
    /// <summary>MKNOD of a type the backend cannot create.</summary>
    BadType,
    /// <summary>The operation touched a symbolic link where a directory or file was needed (ELOOP).</summary>
    SymbolicLink,
}

/// <summary>The one exception every <see cref="IFileSystem"/> operation throws on failure.</summary>
public sealed class FileSystemException : Exception
{
    public FileSystemError Error { get; }

    public FileSystemException(FileSystemError error, string message, Exception? inner = null)
        : base($"{error}: {message}", inner)
    {
        Error = error;
    }

    /// <summary>Maps a Linux errno from a backend system call to the neutral error.</summary>
    internal static FileSystemException FromErrno(int errno, string operation) => new(errno switch
    {
        1 => FileSystemError.NotPermitted,      // EPERM
        2 => FileSystemError.NotFound,          // ENOENT
        5 => FileSystemError.Io,                // EIO
        9 => FileSystemError.Stale,             // EBADF
        13 => FileSystemError.AccessDenied,     // EACCES
        17 => FileSystemError.Exists,           // EEXIST
        18 => FileSystemError.CrossDevice,      // EXDEV
        20 => FileSystemError.NotDirectory,     // ENOTDIR
        21 => FileSystemError.IsDirectory,      // EISDIR
        22 => FileSystemError.Invalid,          // EINVAL
        27 => FileSystemError.FileTooBig,       // EFBIG
        28 => FileSystemError.NoSpace,          // ENOSPC
        30 => FileSystemError.ReadOnly,         // EROFS
        31 => FileSystemError.TooManyLinks,     // EMLINK
        36 => FileSystemError.NameTooLong,      // ENAMETOOLONG
        39 => FileSystemError.NotEmpty,         // ENOTEMPTY
        40 => FileSystemError.SymbolicLink,     // ELOOP
        95 => FileSystemError.NotSupported,     // EOPNOTSUPP
        116 => FileSystemError.Stale,           // ESTALE
        122 => FileSystemError.QuotaExceeded,   // EDQUOT
        _ => FileSystemError.Io,
    }, $"{operation} failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
}
