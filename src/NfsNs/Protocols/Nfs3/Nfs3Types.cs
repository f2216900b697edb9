using NfsNs.Xdr;

namespace NfsNs.Protocols.Nfs3;

/// <summary>nfstime3 (RFC 1813 §2.5): seconds and nanoseconds since 1970-01-01 00:00 UTC, unsigned.</summary>
public readonly record struct NfsTime(uint Seconds, uint Nanoseconds) : IXdrWritable
{
    private const long NanosecondsPerTick = 100;

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddSeconds(Seconds).AddTicks(Nanoseconds / NanosecondsPerTick);

    /// <summary>Converts an instant between 1970 and 2106 (the range of uint32 seconds); others are refused.</summary>
    public static NfsTime FromDateTimeOffset(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remainder);
        if (ticks < 0 || seconds > uint.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(time), time, "nfstime3 covers 1970-01-01 to 2106-02-07 UTC");
        return new NfsTime((uint)seconds, (uint)(remainder * NanosecondsPerTick));
    }

    public static NfsTime Read(ref XdrReader reader) => new(reader.ReadUInt32(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32(Seconds);
        writer.WriteUInt32(Nanoseconds);
    }

    public override string ToString() => $"{Seconds}.{Nanoseconds:D9}";
}

/// <summary>specdata3 (RFC 1813 §2.5): the major and minor device numbers of a block or character device.</summary>
public readonly record struct SpecData(uint Major, uint Minor) : IXdrWritable
{
    public static SpecData Read(ref XdrReader reader) => new(reader.ReadUInt32(), reader.ReadUInt32());

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32(Major);
        writer.WriteUInt32(Minor);
    }
}

/// <summary>
/// fattr3 (RFC 1813 §2.5): the attributes of a file, 84 bytes on the wire. A post_op_attr (§2.6), attributes
/// the server may omit, is a <c>Fattr3?</c> read and written with <see cref="ReadPostOp"/> and <see cref="WritePostOp"/>.
/// </summary>
public sealed record Fattr3(
    Nfs3FileType Type,
    uint Mode,
    uint Nlink,
    uint Uid,
    uint Gid,
    ulong Size,
    ulong Used,
    SpecData Rdev,
    ulong Fsid,
    ulong FileId,
    NfsTime Atime,
    NfsTime Mtime,
    NfsTime Ctime) : IXdrWritable
{
    public static Fattr3 Read(ref XdrReader reader) => new(
        XdrLists.ReadEnum<Nfs3FileType>(ref reader, "ftype3"),
        Mode: reader.ReadUInt32(),
        Nlink: reader.ReadUInt32(),
        Uid: reader.ReadUInt32(),
        Gid: reader.ReadUInt32(),
        Size: reader.ReadUInt64(),
        Used: reader.ReadUInt64(),
        Rdev: SpecData.Read(ref reader),
        Fsid: reader.ReadUInt64(),
        FileId: reader.ReadUInt64(),
        Atime: NfsTime.Read(ref reader),
        Mtime: NfsTime.Read(ref reader),
        Ctime: NfsTime.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32((uint)Type);
        writer.WriteUInt32(Mode);
        writer.WriteUInt32(Nlink);
        writer.WriteUInt32(Uid);
        writer.WriteUInt32(Gid);
        writer.WriteUInt64(Size);
        writer.WriteUInt64(Used);
        Rdev.Write(writer);
        writer.WriteUInt64(Fsid);
        writer.WriteUInt64(FileId);
        Atime.Write(writer);
        Mtime.Write(writer);
        Ctime.Write(writer);
    }

    /// <summary>post_op_attr: a boolean then, if TRUE, the attributes.</summary>
    public static Fattr3? ReadPostOp(ref XdrReader reader) => reader.ReadOptionalFlag() ? Read(ref reader) : null;

    public static void WritePostOp(XdrWriter writer, Fattr3? attributes)
    {
        writer.WriteBool(attributes is not null);
        attributes?.Write(writer);
    }
}

/// <summary>wcc_attr (RFC 1813 §2.6): the attributes a client needs to tell whether its cache survived an operation.</summary>
public readonly record struct WccAttr(ulong Size, NfsTime Mtime, NfsTime Ctime) : IXdrWritable
{
    public static WccAttr Read(ref XdrReader reader) =>
        new(reader.ReadUInt64(), NfsTime.Read(ref reader), NfsTime.Read(ref reader));

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt64(Size);
        Mtime.Write(writer);
        Ctime.Write(writer);
    }
}

/// <summary>wcc_data (RFC 1813 §2.6): weak cache consistency data, pre_op_attr before and post_op_attr after.</summary>
public readonly record struct WccData(WccAttr? Before, Fattr3? After) : IXdrWritable
{
    public static readonly WccData Empty = default;

    public static WccData Read(ref XdrReader reader)
    {
        WccAttr? before = reader.ReadOptionalFlag() ? WccAttr.Read(ref reader) : null;
        return new WccData(before, Fattr3.ReadPostOp(ref reader));
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteBool(Before.HasValue);
        Before?.Write(writer);
        Fattr3.WritePostOp(writer, After);
    }
}

/// <summary>set_atime / set_mtime (RFC 1813 §2.5): leave the time alone, set it to the server's clock, or to a given time.</summary>
public readonly record struct SetTime : IXdrWritable
{
    private SetTime(TimeHow how, NfsTime time)
    {
        How = how;
        Time = time;
    }

    public TimeHow How { get; }

    /// <summary>The time to set; meaningful only when <see cref="How"/> is <see cref="TimeHow.SetToClientTime"/>.</summary>
    public NfsTime Time { get; }

    public static SetTime DontChange => default;
    public static SetTime ServerTime => new(TimeHow.SetToServerTime, default);
    public static SetTime ClientTime(NfsTime time) => new(TimeHow.SetToClientTime, time);

    public static SetTime Read(ref XdrReader reader) => XdrLists.ReadEnum<TimeHow>(ref reader, "time_how") switch
    {
        TimeHow.SetToClientTime => ClientTime(NfsTime.Read(ref reader)),
        TimeHow.SetToServerTime => ServerTime,
        _ => DontChange,
    };

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32((uint)How);
        if (How == TimeHow.SetToClientTime) Time.Write(writer);
    }

    public override string ToString() => How == TimeHow.SetToClientTime ? $"ClientTime({Time})" : How.ToString();
}

/// <summary>sattr3 (RFC 1813 §2.5): the attributes to set; <c>null</c> (or <see cref="SetTime.DontChange"/>) leaves one alone.</summary>
public sealed record Sattr3 : IXdrWritable
{
    public static readonly Sattr3 Empty = new();

    public uint? Mode { get; init; }
    public uint? Uid { get; init; }
    public uint? Gid { get; init; }
    public ulong? Size { get; init; }
    public SetTime Atime { get; init; }
    public SetTime Mtime { get; init; }

    public static Sattr3 Read(ref XdrReader reader) => new()
    {
        Mode = reader.ReadOptionalFlag() ? reader.ReadUInt32() : null,
        Uid = reader.ReadOptionalFlag() ? reader.ReadUInt32() : null,
        Gid = reader.ReadOptionalFlag() ? reader.ReadUInt32() : null,
        Size = reader.ReadOptionalFlag() ? reader.ReadUInt64() : null,
        Atime = SetTime.Read(ref reader),
        Mtime = SetTime.Read(ref reader),
    };

    public void Write(XdrWriter writer)
    {
        WriteOptional(writer, Mode);
        WriteOptional(writer, Uid);
        WriteOptional(writer, Gid);
        writer.WriteBool(Size.HasValue);
        if (Size is { } size) writer.WriteUInt64(size);
        Atime.Write(writer);
        Mtime.Write(writer);
    }

    private static void WriteOptional(XdrWriter writer, uint? value)
    {
        writer.WriteBool(value.HasValue);
        if (value is { } v) writer.WriteUInt32(v);
    }
}

/// <summary>
/// diropargs3 (RFC 1813 §2.6): a directory and a name in it. It is also the whole of LOOKUP3args, REMOVE3args
/// and RMDIR3args. Names over <see cref="Nfs3.MaxNameLength"/> bytes are refused on both sides.
/// </summary>
public readonly record struct DirOpArgs : IXdrWritable
{
    public DirOpArgs(NfsFileHandle dir, string name)
    {
        Dir = dir;
        Name = XdrLists.CheckLength(name, Nfs3.MaxNameLength, "file name", nameof(name));
    }

    public NfsFileHandle Dir { get; }
    public string Name { get; }

    public static DirOpArgs Read(ref XdrReader reader) =>
        new(NfsFileHandle.Read(ref reader), reader.ReadString(Nfs3.MaxNameLength, "filename3"));

    public void Write(XdrWriter writer)
    {
        Dir.Write(writer);
        writer.WriteString(Name);
    }
}
