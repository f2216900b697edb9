namespace NfsNs.Server.FileSystem;

/// <summary>
/// POSIX permission rules evaluated explicitly for a caller (the server itself runs as root, so the kernel cannot
/// check for us), shared by every backend so they agree.
/// </summary>
internal static class Permissions
{
    public const uint SetUid = 0x800, SetGid = 0x400, Sticky = 0x200;
    public const uint MaxNameBytes = 255;

    /// <summary>The rwx bits (0..7) that apply to <paramref name="caller"/>, before the root override.</summary>
    private static uint ClassBits(CallerIdentity caller, uint mode, uint uid, uint gid)
    {
        if (caller.Uid == uid) return (mode >> 6) & 7;
        if (caller.IsInGroup(gid)) return (mode >> 3) & 7;
        return mode & 7;
    }

    /// <summary>The rights granted on an object, as ACCESS defines them (RFC 1813 section 3.3.4).</summary>
    public static AccessRights Grant(CallerIdentity caller, FileType type, uint mode, uint uid, uint gid)
    {
        uint bits = ClassBits(caller, mode, uid, gid);
        bool read = (bits & 4) != 0, write = (bits & 2) != 0, execute = (bits & 1) != 0;
        if (caller.IsRoot)
        {
            // Like Linux's capable(CAP_DAC_OVERRIDE): root reads and writes anything and searches any directory,
            // but executes a file only when some execute bit is set.
            read = write = true;
            execute = type == FileType.Directory || (mode & 0x49) != 0;
        }
        var granted = AccessRights.None;
        if (read) granted |= AccessRights.Read;
        if (write) granted |= AccessRights.Modify | AccessRights.Extend;
        if (type == FileType.Directory)
        {
            if (execute) granted |= AccessRights.Lookup;
            if (write && execute) granted |= AccessRights.Delete;
        }
        else if (execute)
        {
            granted |= AccessRights.Execute;
        }
        return granted;
    }

    public static void Require(CallerIdentity caller, FileAttributes attributes, AccessRights needed, string what)
    {
        AccessRights granted = Grant(caller, attributes.Type, attributes.Mode, attributes.Uid, attributes.Gid);
        if ((granted & needed) != needed)
            throw new FileSystemException(FileSystemError.AccessDenied, $"{caller} may not {what} (needs {needed & ~granted})");
    }

    /// <summary>
    /// READ/WRITE of file data. Like Linux nfsd (NFSD_MAY_OWNER_OVERRIDE) the owner may always read and write its
    /// own regular file: NFS has no open, so a client that created a file with mode 0444 must still write to it.
    /// </summary>
    public static void RequireFileData(CallerIdentity caller, FileAttributes file, bool write)
    {
        if (file.Type == FileType.Directory)
            throw new FileSystemException(FileSystemError.IsDirectory, "is a directory");
        if (file.Type != FileType.Regular)
            throw new FileSystemException(FileSystemError.Invalid, $"cannot read or write a {file.Type}");
        if (caller.Uid == file.Uid) return;
        Require(caller, file, write ? AccessRights.Modify : AccessRights.Read, write ? "write the file" : "read the file");
    }

    /// <summary>Search permission on a directory (also checks that it is one).</summary>
    public static void RequireLookup(CallerIdentity caller, FileAttributes directory)
    {
        if (directory.Type != FileType.Directory)
            throw new FileSystemException(FileSystemError.NotDirectory, "not a directory");
        Require(caller, directory, AccessRights.Lookup, "search the directory");
    }

    /// <summary>Write and search permission on a directory whose entries change.</summary>
    public static void RequireModifyDirectory(CallerIdentity caller, FileAttributes directory)
    {
        if (directory.Type != FileType.Directory)
            throw new FileSystemException(FileSystemError.NotDirectory, "not a directory");
        Require(caller, directory, AccessRights.Lookup | AccessRights.Modify, "change entries in the directory");
    }

    /// <summary>The sticky-bit rule of unlink(2)/rename(2): only the owner of the entry or the directory (or root).</summary>
    public static void RequireStickyOwnership(CallerIdentity caller, FileAttributes directory, FileAttributes victim)
    {
        if ((directory.Mode & Sticky) != 0 && !caller.IsRoot && caller.Uid != victim.Uid && caller.Uid != directory.Uid)
            throw new FileSystemException(FileSystemError.AccessDenied,
                $"{caller} may not remove an entry owned by uid {victim.Uid} from a sticky directory");
    }

    /// <summary>
    /// chown/chmod/utimes rules of POSIX: mode and explicit times need ownership; owner needs root; group needs
    /// ownership and membership; size needs write permission; "now" times need ownership or write permission.
    /// </summary>
    public static void RequireSetAttributes(CallerIdentity caller, FileAttributes current, AttributeChanges changes)
    {
        if (caller.IsRoot) return;
        bool owner = caller.Uid == current.Uid;
        if (changes.Mode is not null && !owner)
            throw NotPermitted(caller, "change the mode of a file it does not own");
        if (changes.Uid is uint uid && uid != current.Uid)
            throw NotPermitted(caller, "change the owner");
        if (changes.Gid is uint gid && gid != current.Gid && (!owner || !caller.IsInGroup(gid)))
            throw NotPermitted(caller, $"change the group to {gid}");
        bool explicitTime = changes.AccessTime.Kind == TimeChangeKind.ClientTime || changes.ModifyTime.Kind == TimeChangeKind.ClientTime;
        if (explicitTime && !owner)
            throw NotPermitted(caller, "set explicit times on a file it does not own");
        bool nowTime = changes.AccessTime.Kind == TimeChangeKind.ServerTime || changes.ModifyTime.Kind == TimeChangeKind.ServerTime;
        if (nowTime && !owner)
            Require(caller, current, AccessRights.Modify, "touch the file");
        if (changes.Size is not null)
        {
            if (current.Type == FileType.Directory)
                throw new FileSystemException(FileSystemError.IsDirectory, "cannot set the size of a directory");
            Require(caller, current, AccessRights.Modify, "truncate the file");
        }
    }

    /// <summary>The mode a chmod by a non-root caller really gets: setgid dropped unless in the group (chmod(2)).</summary>
    public static uint EffectiveNewMode(CallerIdentity caller, uint requested, uint fileGid)
    {
        uint mode = requested & 0xFFF;
        if (!caller.IsRoot && !caller.IsInGroup(fileGid)) mode &= ~SetGid;
        return mode;
    }

    /// <summary>Group of a new object: the directory's under a setgid directory (BSD semantics), else the caller's.</summary>
    public static uint NewObjectGid(CallerIdentity caller, FileAttributes directory) =>
        (directory.Mode & SetGid) != 0 ? directory.Gid : caller.Gid;

    /// <summary>Names are one path component: no '/', no NUL, not "." or "..", 1..255 UTF-8 bytes.</summary>
    public static void ValidateNewName(string name)
    {
        ValidateLookupName(name);
        if (name is "." or "..")
            throw new FileSystemException(FileSystemError.Exists, $"'{name}' always exists");
    }

    public static void ValidateLookupName(string name)
    {
        if (name.Length == 0)
            throw new FileSystemException(FileSystemError.Invalid, "empty file name");
        if (name.Contains('/') || name.Contains('\0'))
            throw new FileSystemException(FileSystemError.Invalid, $"file name '{name.Replace("\0", "\\0")}' contains '/' or NUL");
        if (NfsNs.Xdr.XdrText.GetByteCount(name) > MaxNameBytes)
            throw new FileSystemException(FileSystemError.NameTooLong, $"file name longer than {MaxNameBytes} bytes");
    }

    private static FileSystemException NotPermitted(CallerIdentity caller, string what) =>
        new(FileSystemError.NotPermitted, $"{caller} may not {what}");
}
