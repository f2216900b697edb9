using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Mount3;

/// <summary>The fixed numbers of the MOUNT protocol version 3 (RFC 1813 appendix I).</summary>
public static class Mount3
{
    /// <summary>MOUNT_PROGRAM.</summary>
    public const uint Program = 100005;

    /// <summary>MOUNT_V3.</summary>
    public const uint Version = 3;

    /// <summary>MNTPATHLEN: the longest dirpath, in bytes.</summary>
    public const int MaxPathLength = 1024;

    /// <summary>MNTNAMLEN: the longest name (host or group), in bytes.</summary>
    public const int MaxNameLength = 255;
}

/// <summary>The procedures of MOUNT v3 (RFC 1813 appendix I). Version 3 has no EXPORTALL.</summary>
public enum Mount3Procedure : uint
{
    Null = 0,
    Mnt = 1,
    Dump = 2,
    Umnt = 3,
    UmntAll = 4,
    Export = 5,
}

/// <summary>mountstat3 (RFC 1813 appendix I): a subset of nfsstat3, with the same numbers and meanings.</summary>
public enum MountStatus : uint
{
    Ok = 0,
    Perm = 1,
    NoEnt = 2,
    Io = 5,
    Acces = 13,
    NotDir = 20,
    Inval = 22,
    NameTooLong = 63,
    NotSupp = 10004,
    ServerFault = 10006,
}

/// <summary>Names, descriptions and errno mapping of <see cref="MountStatus"/>, shared with nfsstat3 (same numbers).</summary>
public static class MountStatusInfo
{
    /// <summary>The RFC's name, e.g. <c>MNT3ERR_ACCES</c>.</summary>
    public static string WireName(this MountStatus status) => Nfs3StatusInfo.Name("MNT3", (Nfs3Status)status);

    public static string Describe(this MountStatus status) => ((Nfs3Status)status).Describe();

    public static LinuxErrno ToErrno(this MountStatus status) => ((Nfs3Status)status).ToErrno();
}

/// <summary>dirpath (RFC 1813 appendix I): the argument of MNT and UMNT, at most <see cref="Mount3.MaxPathLength"/> bytes.</summary>
public readonly record struct DirPath : IXdrWritable
{
    public DirPath(string path) => Path = XdrLists.CheckLength(path, Mount3.MaxPathLength, "mount path", nameof(path));

    public string Path { get; }

    public static DirPath Read(ref XdrReader reader) => new(reader.ReadString(Mount3.MaxPathLength, "dirpath"));

    public void Write(XdrWriter writer) => writer.WriteString(Path);

    public override string ToString() => Path;
}

/// <summary>
/// mountres3_ok (RFC 1813 appendix I): the export's root handle and the RPC security flavors the server accepts
/// for it, in its order of preference. A mountres3 with any other status has no body.
/// </summary>
public sealed record MountResult(NfsFileHandle Handle, IReadOnlyList<RpcAuthFlavor> AuthFlavors) : IXdrWritable
{
    public static MountResult Read(ref XdrReader reader)
    {
        var handle = NfsFileHandle.Read(ref reader);
        var flavors = XdrLists.ReadUInt32Array(ref reader, "auth_flavors");
        return new MountResult(handle, Array.ConvertAll(flavors, f => (RpcAuthFlavor)f));
    }

    public void Write(XdrWriter writer)
    {
        Handle.Write(writer);
        writer.WriteUInt32((uint)AuthFlavors.Count);
        foreach (var flavor in AuthFlavors) writer.WriteUInt32((uint)flavor);
    }

    /// <summary>mountres3: the status, then mountres3_ok if it is MNT3_OK (statuses outside the RFC's list are kept).</summary>
    public static (MountStatus Status, MountResult? Result) ReadReply(ref XdrReader reader)
    {
        var status = (MountStatus)reader.ReadUInt32();
        return (status, status == MountStatus.Ok ? Read(ref reader) : null);
    }

    public static void WriteReply(XdrWriter writer, MountStatus status, MountResult? result)
    {
        if ((status == MountStatus.Ok) != (result is not null))
            throw new ArgumentException("a mountres3 carries a result exactly when its status is MNT3_OK", nameof(result));
        writer.WriteUInt32((uint)status);
        result?.Write(writer);
    }
}

/// <summary>exportnode (RFC 1813 appendix I) without its link: a directory and the groups (hosts, netgroups) it is exported to.</summary>
public sealed record ExportEntry(string Directory, IReadOnlyList<string> Groups)
{
    public static ExportEntry Read(ref XdrReader reader)
    {
        string directory = reader.ReadString(Mount3.MaxPathLength, "ex_dir");
        return new ExportEntry(directory, XdrLists.ReadLinkedList(ref reader, ReadGroupName));
    }

    public static void Write(XdrWriter writer, ExportEntry entry)
    {
        writer.WriteString(XdrLists.CheckLength(entry.Directory, Mount3.MaxPathLength, "export directory", nameof(entry)));
        XdrLists.WriteLinkedList(writer, entry.Groups,
            (w, group) => w.WriteString(XdrLists.CheckLength(group, Mount3.MaxNameLength, "export group", nameof(entry))));
    }

    /// <summary>exports: the whole EXPORT reply, a linked list of exportnodes each holding a linked list of groupnodes.</summary>
    public static IReadOnlyList<ExportEntry> ReadList(ref XdrReader reader) => XdrLists.ReadLinkedList(ref reader, Read);

    public static void WriteList(XdrWriter writer, IEnumerable<ExportEntry> entries) => XdrLists.WriteLinkedList(writer, entries, Write);

    private static string ReadGroupName(ref XdrReader reader) => reader.ReadString(Mount3.MaxNameLength, "gr_name");
}

/// <summary>mountbody (RFC 1813 appendix I) without its link: a client host and the directory it mounted.</summary>
public readonly record struct MountEntry(string Hostname, string Directory)
{
    public static MountEntry Read(ref XdrReader reader) =>
        new(reader.ReadString(Mount3.MaxNameLength, "ml_hostname"), reader.ReadString(Mount3.MaxPathLength, "ml_directory"));

    public static void Write(XdrWriter writer, MountEntry entry)
    {
        writer.WriteString(XdrLists.CheckLength(entry.Hostname, Mount3.MaxNameLength, "host name", nameof(entry)));
        writer.WriteString(XdrLists.CheckLength(entry.Directory, Mount3.MaxPathLength, "mount directory", nameof(entry)));
    }

    /// <summary>mountlist: the whole DUMP reply.</summary>
    public static IReadOnlyList<MountEntry> ReadList(ref XdrReader reader) => XdrLists.ReadLinkedList(ref reader, Read);

    public static void WriteList(XdrWriter writer, IEnumerable<MountEntry> entries) => XdrLists.WriteLinkedList(writer, entries, Write);
}
