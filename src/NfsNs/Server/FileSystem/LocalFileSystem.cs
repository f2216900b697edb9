using System.Buffers.Binary;
using NfsNs.Xdr;
using static NfsNs.Server.FileSystem.LocalNative;
using Statx = NfsNs.Namespaces.LibC.Statx;

namespace NfsNs.Server.FileSystem;

/// <summary>
/// Serves a real directory. Design:
/// <list type="bullet">
/// <item>Handles embed the kernel's own file handle (name_to_handle_at(2)) and are resolved with open_by_handle_at(2)
/// relative to the export root: no path is ever walked, so handles survive renames and server restarts (with a
/// persisted <see cref="HandleCodec"/> secret). That needs CAP_DAC_READ_SEARCH (root) and a file system that
/// exports handles (ext4, xfs, btrfs, tmpfs, overlayfs with index).</item>
/// <item>Names are resolved one component at a time with openat(dirfd, name, O_PATH|O_NOFOLLOW): the server never
/// follows a symbolic link, "/" cannot appear in a name, and ".." of the export root is the root.</item>
/// <item>A directory handle is accepted only if walking ".." from it reaches the export root, so a directory moved
/// out of the export (by a local user) goes stale. Non-directories cannot be walked up (like Linux nfsd's
/// no_subtree_check); objects on other mounts below the root are not served.</item>
/// <item>Permissions are checked explicitly against the caller (<see cref="Permissions"/>); the system calls run as
/// the (root) server process and new objects are chowned to the caller.</item>
/// <item>UNSTABLE writes stay in the page cache, COMMIT is fdatasync, FILE_SYNC writes fsync.</item>
/// <item>READDIR cookies are getdents64 d_off values, which the kernel accepts back through lseek (hash-ordered and
/// stable on ext4, positional on tmpfs); the cookie verifier is the directory's mtime.</item>
/// </list>
/// System calls run synchronously on the calling thread.
/// </summary>
public sealed unsafe class LocalFileSystem : IFileSystem, IDisposable
{
    private const uint MaxLinks = 65000;
    private readonly HandleCodec _codec;
    private readonly int _rootFd;
    private readonly ulong _rootDevice;
    private readonly ulong _rootInode;

    public string RootDirectory { get; }

    public FileHandle RootHandle { get; }

    public LocalFileSystem(string rootDirectory, HandleCodec codec)
    {
        RootDirectory = Path.GetFullPath(rootDirectory);
        _codec = codec;
        _rootFd = openat(AT_FDCWD, RootDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (_rootFd < 0)
            throw new DirectoryNotFoundException($"cannot open export root {RootDirectory}: errno {LastErrno}");
        Statx root = StatFd(_rootFd);
        (_rootDevice, _rootInode) = (DeviceOf(root), root.stx_ino);
        try
        {
            RootHandle = HandleOfFd(_rootFd);
        }
        catch
        {
            close(_rootFd);
            throw;
        }
    }

    public void Dispose() => close(_rootFd);

    // ---- resolution -------------------------------------------------------------------------------------------

    private static ulong DeviceOf(in Statx s) => ((ulong)s.stx_dev_major << 32) | s.stx_dev_minor;

    private static FileSystemException Errno(string operation) => FileSystemException.FromErrno(LastErrno, operation);

    private static Statx StatFd(int fd)
    {
        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out Statx s) != 0)
            throw Errno("statx");
        return s;
    }

    private static FileType TypeOf(uint mode) => (mode & S_IFMT) switch
    {
        S_IFREG => FileType.Regular,
        S_IFDIR => FileType.Directory,
        S_IFLNK => FileType.SymbolicLink,
        S_IFBLK => FileType.BlockDevice,
        S_IFCHR => FileType.CharacterDevice,
        S_IFSOCK => FileType.Socket,
        _ => FileType.Fifo,
    };

    private FileAttributes AttributesOf(in Statx s)
    {
        static FileTime Time(Namespaces.LibC.Timestamp t) => new(t.tv_sec, t.tv_nsec);
        return new FileAttributes(TypeOf(s.stx_mode), s.stx_mode & 0xFFFu, s.stx_nlink, s.stx_uid, s.stx_gid, s.stx_size,
            s.stx_blocks * 512, new DeviceNumber(s.stx_rdev_major, s.stx_rdev_minor), DeviceOf(s), s.stx_ino,
            Time(s.stx_atime), Time(s.stx_mtime), Time(s.stx_ctime));
    }

    /// <summary>The kernel handle of an open object, as handle identity: type (1 byte) then the handle bytes.</summary>
    private FileHandle HandleOfFd(int fd)
    {
        byte* buffer = stackalloc byte[8 + MaxKernelHandleBytes];
        *(uint*)buffer = MaxKernelHandleBytes;
        if (name_to_handle_at(fd, "", buffer, out _, AT_EMPTY_PATH) != 0)
            throw Errno("name_to_handle_at");
        uint length = *(uint*)buffer;
        int type = *(int*)(buffer + 4);
        if (type is < 0 or > 255 || length + 1 > HandleCodec.MaxIdentityLength)
            throw new FileSystemException(FileSystemError.NotSupported, $"kernel file handle type {type} of {length} bytes does not fit");
        Span<byte> identity = stackalloc byte[1 + (int)length];
        identity[0] = (byte)type;
        new ReadOnlySpan<byte>(buffer + 8, (int)length).CopyTo(identity[1..]);
        return _codec.Encode(identity);
    }

    /// <summary>An object resolved from a handle: an O_PATH fd, its attributes and how to reopen it for data.</summary>
    private readonly struct Resolved(LocalFileSystem owner, byte[] identity, Fd fd, FileAttributes attributes) : IDisposable
    {
        public int Fd => fd.Value;
        public FileAttributes Attributes => attributes;
        public bool IsRoot => attributes.FileId == owner._rootInode && attributes.FileSystemId == owner._rootDevice;
        public Fd Reopen(int flags) => owner.OpenByIdentity(identity, flags);
        public void Dispose() => fd.Dispose();
    }

    private Fd OpenByIdentity(ReadOnlySpan<byte> identity, int flags)
    {
        byte* buffer = stackalloc byte[8 + MaxKernelHandleBytes];
        *(uint*)buffer = (uint)(identity.Length - 1);
        *(int*)(buffer + 4) = identity[0];
        identity[1..].CopyTo(new Span<byte>(buffer + 8, identity.Length - 1));
        int fd = open_by_handle_at(_rootFd, buffer, flags | O_CLOEXEC);
        if (fd >= 0) return new Fd(fd);
        int errno = LastErrno;
        throw errno is 2 or 116 or 22
            ? new FileSystemException(FileSystemError.Stale, $"the file no longer exists (open_by_handle_at errno {errno})")
            : FileSystemException.FromErrno(errno, "open_by_handle_at");
    }

    private Resolved Resolve(FileHandle handle)
    {
        byte[] identity = _codec.Decode(handle).ToArray();
        if (identity.Length < 2)
            throw new FileSystemException(FileSystemError.BadHandle, "handle identity is not a kernel file handle");
        Fd fd = OpenByIdentity(identity, O_PATH | O_NOFOLLOW);
        try
        {
            Statx s = StatFd(fd.Value);
            if (s.stx_nlink == 0 || DeviceOf(s) != _rootDevice)
                throw new FileSystemException(FileSystemError.Stale, "the file was removed");
            if ((s.stx_mode & S_IFMT) == S_IFDIR) RequireInsideExport(fd.Value, s);
            return new Resolved(this, identity, fd, AttributesOf(s));
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Walks ".." up from a directory; it must reach the export root before the file system root.</summary>
    private void RequireInsideExport(int directoryFd, Statx current)
    {
        int fd = directoryFd;
        try
        {
            for (int depth = 0; depth < 4096; depth++)
            {
                if (current.stx_ino == _rootInode && DeviceOf(current) == _rootDevice) return;
                int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                if (parent < 0) throw Errno("openat ..");
                if (fd != directoryFd) close(fd);
                fd = parent;
                Statx next = StatFd(fd);
                if (next.stx_ino == current.stx_ino && DeviceOf(next) == DeviceOf(current)) break; // the fs root
                current = next;
            }
        }
        finally
        {
            if (fd != directoryFd) close(fd);
        }
        throw new FileSystemException(FileSystemError.Stale, "the directory is no longer inside the export");
    }

    private Resolved ResolveDirectory(FileHandle handle)
    {
        Resolved dir = Resolve(handle);
        if (dir.Attributes.Type == FileType.Directory) return dir;
        dir.Dispose();
        throw new FileSystemException(FileSystemError.NotDirectory, "not a directory");
    }

    /// <summary>Opens one name inside a directory without following symlinks; it must stay on the export's device.</summary>
    private Fd OpenChild(in Resolved dir, string name)
    {
        if (name == "..")
        {
            if (dir.IsRoot) return new Fd(openat(dir.Fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0));
        }
        else
        {
            Permissions.ValidateLookupName(name);
        }
        int fd = openat(dir.Fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) throw Errno($"lookup of '{name}'");
        var child = new Fd(fd);
        if (DeviceOf(StatFd(fd)) != _rootDevice)
        {
            child.Dispose();
            throw new FileSystemException(FileSystemError.NotSupported, $"'{name}' is on another mount, which this export does not cross");
        }
        return child;
    }

    private FileObject ObjectOfFd(int fd) => new(HandleOfFd(fd), AttributesOf(StatFd(fd)));

    private static T Run<T>(CancellationToken cancellationToken, Func<T> operation)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return operation();
    }

    // ---- attributes -------------------------------------------------------------------------------------------

    public ValueTask<FileAttributes> GetAttributesAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using Resolved r = Resolve(file);
            return r.Attributes;
        }));

    public ValueTask<FileAttributes> SetAttributesAsync(CallerIdentity caller, FileHandle file, AttributeChanges changes,
        FileTime? guardChangeTime, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved r = Resolve(file);
        if (guardChangeTime is FileTime guard && guard != r.Attributes.ChangeTime)
            throw new FileSystemException(FileSystemError.NotSync, "the ctime guard does not match");
        Permissions.RequireSetAttributes(caller, r.Attributes, changes);
        Apply(caller, r, changes);
        return AttributesOf(StatFd(r.Fd));
    }));

    private static void Apply(CallerIdentity caller, in Resolved r, AttributeChanges changes)
    {
        if (changes.Size is ulong size)
        {
            if (r.Attributes.Type != FileType.Regular)
                throw new FileSystemException(FileSystemError.Invalid, $"cannot set the size of a {r.Attributes.Type}");
            if (size > long.MaxValue) throw new FileSystemException(FileSystemError.FileTooBig, $"size {size}");
            using Fd writable = r.Reopen(O_WRONLY);
            if (ftruncate(writable.Value, (long)size) != 0) throw Errno("ftruncate");
        }
        if (changes.Uid is not null || changes.Gid is not null)
        {
            if (fchownat(r.Fd, "", changes.Uid ?? uint.MaxValue, changes.Gid ?? uint.MaxValue, AT_EMPTY_PATH) != 0)
                throw Errno("fchownat");
        }
        // Linux has no modes on symbolic links; chmod of a link is silently ignored like nfsd does.
        if (changes.Mode is uint mode && r.Attributes.Type != FileType.SymbolicLink)
        {
            uint effective = Permissions.EffectiveNewMode(caller, mode, changes.Gid ?? r.Attributes.Gid);
            if (fchmodat(AT_FDCWD, $"/proc/self/fd/{r.Fd}", effective, 0) != 0) throw Errno("chmod");
        }
        if (changes.AccessTime.Kind != TimeChangeKind.DontChange || changes.ModifyTime.Kind != TimeChangeKind.DontChange)
        {
            Timespec* times = stackalloc Timespec[2];
            times[0] = ToTimespec(changes.AccessTime);
            times[1] = ToTimespec(changes.ModifyTime);
            if (utimensat(r.Fd, "", times, AT_EMPTY_PATH) != 0) throw Errno("utimensat");
        }
    }

    private static Timespec ToTimespec(TimeChange change) => change.Kind switch
    {
        TimeChangeKind.ServerTime => new Timespec { tv_nsec = UTIME_NOW },
        TimeChangeKind.ClientTime => new Timespec { tv_sec = change.Time.Seconds, tv_nsec = change.Time.Nanoseconds },
        _ => new Timespec { tv_nsec = UTIME_OMIT },
    };

    public ValueTask<AccessRights> AccessAsync(CallerIdentity caller, FileHandle file, AccessRights requested, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using Resolved r = Resolve(file);
            var a = r.Attributes;
            return Permissions.Grant(caller, a.Type, a.Mode, a.Uid, a.Gid) & requested;
        }));

    // ---- names ------------------------------------------------------------------------------------------------

    public ValueTask<FileObject> LookupAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using Resolved dir = ResolveDirectory(directory);
            Permissions.ValidateLookupName(name);
            Permissions.RequireLookup(caller, dir.Attributes);
            using Fd child = OpenChild(dir, name);
            return ObjectOfFd(child.Value);
        }));

    public ValueTask<string> ReadLinkAsync(CallerIdentity caller, FileHandle link, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using Resolved r = Resolve(link);
            if (r.Attributes.Type != FileType.SymbolicLink)
                throw new FileSystemException(FileSystemError.Invalid, "not a symbolic link");
            byte[] buffer = new byte[4097];
            nint length;
            fixed (byte* p = buffer) length = readlinkat(r.Fd, "", p, buffer.Length);
            if (length < 0) throw Errno("readlinkat");
            if (length >= buffer.Length) throw new FileSystemException(FileSystemError.NameTooLong, "symbolic link target over 4096 bytes");
            return XdrText.Decode(buffer.AsSpan(0, (int)length));
        }));

    // ---- data -------------------------------------------------------------------------------------------------

    public ValueTask<ReadResult> ReadAsync(CallerIdentity caller, FileHandle file, ulong offset, Memory<byte> destination,
        CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved r = Resolve(file);
        Permissions.RequireFileData(caller, r.Attributes, write: false);
        if (offset >= long.MaxValue) return new ReadResult(0, true);
        using Fd data = r.Reopen(O_RDONLY | O_NOFOLLOW);
        int total = 0;
        Span<byte> span = destination.Span;
        fixed (byte* p = span)
        {
            while (total < span.Length)
            {
                nint n = pread(data.Value, p + total, span.Length - total, (long)offset + total);
                if (n < 0) throw Errno("pread");
                if (n == 0) break;
                total += (int)n;
            }
        }
        // The size after the read decides EOF exactly, even if the file grew or shrank meanwhile.
        ulong size = StatFd(data.Value).stx_size;
        return new ReadResult(total, offset + (ulong)total >= size);
    }));

    public ValueTask<WriteResult> WriteAsync(CallerIdentity caller, FileHandle file, ulong offset, ReadOnlyMemory<byte> data,
        WriteStability stability, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved r = Resolve(file);
        Permissions.RequireFileData(caller, r.Attributes, write: true);
        if (offset > long.MaxValue || (ulong)data.Length > long.MaxValue - offset)
            throw new FileSystemException(FileSystemError.FileTooBig, $"a write at {offset} of {data.Length} bytes");
        using Fd writable = r.Reopen(O_WRONLY | O_NOFOLLOW);
        ReadOnlySpan<byte> span = data.Span;
        int total = 0;
        fixed (byte* p = span)
        {
            while (total < span.Length)
            {
                nint n = pwrite(writable.Value, p + total, span.Length - total, (long)offset + total);
                if (n <= 0) throw Errno("pwrite");
                total += (int)n;
            }
        }
        if (stability == WriteStability.FileSync && fsync(writable.Value) != 0) throw Errno("fsync");
        if (stability == WriteStability.DataSync && fdatasync(writable.Value) != 0) throw Errno("fdatasync");
        return new WriteResult(total, stability);
    }));

    public ValueTask CommitAsync(CallerIdentity caller, FileHandle file, ulong offset, uint count, CancellationToken cancellationToken)
    {
        Run(cancellationToken, () =>
        {
            using Resolved r = Resolve(file);
            if (r.Attributes.Type != FileType.Regular) return 0;
            // fdatasync flushes every dirty page of the inode, whichever descriptor wrote it.
            using Fd data = r.Reopen(O_RDONLY | O_NOFOLLOW);
            if (fdatasync(data.Value) != 0) throw Errno("fdatasync");
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    // ---- creation ---------------------------------------------------------------------------------------------

    /// <summary>Owner, mode and times of a new object: the caller owns it (root may ask for another owner).</summary>
    private void FinishNew(CallerIdentity caller, in Resolved dir, int fd, FileType type, AttributeChanges attributes, uint defaultMode)
    {
        uint uid = caller.Uid, gid = Permissions.NewObjectGid(caller, dir.Attributes);
        if (caller.IsRoot)
        {
            uid = attributes.Uid ?? uid;
            gid = attributes.Gid ?? gid;
        }
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) throw Errno("fchownat");
        if (type != FileType.SymbolicLink)
        {
            uint mode = (attributes.Mode ?? defaultMode) & 0xFFF;
            if (type == FileType.Directory && (dir.Attributes.Mode & Permissions.SetGid) != 0) mode |= Permissions.SetGid;
            if (fchmodat(AT_FDCWD, $"/proc/self/fd/{fd}", mode, 0) != 0) throw Errno("chmod");
        }
        var rest = attributes with { Uid = null, Gid = null, Mode = null };
        if (!rest.IsEmpty) ApplyToFd(caller, fd, rest);
    }

    private void ApplyToFd(CallerIdentity caller, int fd, AttributeChanges changes)
    {
        // Re-resolve through our own handle so size changes can reopen the file for writing.
        using Resolved r = Resolve(HandleOfFd(fd));
        Apply(caller, r, changes);
    }

    private Resolved PrepareNew(CallerIdentity caller, FileHandle directory, string name)
    {
        Resolved dir = ResolveDirectory(directory);
        try
        {
            Permissions.ValidateNewName(name);
            Permissions.RequireModifyDirectory(caller, dir.Attributes);
            return dir;
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>Opens a just-created name and gives it to the caller; removes it again if that fails.</summary>
    private FileObject Adopt(CallerIdentity caller, in Resolved dir, string name, FileType type, AttributeChanges attributes,
        uint defaultMode, bool isDirectory = false)
    {
        int fd = openat(dir.Fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        try
        {
            if (fd < 0) throw Errno($"open of new '{name}'");
            FinishNew(caller, dir, fd, type, attributes, defaultMode);
            return ObjectOfFd(fd);
        }
        catch
        {
            unlinkat(dir.Fd, name, isDirectory ? AT_REMOVEDIR : 0);
            throw;
        }
        finally
        {
            if (fd >= 0) close(fd);
        }
    }

    public ValueTask<FileObject> CreateAsync(CallerIdentity caller, FileHandle directory, string name, CreateMode mode,
        AttributeChanges attributes, ulong verifier, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved dir = PrepareNew(caller, directory, name);
        int fd = openat(dir.Fd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0x180);
        if (fd >= 0)
        {
            close(fd);
            if (mode != CreateMode.Exclusive)
                return Adopt(caller, dir, name, FileType.Regular, attributes, defaultMode: 0x1A4);
            // Like Linux nfsd, the verifier lives in atime/mtime seconds until the client's SETATTR replaces them.
            var stamp = new AttributeChanges
            {
                AccessTime = TimeChange.To(new FileTime((long)(verifier >> 32), 0)),
                ModifyTime = TimeChange.To(new FileTime((long)(verifier & 0xFFFFFFFF), 0)),
            };
            return Adopt(caller, dir, name, FileType.Regular, stamp, defaultMode: 0x1A4);
        }
        if (LastErrno != 17) throw Errno($"create of '{name}'");
        using Fd existing = OpenChild(dir, name);
        FileObject found = ObjectOfFd(existing.Value);
        var a = found.Attributes;
        switch (mode)
        {
            case CreateMode.Exclusive when a.Type == FileType.Regular
                && (ulong)a.AccessTime.Seconds == verifier >> 32 && (ulong)a.ModifyTime.Seconds == (verifier & 0xFFFFFFFF):
                return found;
            case CreateMode.Unchecked when a.Type == FileType.Regular:
                if (attributes.Size is not ulong size) return found;
                Permissions.RequireFileData(caller, a, write: true);
                ApplyToFd(caller, existing.Value, new AttributeChanges { Size = size });
                return ObjectOfFd(existing.Value);
            case CreateMode.Unchecked when a.Type == FileType.Directory:
                throw new FileSystemException(FileSystemError.IsDirectory, $"'{name}' is a directory");
            default:
                throw new FileSystemException(FileSystemError.Exists, $"'{name}' exists");
        }
    }));

    public ValueTask<FileObject> MakeDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        AttributeChanges attributes, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved dir = PrepareNew(caller, directory, name);
        if (mkdirat(dir.Fd, name, 0x1C0) != 0) throw Errno($"mkdir of '{name}'");
        return Adopt(caller, dir, name, FileType.Directory, attributes, defaultMode: 0x1ED, isDirectory: true);
    }));

    public ValueTask<FileObject> SymlinkAsync(CallerIdentity caller, FileHandle directory, string name, string target,
        AttributeChanges attributes, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        if (target.Length == 0 || target.Contains('\0'))
            throw new FileSystemException(FileSystemError.Invalid, "a symbolic link target is non-empty and has no NUL");
        using Resolved dir = PrepareNew(caller, directory, name);
        if (symlinkat(target, dir.Fd, name) != 0) throw Errno($"symlink of '{name}'");
        return Adopt(caller, dir, name, FileType.SymbolicLink, attributes with { Mode = null, Size = null }, defaultMode: 0x1FF);
    }));

    public ValueTask<FileObject> MakeNodeAsync(CallerIdentity caller, FileHandle directory, string name, FileType type,
        DeviceNumber device, AttributeChanges attributes, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        uint kind = type switch
        {
            FileType.Fifo => S_IFIFO,
            FileType.Socket => S_IFSOCK,
            FileType.BlockDevice => S_IFBLK,
            FileType.CharacterDevice => S_IFCHR,
            _ => throw new FileSystemException(FileSystemError.BadType, $"MKNOD cannot create a {type}"),
        };
        bool isDevice = type is FileType.BlockDevice or FileType.CharacterDevice;
        if (isDevice && !caller.IsRoot)
            throw new FileSystemException(FileSystemError.NotPermitted, "only root creates device nodes");
        using Resolved dir = PrepareNew(caller, directory, name);
        ulong dev = isDevice ? MakeDevice(device.Major, device.Minor) : 0;
        if (mknodat(dir.Fd, name, kind | 0x180, dev) != 0) throw Errno($"mknod of '{name}'");
        return Adopt(caller, dir, name, type, attributes with { Size = null }, defaultMode: 0x1A4);
    }));

    // ---- removal and renaming ---------------------------------------------------------------------------------

    private FileAttributes StatChild(in Resolved dir, string name)
    {
        if (statx(dir.Fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out Statx s) != 0) throw Errno($"stat of '{name}'");
        return AttributesOf(s);
    }

    private void RemoveEntry(CallerIdentity caller, FileHandle directory, string name, bool wantDirectory)
    {
        using Resolved dir = ResolveDirectory(directory);
        if (wantDirectory && name == ".") throw new FileSystemException(FileSystemError.Invalid, "cannot remove '.'");
        if (wantDirectory && name == "..") throw new FileSystemException(FileSystemError.NotEmpty, "cannot remove '..'");
        Permissions.ValidateNewName(name);
        Permissions.RequireLookup(caller, dir.Attributes);
        FileAttributes victim = StatChild(dir, name);
        if (wantDirectory && victim.Type != FileType.Directory)
            throw new FileSystemException(FileSystemError.NotDirectory, $"'{name}' is not a directory");
        if (!wantDirectory && victim.Type == FileType.Directory)
            throw new FileSystemException(FileSystemError.IsDirectory, $"'{name}' is a directory");
        Permissions.RequireModifyDirectory(caller, dir.Attributes);
        Permissions.RequireStickyOwnership(caller, dir.Attributes, victim);
        if (unlinkat(dir.Fd, name, wantDirectory ? AT_REMOVEDIR : 0) != 0)
        {
            // rmdir(2) may say EEXIST for a non-empty directory.
            if (LastErrno == 17) throw new FileSystemException(FileSystemError.NotEmpty, $"'{name}' is not empty");
            throw Errno($"remove of '{name}'");
        }
    }

    public ValueTask RemoveAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken)
    {
        Run(cancellationToken, () => { RemoveEntry(caller, directory, name, wantDirectory: false); return 0; });
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveDirectoryAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken)
    {
        Run(cancellationToken, () => { RemoveEntry(caller, directory, name, wantDirectory: true); return 0; });
        return ValueTask.CompletedTask;
    }

    public ValueTask RenameAsync(CallerIdentity caller, FileHandle fromDirectory, string fromName, FileHandle toDirectory,
        string toName, CancellationToken cancellationToken)
    {
        Run(cancellationToken, () =>
        {
            using Resolved from = ResolveDirectory(fromDirectory);
            using Resolved to = ResolveDirectory(toDirectory);
            if (fromName is "." or ".." || toName is "." or "..")
                throw new FileSystemException(FileSystemError.Invalid, "cannot rename '.' or '..'");
            Permissions.ValidateNewName(fromName);
            Permissions.ValidateNewName(toName);
            Permissions.RequireLookup(caller, from.Attributes);
            FileAttributes moving = StatChild(from, fromName);
            Permissions.RequireModifyDirectory(caller, from.Attributes);
            Permissions.RequireModifyDirectory(caller, to.Attributes);
            Permissions.RequireStickyOwnership(caller, from.Attributes, moving);
            bool sameParent = from.Attributes.FileId == to.Attributes.FileId;
            if (moving.Type == FileType.Directory && !sameParent)
                Permissions.Require(caller, moving, AccessRights.Modify, "move the directory");
            if (statx(to.Fd, toName, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out Statx target) == 0)
                Permissions.RequireStickyOwnership(caller, to.Attributes, AttributesOf(target));
            if (renameat2(from.Fd, fromName, to.Fd, toName, 0) != 0)
            {
                if (LastErrno == 17) throw new FileSystemException(FileSystemError.NotEmpty, $"'{toName}' is not empty");
                throw Errno($"rename of '{fromName}' to '{toName}'");
            }
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask<FileAttributes> LinkAsync(CallerIdentity caller, FileHandle file, FileHandle toDirectory, string toName,
        CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        using Resolved r = Resolve(file);
        if (r.Attributes.Type == FileType.Directory)
            throw new FileSystemException(FileSystemError.NotPermitted, "cannot hard-link a directory");
        using Resolved dir = PrepareNew(caller, toDirectory, toName);
        if (linkat(r.Fd, "", dir.Fd, toName, AT_EMPTY_PATH) != 0) throw Errno($"link to '{toName}'");
        return AttributesOf(StatFd(r.Fd));
    }));

    // ---- directories ------------------------------------------------------------------------------------------

    public ValueTask<DirectoryPage> ReadDirectoryAsync(CallerIdentity caller, FileHandle directory, ulong cookie,
        ulong cookieVerifier, int maxEntries, bool withObjects, CancellationToken cancellationToken) => new(Run(cancellationToken, () =>
    {
        if (maxEntries <= 0) throw new FileSystemException(FileSystemError.Invalid, "maxEntries must be positive");
        if (cookie > long.MaxValue) throw new FileSystemException(FileSystemError.BadCookie, $"cookie {cookie}");
        using Resolved dir = ResolveDirectory(directory);
        Permissions.Require(caller, dir.Attributes, AccessRights.Read, "list the directory");
        using Fd listing = dir.Reopen(O_RDONLY | O_DIRECTORY);
        if (lseek(listing.Value, (long)cookie, 0) < 0)
            throw new FileSystemException(FileSystemError.BadCookie, $"cookie {cookie} is not valid in this directory");
        ulong verifier = (ulong)dir.Attributes.ModifyTime.Seconds * 1_000_000_000 + dir.Attributes.ModifyTime.Nanoseconds;
        var entries = new List<DirectoryEntry>();
        byte[] buffer = new byte[32 * 1024];
        for (int batch = 0; batch < 1_000_000; batch++)
        {
            nint length;
            fixed (byte* p = buffer) length = getdents64(listing.Value, p, buffer.Length);
            if (length < 0) throw Errno("getdents64");
            if (length == 0) return new DirectoryPage(entries, verifier, EndOfDirectory: true);
            for (int position = 0; position < length;)
            {
                // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name[].
                ReadOnlySpan<byte> record = buffer.AsSpan(position);
                ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(record);
                ulong next = BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
                int recordLength = BinaryPrimitives.ReadUInt16LittleEndian(record[16..]);
                ReadOnlySpan<byte> nameBytes = record[19..recordLength];
                string name = XdrText.Decode(nameBytes[..nameBytes.IndexOf((byte)0)]);
                position += recordLength;
                if (entries.Count == maxEntries) return new DirectoryPage(entries, verifier, EndOfDirectory: false);
                if (name == ".." && dir.IsRoot) inode = _rootInode;
                entries.Add(new DirectoryEntry(name, inode, next, withObjects ? TryObjectOf(dir, name) : null));
            }
        }
        throw new FileSystemException(FileSystemError.Io, "directory listing did not end");
    }));

    /// <summary>READDIRPLUS data for one entry; null when it vanished meanwhile or cannot be served.</summary>
    private FileObject? TryObjectOf(in Resolved dir, string name)
    {
        try
        {
            using Fd child = OpenChild(dir, name);
            return ObjectOfFd(child.Value);
        }
        catch (FileSystemException)
        {
            return null;
        }
    }

    // ---- file system ------------------------------------------------------------------------------------------

    private Statvfs StatFileSystem()
    {
        if (fstatvfs(_rootFd, out Statvfs s) != 0) throw Errno("fstatvfs");
        return s;
    }

    public ValueTask<FileSystemStatistics> GetStatisticsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using (Resolve(file)) { }
            Statvfs s = StatFileSystem();
            return new FileSystemStatistics(s.f_blocks * s.f_frsize, s.f_bfree * s.f_frsize, s.f_bavail * s.f_frsize,
                s.f_files, s.f_ffree, s.f_favail);
        }));

    public ValueTask<FileSystemLimits> GetLimitsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Run(cancellationToken, () =>
        {
            using (Resolve(file)) { }
            Statvfs s = StatFileSystem();
            return new FileSystemLimits(long.MaxValue, (uint)Math.Min(s.f_namemax, Permissions.MaxNameBytes), MaxLinks,
                SupportsHardLinks: true, SupportsSymbolicLinks: true, TimeGranularity: new FileTime(0, 1),
                NoTruncation: true, ChownRestricted: true, CaseInsensitive: false, CasePreserving: true);
        }));
}
