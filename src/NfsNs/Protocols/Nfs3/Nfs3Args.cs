using NfsNs.Xdr;

namespace NfsNs.Protocols.Nfs3;

// The arguments of each NFSv3 procedure (RFC 1813 §3.3), written by the client and read by the server.
// GETATTR, READLINK, FSSTAT, FSINFO and PATHCONF take a bare nfs_fh3: their args are an NfsFileHandle.
// LOOKUP, REMOVE and RMDIR take a bare diropargs3: their args are a DirOpArgs.

/// <summary>SETATTR3args (§3.3.2): the object, the attributes to set, and sattrguard3 (apply only if ctime is still this).</summary>
public readonly record struct SetAttrArgs(NfsFileHandle Object, Sattr3 NewAttributes, NfsTime? GuardCtime) : IXdrWritable
{
    public static SetAttrArgs Read(ref XdrReader reader)
    {
        var handle = NfsFileHandle.Read(ref reader);
        var attributes = Sattr3.Read(ref reader);
        NfsTime? guard = reader.ReadOptionalFlag() ? NfsTime.Read(ref reader) : null;
        return new SetAttrArgs(handle, attributes, guard);
    }

    public void Write(XdrWriter writer)
    {
        Object.Write(writer);
        NewAttributes.Write(writer);
        writer.WriteBool(GuardCtime.HasValue);
        GuardCtime?.Write(writer);
    }
}

/// <summary>ACCESS3args (§3.3.4).</summary>
public readonly record struct AccessArgs(NfsFileHandle Object, Access3 Access) : IXdrWritable
{
    // Unknown bits are kept, not refused: RFC 1813 tells servers to ignore bits they do not know.
    public static AccessArgs Read(ref XdrReader reader) => new(NfsFileHandle.Read(ref reader), (Access3)reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        Object.Write(writer);
        writer.WriteUInt32((uint)Access);
    }
}

/// <summary>READ3args (§3.3.6) and COMMIT3args (§3.3.21), which have the same layout: a file, offset and count.</summary>
public readonly record struct FileRangeArgs(NfsFileHandle File, ulong Offset, uint Count) : IXdrWritable
{
    public static FileRangeArgs Read(ref XdrReader reader) =>
        new(NfsFileHandle.Read(ref reader), reader.ReadUInt64(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        File.Write(writer);
        writer.WriteUInt64(Offset);
        writer.WriteUInt32(Count);
    }
}

/// <summary>
/// WRITE3args (§3.3.7). The count is always the data's length: the client derives it, and the server refuses a
/// request whose count and opaque length disagree. <see cref="Data"/> read from a record is a slice of it, not a copy.
/// </summary>
public readonly record struct WriteArgs(NfsFileHandle File, ulong Offset, StableHow Stable, ReadOnlyMemory<byte> Data) : IXdrWritable
{
    public static WriteArgs Read(ref XdrReader reader)
    {
        var file = NfsFileHandle.Read(ref reader);
        ulong offset = reader.ReadUInt64();
        uint count = reader.ReadUInt32();
        var stable = XdrLists.ReadEnum<StableHow>(ref reader, "stable_how");
        // The data can be no longer than the record holding it; the server checks it against its wtmax.
        var data = reader.ReadOpaqueMemory(int.MaxValue, "WRITE data");
        if (data.Length != count)
            throw new XdrException($"WRITE count {count} differs from its data length {data.Length}");
        return new WriteArgs(file, offset, stable, data);
    }

    public void Write(XdrWriter writer)
    {
        File.Write(writer);
        writer.WriteUInt64(Offset);
        writer.WriteUInt32((uint)Data.Length);
        writer.WriteUInt32((uint)Stable);
        writer.WriteOpaque(Data.Span);
    }
}

/// <summary>
/// CREATE3args (§3.3.8): where, and createhow3 — attributes for UNCHECKED and GUARDED, an 8-byte verifier
/// (createverf3, here as a big-endian uint64) for EXCLUSIVE.
/// </summary>
public readonly record struct CreateArgs(DirOpArgs Where, CreateMode Mode, Sattr3? Attributes, ulong Verifier) : IXdrWritable
{
    public static CreateArgs Read(ref XdrReader reader)
    {
        var where = DirOpArgs.Read(ref reader);
        var mode = XdrLists.ReadEnum<CreateMode>(ref reader, "createmode3");
        return mode == CreateMode.Exclusive
            ? new CreateArgs(where, mode, null, reader.ReadUInt64())
            : new CreateArgs(where, mode, Sattr3.Read(ref reader), 0);
    }

    public void Write(XdrWriter writer)
    {
        Where.Write(writer);
        writer.WriteUInt32((uint)Mode);
        if (Mode == CreateMode.Exclusive) writer.WriteUInt64(Verifier);
        else (Attributes ?? Sattr3.Empty).Write(writer);
    }
}

/// <summary>MKDIR3args (§3.3.9).</summary>
public readonly record struct MkdirArgs(DirOpArgs Where, Sattr3 Attributes) : IXdrWritable
{
    public static MkdirArgs Read(ref XdrReader reader) => new(DirOpArgs.Read(ref reader), Sattr3.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        Where.Write(writer);
        Attributes.Write(writer);
    }
}

/// <summary>SYMLINK3args (§3.3.10): where, then symlinkdata3 (attributes, target path of at most <see cref="Nfs3.MaxPathLength"/> bytes).</summary>
public readonly record struct SymlinkArgs : IXdrWritable
{
    public SymlinkArgs(DirOpArgs where, Sattr3 attributes, string target)
    {
        Where = where;
        Attributes = attributes;
        Target = XdrLists.CheckLength(target, Nfs3.MaxPathLength, "symlink target", nameof(target));
    }

    public DirOpArgs Where { get; }
    public Sattr3 Attributes { get; }
    public string Target { get; }

    public static SymlinkArgs Read(ref XdrReader reader) => new(
        DirOpArgs.Read(ref reader), Sattr3.Read(ref reader), reader.ReadString(Nfs3.MaxPathLength, "nfspath3"));

    public void Write(XdrWriter writer)
    {
        Where.Write(writer);
        Attributes.Write(writer);
        writer.WriteString(Target);
    }
}

/// <summary>
/// MKNOD3args (§3.3.11): where, then mknoddata3 switched on the type — attributes and device numbers for
/// CHR and BLK, attributes for SOCK and FIFO, nothing for the other types (which the server answers with BADTYPE).
/// </summary>
public readonly record struct MknodArgs(DirOpArgs Where, Nfs3FileType Type, Sattr3? Attributes, SpecData Device) : IXdrWritable
{
    private static bool HasAttributes(Nfs3FileType type) => type is Nfs3FileType.CharacterDevice or Nfs3FileType.BlockDevice
        or Nfs3FileType.Socket or Nfs3FileType.Fifo;

    private static bool HasDevice(Nfs3FileType type) => type is Nfs3FileType.CharacterDevice or Nfs3FileType.BlockDevice;

    public static MknodArgs Read(ref XdrReader reader)
    {
        var where = DirOpArgs.Read(ref reader);
        var type = XdrLists.ReadEnum<Nfs3FileType>(ref reader, "ftype3");
        var attributes = HasAttributes(type) ? Sattr3.Read(ref reader) : null;
        var device = HasDevice(type) ? SpecData.Read(ref reader) : default;
        return new MknodArgs(where, type, attributes, device);
    }

    public void Write(XdrWriter writer)
    {
        Where.Write(writer);
        writer.WriteUInt32((uint)Type);
        if (HasAttributes(Type)) (Attributes ?? Sattr3.Empty).Write(writer);
        if (HasDevice(Type)) Device.Write(writer);
    }
}

/// <summary>RENAME3args (§3.3.14).</summary>
public readonly record struct RenameArgs(DirOpArgs From, DirOpArgs To) : IXdrWritable
{
    public static RenameArgs Read(ref XdrReader reader) => new(DirOpArgs.Read(ref reader), DirOpArgs.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        From.Write(writer);
        To.Write(writer);
    }
}

/// <summary>LINK3args (§3.3.15): the existing file, and the directory and name of the new link.</summary>
public readonly record struct LinkArgs(NfsFileHandle File, DirOpArgs Link) : IXdrWritable
{
    public static LinkArgs Read(ref XdrReader reader) => new(NfsFileHandle.Read(ref reader), DirOpArgs.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        File.Write(writer);
        Link.Write(writer);
    }
}

/// <summary>READDIR3args (§3.3.16). The cookie verifier (cookieverf3, 8 bytes) is carried as a big-endian uint64.</summary>
public readonly record struct ReadDirArgs(NfsFileHandle Dir, ulong Cookie, ulong CookieVerifier, uint Count) : IXdrWritable
{
    public static ReadDirArgs Read(ref XdrReader reader) =>
        new(NfsFileHandle.Read(ref reader), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        Dir.Write(writer);
        writer.WriteUInt64(Cookie);
        writer.WriteUInt64(CookieVerifier);
        writer.WriteUInt32(Count);
    }
}

/// <summary>READDIRPLUS3args (§3.3.17): dirCount bounds the directory information, maxCount the whole reply.</summary>
public readonly record struct ReadDirPlusArgs(NfsFileHandle Dir, ulong Cookie, ulong CookieVerifier, uint DirCount, uint MaxCount) : IXdrWritable
{
    public static ReadDirPlusArgs Read(ref XdrReader reader) => new(
        NfsFileHandle.Read(ref reader), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadUInt32(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        Dir.Write(writer);
        writer.WriteUInt64(Cookie);
        writer.WriteUInt64(CookieVerifier);
        writer.WriteUInt32(DirCount);
        writer.WriteUInt32(MaxCount);
    }
}
