using NfsNs.Xdr;

namespace NfsNs.Protocols.Nlm4;

/// <summary>
/// The fixed numbers of the Network Lock Manager protocol version 4 (RFC 1813 appendix II; the argument and result
/// types come from the Open Group XNFS specification, chapter 10, widened to 64-bit offsets in version 4).
/// </summary>
public static class Nlm4
{
    /// <summary>NLM_PROG.</summary>
    public const uint Program = 100021;

    /// <summary>NLM4_VERS: the version that goes with NFSv3 (64-bit offsets and lengths).</summary>
    public const uint Version = 4;

    /// <summary>LM_MAXSTRLEN: the longest caller_name.</summary>
    public const int MaxStringLength = 1024;

    /// <summary>LM_MAXNAMELEN: the longest name in nlm4_notify.</summary>
    public const int MaxNameLength = 1025;

    /// <summary>MAXNETOBJ_SZ: the longest netobj (cookie, file handle, owner handle).</summary>
    public const int MaxNetObjSize = 1024;
}

/// <summary>NLM v4 procedures (RFC 1813 appendix II). 6–15 are the message-passing variants, 20–23 the DOS share calls.</summary>
public enum Nlm4Procedure : uint
{
    Null = 0,
    Test = 1,
    Lock = 2,
    Cancel = 3,
    Unlock = 4,
    Granted = 5,
    TestMsg = 6,
    LockMsg = 7,
    CancelMsg = 8,
    UnlockMsg = 9,
    GrantedMsg = 10,
    TestRes = 11,
    LockRes = 12,
    CancelRes = 13,
    UnlockRes = 14,
    GrantedRes = 15,
    Share = 20,
    Unshare = 21,
    NmLock = 22,
    FreeAll = 23,
}

/// <summary>nlm4_stats (RFC 1813 appendix II): 0–4 as in NLM v1–3, 5–9 new in v4.</summary>
public enum Nlm4Status : uint
{
    Granted = 0,
    Denied = 1,
    DeniedNoLocks = 2,
    Blocked = 3,
    DeniedGracePeriod = 4,
    Deadlock = 5,
    ReadOnlyFileSystem = 6,
    StaleFileHandle = 7,
    FileTooBig = 8,
    Failed = 9,
}

public static class Nlm4StatusInfo
{
    /// <summary>The wire name, e.g. <c>NLM4_DENIED_GRACE_PERIOD</c>.</summary>
    public static string WireName(this Nlm4Status status) => status switch
    {
        Nlm4Status.Granted => "NLM4_GRANTED",
        Nlm4Status.Denied => "NLM4_DENIED",
        Nlm4Status.DeniedNoLocks => "NLM4_DENIED_NOLOCKS",
        Nlm4Status.Blocked => "NLM4_BLOCKED",
        Nlm4Status.DeniedGracePeriod => "NLM4_DENIED_GRACE_PERIOD",
        Nlm4Status.Deadlock => "NLM4_DEADLCK",
        Nlm4Status.ReadOnlyFileSystem => "NLM4_ROFS",
        Nlm4Status.StaleFileHandle => "NLM4_STALE_FH",
        Nlm4Status.FileTooBig => "NLM4_FBIG",
        Nlm4Status.Failed => "NLM4_FAILED",
        _ => $"nlm4_stats {(uint)status}",
    };

    public static string Describe(this Nlm4Status status) => status switch
    {
        Nlm4Status.Granted => "lock granted",
        Nlm4Status.Denied => "the range is locked by another owner",
        Nlm4Status.DeniedNoLocks => "the server is out of lock resources",
        Nlm4Status.Blocked => "the lock will be granted later by a GRANTED call-back",
        Nlm4Status.DeniedGracePeriod => "the server is in its grace period after a restart: only reclaims are accepted",
        Nlm4Status.Deadlock => "granting the lock would deadlock",
        Nlm4Status.ReadOnlyFileSystem => "the file system is read-only",
        Nlm4Status.StaleFileHandle => "the file handle is stale",
        Nlm4Status.FileTooBig => "the range lies beyond what the server's files can hold",
        Nlm4Status.Failed => "the server failed the request",
        _ => "unknown status",
    };
}

/// <summary>
/// netobj (XNFS): opaque bytes of at most <see cref="Nlm4.MaxNetObjSize"/>, used for cookies, file handles and lock
/// owner handles. Compared by content, so it can key dictionaries.
/// </summary>
public readonly struct NetObj : IEquatable<NetObj>
{
    private readonly byte[]? _bytes;

    public NetObj(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > Nlm4.MaxNetObjSize)
            throw new ArgumentException($"a netobj is at most {Nlm4.MaxNetObjSize} bytes, got {bytes.Length}", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    public static NetObj Empty => default;
    public ReadOnlySpan<byte> Bytes => _bytes;
    public int Length => _bytes?.Length ?? 0;

    public static NetObj Read(ref XdrReader reader, string what) => new(reader.ReadOpaque(Nlm4.MaxNetObjSize, what));

    public void Write(XdrWriter writer) => writer.WriteOpaque(Bytes);

    public bool Equals(NetObj other) => Bytes.SequenceEqual(other.Bytes);
    public override bool Equals(object? obj) => obj is NetObj other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(NetObj left, NetObj right) => left.Equals(right);
    public static bool operator !=(NetObj left, NetObj right) => !left.Equals(right);

    public override string ToString() => Length == 0 ? "(empty)" : Convert.ToHexStringLower(Bytes);
}

/// <summary>
/// nlm4_lock: which byte range of which file, for which lock owner. The owner is the pair (<see cref="OwnerHandle"/>,
/// <see cref="Svid"/>) of the host <see cref="CallerName"/>. A <see cref="Length"/> of 0 means "to the end of the
/// file and beyond", as in fcntl(2).
/// </summary>
public sealed record Nlm4Lock(string CallerName, NetObj FileHandle, NetObj OwnerHandle, int Svid, ulong Offset, ulong Length) : IXdrWritable
{
    public static Nlm4Lock Read(ref XdrReader reader)
    {
        string caller = reader.ReadString(Nlm4.MaxStringLength, "caller_name");
        var fh = NetObj.Read(ref reader, "fh");
        var oh = NetObj.Read(ref reader, "oh");
        int svid = reader.ReadInt32();
        ulong offset = reader.ReadUInt64();
        ulong length = reader.ReadUInt64();
        return new Nlm4Lock(caller, fh, oh, svid, offset, length);
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(CallerName, Nlm4.MaxStringLength, "caller_name", nameof(CallerName)));
        FileHandle.Write(writer);
        OwnerHandle.Write(writer);
        writer.WriteInt32(Svid);
        writer.WriteUInt64(Offset);
        writer.WriteUInt64(Length);
    }

    /// <summary>"[0, 100) of svid 42 on host h" — for messages.</summary>
    public string DescribeRange() => Length == 0 ? $"[{Offset}, end)" : $"[{Offset}, {Offset + Length})";
}

/// <summary>nlm4_holder: who holds the lock that conflicts with a TEST.</summary>
public sealed record Nlm4Holder(bool Exclusive, int Svid, NetObj OwnerHandle, ulong Offset, ulong Length) : IXdrWritable
{
    public static Nlm4Holder Read(ref XdrReader reader)
    {
        bool exclusive = reader.ReadBool();
        int svid = reader.ReadInt32();
        var oh = NetObj.Read(ref reader, "oh");
        return new Nlm4Holder(exclusive, svid, oh, reader.ReadUInt64(), reader.ReadUInt64());
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteBool(Exclusive);
        writer.WriteInt32(Svid);
        OwnerHandle.Write(writer);
        writer.WriteUInt64(Offset);
        writer.WriteUInt64(Length);
    }
}

/// <summary>nlm4_testargs: TEST, and GRANTED (the server's call-back, which reuses this type).</summary>
public sealed record Nlm4TestArgs(NetObj Cookie, bool Exclusive, Nlm4Lock Lock) : IXdrWritable
{
    public static Nlm4TestArgs Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        bool exclusive = reader.ReadBool();
        return new Nlm4TestArgs(cookie, exclusive, Nlm4Lock.Read(ref reader));
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteBool(Exclusive);
        Lock.Write(writer);
    }
}

/// <summary>
/// nlm4_lockargs: LOCK. <see cref="Block"/> asks the server to queue the request and call GRANTED later;
/// <see cref="Reclaim"/> marks a re-acquisition after the server restarted (the only kind accepted in its grace
/// period); <see cref="State"/> is the caller's NSM state number.
/// </summary>
public sealed record Nlm4LockArgs(NetObj Cookie, bool Block, bool Exclusive, Nlm4Lock Lock, bool Reclaim, int State) : IXdrWritable
{
    public static Nlm4LockArgs Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        bool block = reader.ReadBool();
        bool exclusive = reader.ReadBool();
        var alock = Nlm4Lock.Read(ref reader);
        bool reclaim = reader.ReadBool();
        return new Nlm4LockArgs(cookie, block, exclusive, alock, reclaim, reader.ReadInt32());
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteBool(Block);
        writer.WriteBool(Exclusive);
        Lock.Write(writer);
        writer.WriteBool(Reclaim);
        writer.WriteInt32(State);
    }
}

/// <summary>nlm4_cancargs: CANCEL of a blocked LOCK (the same lock description it was queued with).</summary>
public sealed record Nlm4CancelArgs(NetObj Cookie, bool Block, bool Exclusive, Nlm4Lock Lock) : IXdrWritable
{
    public static Nlm4CancelArgs Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        bool block = reader.ReadBool();
        bool exclusive = reader.ReadBool();
        return new Nlm4CancelArgs(cookie, block, exclusive, Nlm4Lock.Read(ref reader));
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteBool(Block);
        writer.WriteBool(Exclusive);
        Lock.Write(writer);
    }
}

/// <summary>nlm4_unlockargs: UNLOCK.</summary>
public sealed record Nlm4UnlockArgs(NetObj Cookie, Nlm4Lock Lock) : IXdrWritable
{
    public static Nlm4UnlockArgs Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        return new Nlm4UnlockArgs(cookie, Nlm4Lock.Read(ref reader));
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        Lock.Write(writer);
    }
}

/// <summary>nlm4_res: the reply of LOCK, CANCEL, UNLOCK and GRANTED (and the argument of their _RES messages).</summary>
public sealed record Nlm4Result(NetObj Cookie, Nlm4Status Status) : IXdrWritable
{
    public static Nlm4Result Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        return new Nlm4Result(cookie, (Nlm4Status)reader.ReadUInt32());
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteUInt32((uint)Status);
    }
}

/// <summary>nlm4_testres: TEST's reply; <see cref="Holder"/> is present exactly when the status is NLM4_DENIED.</summary>
public sealed record Nlm4TestResult(NetObj Cookie, Nlm4Status Status, Nlm4Holder? Holder) : IXdrWritable
{
    public static Nlm4TestResult Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        var status = (Nlm4Status)reader.ReadUInt32();
        return new Nlm4TestResult(cookie, status, status == Nlm4Status.Denied ? Nlm4Holder.Read(ref reader) : null);
    }

    public void Write(XdrWriter writer)
    {
        if ((Status == Nlm4Status.Denied) != (Holder is not null))
            throw new InvalidOperationException("an nlm4_testres carries a holder exactly when its status is NLM4_DENIED");
        Cookie.Write(writer);
        writer.WriteUInt32((uint)Status);
        Holder?.Write(writer);
    }
}

/// <summary>fsh4_mode: what a DOS share reservation denies to others.</summary>
public enum Nlm4ShareMode : uint { DenyNone = 0, DenyRead = 1, DenyWrite = 2, DenyReadWrite = 3 }

/// <summary>fsh4_access: what a DOS share reservation asks for itself.</summary>
public enum Nlm4ShareAccess : uint { None = 0, Read = 1, Write = 2, ReadWrite = 3 }

/// <summary>nlm4_shareargs: SHARE / UNSHARE (DOS-style whole-file share reservations).</summary>
public sealed record Nlm4ShareArgs(NetObj Cookie, string CallerName, NetObj FileHandle, NetObj OwnerHandle,
    Nlm4ShareMode Mode, Nlm4ShareAccess Access, bool Reclaim) : IXdrWritable
{
    public static Nlm4ShareArgs Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        string caller = reader.ReadString(Nlm4.MaxStringLength, "caller_name");
        var fh = NetObj.Read(ref reader, "fh");
        var oh = NetObj.Read(ref reader, "oh");
        var mode = (Nlm4ShareMode)reader.ReadUInt32();
        var access = (Nlm4ShareAccess)reader.ReadUInt32();
        return new Nlm4ShareArgs(cookie, caller, fh, oh, mode, access, reader.ReadBool());
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteString(XdrLists.CheckLength(CallerName, Nlm4.MaxStringLength, "caller_name", nameof(CallerName)));
        FileHandle.Write(writer);
        OwnerHandle.Write(writer);
        writer.WriteUInt32((uint)Mode);
        writer.WriteUInt32((uint)Access);
        writer.WriteBool(Reclaim);
    }
}

/// <summary>nlm4_shareres.</summary>
public sealed record Nlm4ShareResult(NetObj Cookie, Nlm4Status Status, int Sequence) : IXdrWritable
{
    public static Nlm4ShareResult Read(ref XdrReader reader)
    {
        var cookie = NetObj.Read(ref reader, "cookie");
        var status = (Nlm4Status)reader.ReadUInt32();
        return new Nlm4ShareResult(cookie, status, reader.ReadInt32());
    }

    public void Write(XdrWriter writer)
    {
        Cookie.Write(writer);
        writer.WriteUInt32((uint)Status);
        writer.WriteInt32(Sequence);
    }
}

/// <summary>nlm4_notify: FREE_ALL's argument — host <see cref="Name"/> restarted with NSM state <see cref="State"/>.</summary>
public sealed record Nlm4Notify(string Name, int State) : IXdrWritable
{
    public static Nlm4Notify Read(ref XdrReader reader) =>
        new(reader.ReadString(Nlm4.MaxNameLength, "name"), reader.ReadInt32());

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(Name, Nlm4.MaxNameLength, "name", nameof(Name)));
        writer.WriteInt32(State);
    }
}
