namespace NfsNs.Protocols.Nfs3;

/// <summary>The fixed numbers of NFS version 3 (RFC 1813).</summary>
public static class Nfs3
{
    /// <summary>NFS_PROGRAM (RFC 1813 §3).</summary>
    public const uint Program = 100003;

    /// <summary>NFS_V3.</summary>
    public const uint Version = 3;

    /// <summary>The port NFS servers listen on when rpcbind does not say otherwise (registered with IANA; RFC 7530 §3.1 makes it normative for v4).</summary>
    public const int DefaultPort = 2049;

    /// <summary>NFS3_FHSIZE: the largest file handle (RFC 1813 §2.4).</summary>
    public const int MaxFileHandleSize = 64;

    /// <summary>
    /// Longest filename3 we send or accept, in bytes. RFC 1813 leaves filename3 unbounded; 255 is NAME_MAX and
    /// what Linux (NFS3_MAXNAMLEN) and every common server enforce.
    /// </summary>
    public const int MaxNameLength = 255;

    /// <summary>Longest nfspath3 (symlink target), in bytes: NFS3_MAXPATHLEN in Linux, MNTPATHLEN in RFC 1813 appendix I.</summary>
    public const int MaxPathLength = 1024;
}

/// <summary>The procedures of NFS version 3 (RFC 1813 §3.3).</summary>
public enum Nfs3Procedure : uint
{
    Null = 0,
    GetAttr = 1,
    SetAttr = 2,
    Lookup = 3,
    Access = 4,
    ReadLink = 5,
    Read = 6,
    Write = 7,
    Create = 8,
    Mkdir = 9,
    Symlink = 10,
    Mknod = 11,
    Remove = 12,
    Rmdir = 13,
    Rename = 14,
    Link = 15,
    ReadDir = 16,
    ReadDirPlus = 17,
    FsStat = 18,
    FsInfo = 19,
    PathConf = 20,
    Commit = 21,
}

/// <summary>ftype3 (RFC 1813 §2.5).</summary>
public enum Nfs3FileType : uint
{
    Regular = 1,
    Directory = 2,
    BlockDevice = 3,
    CharacterDevice = 4,
    Symlink = 5,
    Socket = 6,
    Fifo = 7,
}

/// <summary>stable_how (RFC 1813 §3.3.7): how far WRITE must have pushed the data before replying.</summary>
public enum StableHow : uint
{
    Unstable = 0,
    DataSync = 1,
    FileSync = 2,
}

/// <summary>createmode3 (RFC 1813 §3.3.8).</summary>
public enum CreateMode : uint
{
    Unchecked = 0,
    Guarded = 1,
    Exclusive = 2,
}

/// <summary>time_how (RFC 1813 §2.5): the discriminant of set_atime and set_mtime.</summary>
public enum TimeHow : uint
{
    DontChange = 0,
    SetToServerTime = 1,
    SetToClientTime = 2,
}

/// <summary>ACCESS3_* bits (RFC 1813 §3.3.4).</summary>
[Flags]
public enum Access3 : uint
{
    None = 0,
    Read = 0x0001,
    Lookup = 0x0002,
    Modify = 0x0004,
    Extend = 0x0008,
    Delete = 0x0010,
    Execute = 0x0020,
    All = Read | Lookup | Modify | Extend | Delete | Execute,
}

/// <summary>FSF3_* bits of FSINFO's properties (RFC 1813 §3.3.19).</summary>
[Flags]
public enum FsProperties : uint
{
    None = 0,
    Link = 0x0001,
    Symlink = 0x0002,
    Homogeneous = 0x0008,
    CanSetTime = 0x0010,
}
