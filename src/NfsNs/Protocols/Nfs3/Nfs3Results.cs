using NfsNs.Xdr;

namespace NfsNs.Protocols.Nfs3;

// The results of each NFSv3 procedure (RFC 1813 §3.3). Every XXX3res is a union on nfsstat3: these types are
// the NFS3_OK arm's body (Read decodes it after the status, Write encodes it after Nfs3Reply.WriteStatus).
// Failure arms are a shared shape — nothing (GETATTR), a post_op_attr (Fattr3.WritePostOp) or a wcc_data — or,
// for SETATTR, REMOVE, RMDIR, RENAME and LINK, the same body as success.
// GETATTR's body is a Fattr3; SETATTR's, REMOVE's and RMDIR's a WccData.

/// <summary>Writes and reads the nfsstat3 discriminant that starts every result.</summary>
public static class Nfs3Reply
{
    public static void WriteStatus(XdrWriter writer, Nfs3Status status) => writer.WriteUInt32((uint)status);

    /// <summary>Statuses outside the RFC's list are kept (an error is an error); the failure arm decodes the same.</summary>
    public static Nfs3Status ReadStatus(ref XdrReader reader) => (Nfs3Status)reader.ReadUInt32();
}

/// <summary>LOOKUP3resok (§3.3.3). On failure the server sends the directory's post_op_attr.</summary>
public sealed record LookupResult(NfsFileHandle Handle, Fattr3? Attributes, Fattr3? DirAttributes) : IXdrWritable
{
    public static LookupResult Read(ref XdrReader reader) =>
        new(NfsFileHandle.Read(ref reader), Fattr3.ReadPostOp(ref reader), Fattr3.ReadPostOp(ref reader));

    public void Write(XdrWriter writer)
    {
        Handle.Write(writer);
        Fattr3.WritePostOp(writer, Attributes);
        Fattr3.WritePostOp(writer, DirAttributes);
    }
}

/// <summary>ACCESS3resok (§3.3.4): the rights granted, of those asked (the attributes come first on the wire).</summary>
public sealed record AccessResult(Access3 Granted, Fattr3? Attributes) : IXdrWritable
{
    public static AccessResult Read(ref XdrReader reader)
    {
        var attributes = Fattr3.ReadPostOp(ref reader);
        return new AccessResult((Access3)reader.ReadUInt32(), attributes);
    }

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteUInt32((uint)Granted);
    }
}

/// <summary>READLINK3resok (§3.3.5).</summary>
public sealed record ReadLinkResult(string Target, Fattr3? Attributes) : IXdrWritable
{
    public static ReadLinkResult Read(ref XdrReader reader)
    {
        var attributes = Fattr3.ReadPostOp(ref reader);
        return new ReadLinkResult(reader.ReadString(Nfs3.MaxPathLength, "nfspath3"), attributes);
    }

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteString(XdrLists.CheckLength(Target, Nfs3.MaxPathLength, "symlink target", nameof(Target)));
    }
}

/// <summary>
/// READ3resok (§3.3.6). <see cref="Data"/> is the payload: on the client, the filled start of the caller's
/// destination; from <see cref="Read(ref XdrReader)"/>, a slice of the record (valid while it is); on the server,
/// what <see cref="Write"/> sends, whose length must equal <see cref="Count"/>.
/// </summary>
public sealed record ReadResult(int Count, bool Eof, Fattr3? Attributes) : IXdrWritable
{
    public ReadOnlyMemory<byte> Data { get; init; }

    public static ReadResult Read(ref XdrReader reader)
    {
        var (attributes, eof, data) = ReadParts(ref reader, int.MaxValue);
        return new ReadResult(data.Length, eof, attributes) { Data = data };
    }

    /// <summary>
    /// Decodes the reply and copies its payload straight from the record into <paramref name="destination"/>.
    /// A payload longer than <paramref name="maxCount"/> or the destination, or whose length differs from the
    /// reply's count, is a malformed reply.
    /// </summary>
    public static ReadResult Read(ref XdrReader reader, Memory<byte> destination, uint maxCount)
    {
        var (attributes, eof, data) = ReadParts(ref reader, (int)Math.Min(maxCount, (uint)destination.Length));
        data.CopyTo(destination);
        return new ReadResult(data.Length, eof, attributes) { Data = destination[..data.Length] };
    }

    private static (Fattr3?, bool, ReadOnlyMemory<byte>) ReadParts(ref XdrReader reader, int maxLength)
    {
        var attributes = Fattr3.ReadPostOp(ref reader);
        uint count = reader.ReadUInt32();
        bool eof = reader.ReadBool();
        var data = reader.ReadOpaqueMemory(maxLength, "READ data");
        if (data.Length != count)
            throw new XdrException($"READ reply count {count} differs from its data length {data.Length}");
        return (attributes, eof, data);
    }

    public void Write(XdrWriter writer)
    {
        if (Count != Data.Length)
            throw new InvalidOperationException($"READ result count {Count} differs from its data length {Data.Length}");
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteUInt32((uint)Count);
        writer.WriteBool(Eof);
        writer.WriteOpaque(Data.Span);
    }
}

/// <summary>
/// WRITE3resok (§3.3.7): how much was written, how stably, and the server's write verifier (writeverf3, as a
/// big-endian uint64), which changes when the server restarts and loses uncommitted data. Failure: wcc_data.
/// </summary>
public sealed record WriteResult(uint Count, StableHow Committed, ulong Verifier, WccData Wcc) : IXdrWritable
{
    public static WriteResult Read(ref XdrReader reader)
    {
        var wcc = WccData.Read(ref reader);
        uint count = reader.ReadUInt32();
        var committed = XdrLists.ReadEnum<StableHow>(ref reader, "stable_how");
        return new WriteResult(count, committed, reader.ReadUInt64(), wcc);
    }

    public void Write(XdrWriter writer)
    {
        Wcc.Write(writer);
        writer.WriteUInt32(Count);
        writer.WriteUInt32((uint)Committed);
        writer.WriteUInt64(Verifier);
    }
}

/// <summary>
/// CREATE3resok (§3.3.8), which MKDIR, SYMLINK and MKNOD share: the new object's handle and attributes (both
/// optional) and the directory's wcc_data. Failure: the directory's wcc_data.
/// </summary>
public sealed record CreateResult(NfsFileHandle? Handle, Fattr3? Attributes, WccData DirWcc) : IXdrWritable
{
    public static CreateResult Read(ref XdrReader reader) =>
        new(NfsFileHandle.ReadOptional(ref reader), Fattr3.ReadPostOp(ref reader), WccData.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        NfsFileHandle.WriteOptional(writer, Handle);
        Fattr3.WritePostOp(writer, Attributes);
        DirWcc.Write(writer);
    }
}

/// <summary>RENAME3resok and RENAME3resfail (§3.3.14), which are the same.</summary>
public sealed record RenameResult(WccData FromDirWcc, WccData ToDirWcc) : IXdrWritable
{
    public static RenameResult Read(ref XdrReader reader) => new(WccData.Read(ref reader), WccData.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        FromDirWcc.Write(writer);
        ToDirWcc.Write(writer);
    }
}

/// <summary>LINK3resok and LINK3resfail (§3.3.15), which are the same.</summary>
public sealed record LinkResult(Fattr3? FileAttributes, WccData LinkDirWcc) : IXdrWritable
{
    public static LinkResult Read(ref XdrReader reader) => new(Fattr3.ReadPostOp(ref reader), WccData.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, FileAttributes);
        LinkDirWcc.Write(writer);
    }
}

/// <summary>entry3 (§3.3.16) without its link.</summary>
public readonly record struct DirEntry(ulong FileId, string Name, ulong Cookie)
{
    public static DirEntry Read(ref XdrReader reader) =>
        new(reader.ReadUInt64(), reader.ReadString(Nfs3.MaxNameLength, "filename3"), reader.ReadUInt64());

    public static void Write(XdrWriter writer, DirEntry entry)
    {
        writer.WriteUInt64(entry.FileId);
        writer.WriteString(XdrLists.CheckLength(entry.Name, Nfs3.MaxNameLength, "file name", nameof(entry)));
        writer.WriteUInt64(entry.Cookie);
    }
}

/// <summary>READDIR3resok (§3.3.16): directory attributes, cookie verifier, then dirlist3 (entries, eof).</summary>
public sealed record ReadDirResult(IReadOnlyList<DirEntry> Entries, ulong CookieVerifier, bool Eof, Fattr3? DirAttributes) : IXdrWritable
{
    public static ReadDirResult Read(ref XdrReader reader)
    {
        var dirAttributes = Fattr3.ReadPostOp(ref reader);
        ulong verifier = reader.ReadUInt64();
        var entries = XdrLists.ReadLinkedList(ref reader, DirEntry.Read);
        return new ReadDirResult(entries, verifier, reader.ReadBool(), dirAttributes);
    }

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, DirAttributes);
        writer.WriteUInt64(CookieVerifier);
        XdrLists.WriteLinkedList(writer, Entries, DirEntry.Write);
        writer.WriteBool(Eof);
    }
}

/// <summary>entryplus3 (§3.3.17) without its link: an entry with its attributes and handle, either of which may be absent.</summary>
public sealed record DirEntryPlus(ulong FileId, string Name, ulong Cookie, Fattr3? Attributes, NfsFileHandle? Handle)
{
    public static DirEntryPlus Read(ref XdrReader reader) => new(
        reader.ReadUInt64(), reader.ReadString(Nfs3.MaxNameLength, "filename3"), reader.ReadUInt64(),
        Fattr3.ReadPostOp(ref reader), NfsFileHandle.ReadOptional(ref reader));

    public static void Write(XdrWriter writer, DirEntryPlus entry)
    {
        DirEntry.Write(writer, new DirEntry(entry.FileId, entry.Name, entry.Cookie));
        Fattr3.WritePostOp(writer, entry.Attributes);
        NfsFileHandle.WriteOptional(writer, entry.Handle);
    }
}

/// <summary>READDIRPLUS3resok (§3.3.17).</summary>
public sealed record ReadDirPlusResult(IReadOnlyList<DirEntryPlus> Entries, ulong CookieVerifier, bool Eof, Fattr3? DirAttributes) : IXdrWritable
{
    public static ReadDirPlusResult Read(ref XdrReader reader)
    {
        var dirAttributes = Fattr3.ReadPostOp(ref reader);
        ulong verifier = reader.ReadUInt64();
        var entries = XdrLists.ReadLinkedList(ref reader, DirEntryPlus.Read);
        return new ReadDirPlusResult(entries, verifier, reader.ReadBool(), dirAttributes);
    }

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, DirAttributes);
        writer.WriteUInt64(CookieVerifier);
        XdrLists.WriteLinkedList(writer, Entries, DirEntryPlus.Write);
        writer.WriteBool(Eof);
    }
}

/// <summary>FSSTAT3resok (§3.3.18): space and file counts (total, free, available to this user) and invarsec.</summary>
public sealed record FsStatResult(
    Fattr3? Attributes,
    ulong TotalBytes,
    ulong FreeBytes,
    ulong AvailableBytes,
    ulong TotalFiles,
    ulong FreeFiles,
    ulong AvailableFiles,
    uint InvariantSeconds) : IXdrWritable
{
    public static FsStatResult Read(ref XdrReader reader) => new(
        Fattr3.ReadPostOp(ref reader), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt64(),
        reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteUInt64(TotalBytes);
        writer.WriteUInt64(FreeBytes);
        writer.WriteUInt64(AvailableBytes);
        writer.WriteUInt64(TotalFiles);
        writer.WriteUInt64(FreeFiles);
        writer.WriteUInt64(AvailableFiles);
        writer.WriteUInt32(InvariantSeconds);
    }
}

/// <summary>
/// FSINFO3resok (§3.3.19): transfer sizes (rtmax, rtpref, rtmult, wtmax, wtpref, wtmult, dtpref), the largest
/// file size, the server's time granularity and the FSF3_* properties.
/// </summary>
public sealed record FsInfoResult(
    Fattr3? Attributes,
    uint ReadMax,
    uint ReadPreferred,
    uint ReadMultiple,
    uint WriteMax,
    uint WritePreferred,
    uint WriteMultiple,
    uint DirPreferred,
    ulong MaxFileSize,
    NfsTime TimeDelta,
    FsProperties Properties) : IXdrWritable
{
    public static FsInfoResult Read(ref XdrReader reader) => new(
        Fattr3.ReadPostOp(ref reader), reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32(),
        reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32(),
        reader.ReadUInt64(), NfsTime.Read(ref reader), (FsProperties)reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteUInt32(ReadMax);
        writer.WriteUInt32(ReadPreferred);
        writer.WriteUInt32(ReadMultiple);
        writer.WriteUInt32(WriteMax);
        writer.WriteUInt32(WritePreferred);
        writer.WriteUInt32(WriteMultiple);
        writer.WriteUInt32(DirPreferred);
        writer.WriteUInt64(MaxFileSize);
        TimeDelta.Write(writer);
        writer.WriteUInt32((uint)Properties);
    }
}

/// <summary>PATHCONF3resok (§3.3.20).</summary>
public sealed record PathConfResult(
    Fattr3? Attributes,
    uint LinkMax,
    uint NameMax,
    bool NoTrunc,
    bool ChownRestricted,
    bool CaseInsensitive,
    bool CasePreserving) : IXdrWritable
{
    public static PathConfResult Read(ref XdrReader reader) => new(
        Fattr3.ReadPostOp(ref reader), reader.ReadUInt32(), reader.ReadUInt32(),
        reader.ReadBool(), reader.ReadBool(), reader.ReadBool(), reader.ReadBool());

    public void Write(XdrWriter writer)
    {
        Fattr3.WritePostOp(writer, Attributes);
        writer.WriteUInt32(LinkMax);
        writer.WriteUInt32(NameMax);
        writer.WriteBool(NoTrunc);
        writer.WriteBool(ChownRestricted);
        writer.WriteBool(CaseInsensitive);
        writer.WriteBool(CasePreserving);
    }
}

/// <summary>COMMIT3resok (§3.3.21): the write verifier (compare with WRITE's) and the file's wcc_data. Failure: wcc_data.</summary>
public sealed record CommitResult(ulong Verifier, WccData Wcc) : IXdrWritable
{
    public static CommitResult Read(ref XdrReader reader)
    {
        var wcc = WccData.Read(ref reader);
        return new CommitResult(reader.ReadUInt64(), wcc);
    }

    public void Write(XdrWriter writer)
    {
        Wcc.Write(writer);
        writer.WriteUInt64(Verifier);
    }
}
