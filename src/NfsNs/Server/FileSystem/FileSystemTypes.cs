namespace NfsNs.Server.FileSystem;

/// <summary>
/// Who is calling: the AUTH_SYS-style identity (RFC 5531 appendix A) after any squashing. Every operation takes one,
/// so backends check permissions as the caller, not as the server process.
/// </summary>
public sealed record CallerIdentity(uint Uid, uint Gid, IReadOnlyList<uint> Groups)
{
    public static CallerIdentity Root { get; } = new(0, 0, []);

    public bool IsRoot => Uid == 0;

    public bool IsInGroup(uint gid) => Gid == gid || Groups.Contains(gid);

    public override string ToString() => $"uid={Uid} gid={Gid} groups=[{string.Join(",", Groups)}]";
}

public enum FileType
{
    Regular = 1,
    Directory = 2,
    BlockDevice = 3,
    CharacterDevice = 4,
    SymbolicLink = 5,
    Socket = 6,
    Fifo = 7,
}

/// <summary>Seconds and nanoseconds since the Unix epoch, as NFS carries times.</summary>
public readonly record struct FileTime(long Seconds, uint Nanoseconds)
{
    public static FileTime Now
    {
        get
        {
            long ticks = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
            return new FileTime(ticks / TimeSpan.TicksPerSecond, (uint)(ticks % TimeSpan.TicksPerSecond * 100));
        }
    }
}

public readonly record struct DeviceNumber(uint Major, uint Minor);

/// <summary>The attributes of one object: the union of what NFSv3 fattr3 and the common NFSv4 attributes need.</summary>
public sealed record FileAttributes(
    FileType Type,
    uint Mode,
    uint LinkCount,
    uint Uid,
    uint Gid,
    ulong Size,
    ulong UsedBytes,
    DeviceNumber Device,
    ulong FileSystemId,
    ulong FileId,
    FileTime AccessTime,
    FileTime ModifyTime,
    FileTime ChangeTime);

public enum TimeChangeKind
{
    DontChange,
    /// <summary>Set to the server's clock (SET_TO_SERVER_TIME in RFC 1813 section 2.5).</summary>
    ServerTime,
    ClientTime,
}

public readonly record struct TimeChange(TimeChangeKind Kind, FileTime Time = default)
{
    public static TimeChange None => default;
    public static TimeChange ServerTime => new(TimeChangeKind.ServerTime);
    public static TimeChange To(FileTime time) => new(TimeChangeKind.ClientTime, time);
}

/// <summary>The settable attributes (sattr3 / the settable fattr4 subset); null means "leave as is".</summary>
public sealed record AttributeChanges
{
    public static AttributeChanges None { get; } = new();

    /// <summary>Permission bits (07777); the file type bits are ignored.</summary>
    public uint? Mode { get; init; }
    public uint? Uid { get; init; }
    public uint? Gid { get; init; }
    public ulong? Size { get; init; }
    public TimeChange AccessTime { get; init; }
    public TimeChange ModifyTime { get; init; }

    public bool IsEmpty => Mode is null && Uid is null && Gid is null && Size is null
        && AccessTime.Kind == TimeChangeKind.DontChange && ModifyTime.Kind == TimeChangeKind.DontChange;
}

/// <summary>ACCESS bits; the values match ACCESS3_* (RFC 1813 section 3.3.4) and ACCESS4_* for convenience only.</summary>
[Flags]
public enum AccessRights : uint
{
    None = 0,
    Read = 0x01,
    Lookup = 0x02,
    Modify = 0x04,
    Extend = 0x08,
    Delete = 0x10,
    Execute = 0x20,
    All = Read | Lookup | Modify | Extend | Delete | Execute,
}

/// <summary>How durable a WRITE is (stable_how, RFC 1813 section 3.3.7).</summary>
public enum WriteStability
{
    Unstable = 0,
    DataSync = 1,
    FileSync = 2,
}

/// <summary>createmode3 (RFC 1813 section 3.3.8).</summary>
public enum CreateMode
{
    Unchecked = 0,
    Guarded = 1,
    Exclusive = 2,
}

/// <summary>A file system object as the protocol layer sees it: its opaque handle and its attributes.</summary>
public sealed record FileObject(FileHandle Handle, FileAttributes Attributes);

public readonly record struct ReadResult(int Count, bool EndOfFile);

public readonly record struct WriteResult(int Count, WriteStability Stability);

/// <summary>
/// One directory entry. <see cref="Cookie"/> resumes the listing right after this entry. Handle and attributes are
/// filled only when the caller asked for them (READDIRPLUS) and the entry can be named by a handle.
/// </summary>
public sealed record DirectoryEntry(string Name, ulong FileId, ulong Cookie, FileObject? Object);

/// <summary>
/// A page of a directory listing. <see cref="CookieVerifier"/> changes whenever the directory changes; cookies of
/// this backend stay resumable across changes, so a stale verifier is tolerated (RFC 1813 section 3.3.16 lets the
/// server decide), but a cookie that was never issued is <see cref="FileSystemError.BadCookie"/>.
/// </summary>
public sealed record DirectoryPage(IReadOnlyList<DirectoryEntry> Entries, ulong CookieVerifier, bool EndOfDirectory);

/// <summary>FSSTAT (RFC 1813 section 3.3.18).</summary>
public sealed record FileSystemStatistics(
    ulong TotalBytes, ulong FreeBytes, ulong AvailableBytes,
    ulong TotalFiles, ulong FreeFiles, ulong AvailableFiles);

/// <summary>The static limits of FSINFO and PATHCONF (RFC 1813 sections 3.3.19 and 3.3.20).</summary>
public sealed record FileSystemLimits(
    ulong MaxFileSize,
    uint MaxNameLength,
    uint MaxLinkCount,
    bool SupportsHardLinks,
    bool SupportsSymbolicLinks,
    FileTime TimeGranularity,
    bool NoTruncation,
    bool ChownRestricted,
    bool CaseInsensitive,
    bool CasePreserving);
