using NfsNs.Xdr;

namespace NfsNs.Protocols.Nsm;

/// <summary>
/// The fixed numbers of the Network Status Monitor protocol version 1 (Open Group XNFS, chapter 11; the program of
/// <c>rpc.statd</c>). A host's NSM state number is odd while it is up and even while it is down, and grows by one at
/// every transition, so "a larger state than before" means "it restarted".
/// </summary>
public static class Nsm
{
    /// <summary>SM_PROG.</summary>
    public const uint Program = 100024;

    /// <summary>SM_VERS.</summary>
    public const uint Version = 1;

    /// <summary>SM_MAXSTRLEN: the longest host name.</summary>
    public const int MaxStringLength = 1024;

    /// <summary>The size of the private cookie a monitor stores for its caller (<c>opaque priv[16]</c>).</summary>
    public const int PrivateSize = 16;
}

/// <summary>NSM v1 procedures (XNFS chapter 11).</summary>
public enum NsmProcedure : uint
{
    Null = 0,
    Stat = 1,
    Mon = 2,
    Unmon = 3,
    UnmonAll = 4,
    SimuCrash = 5,
    /// <summary>SM_NOTIFY: sent by a restarted host's monitor to the monitors of the hosts it had locks with.</summary>
    Notify = 6,
}

/// <summary>res: whether the monitor agreed.</summary>
public enum NsmResult : uint
{
    Success = 0,
    Failure = 1,
}

/// <summary>sm_name: SM_STAT's argument.</summary>
public sealed record SmName(string MonName) : IXdrWritable
{
    public static SmName Read(ref XdrReader reader) => new(reader.ReadString(Nsm.MaxStringLength, "mon_name"));

    public void Write(XdrWriter writer) => writer.WriteString(XdrLists.CheckLength(MonName, Nsm.MaxStringLength, "mon_name", nameof(MonName)));
}

/// <summary>
/// my_id: who to call back when a monitored host restarts — the RPC program, version and procedure on host
/// <see cref="MyName"/> (the local lock manager).
/// </summary>
public sealed record MyId(string MyName, int Program, int Version, int Procedure) : IXdrWritable
{
    public static MyId Read(ref XdrReader reader)
    {
        string name = reader.ReadString(Nsm.MaxStringLength, "my_name");
        return new MyId(name, reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32());
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(MyName, Nsm.MaxStringLength, "my_name", nameof(MyName)));
        writer.WriteInt32(Program);
        writer.WriteInt32(Version);
        writer.WriteInt32(Procedure);
    }
}

/// <summary>mon_id: the host to monitor and who to tell.</summary>
public sealed record MonId(string MonName, MyId MyId) : IXdrWritable
{
    public static MonId Read(ref XdrReader reader)
    {
        string name = reader.ReadString(Nsm.MaxStringLength, "mon_name");
        return new MonId(name, MyId.Read(ref reader));
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(MonName, Nsm.MaxStringLength, "mon_name", nameof(MonName)));
        MyId.Write(writer);
    }
}

/// <summary>mon: SM_MON's argument; <see cref="Private"/> (16 bytes) is handed back unchanged in the call-back.</summary>
public sealed record Mon(MonId Id, byte[] Private) : IXdrWritable
{
    public static Mon Read(ref XdrReader reader)
    {
        var id = MonId.Read(ref reader);
        return new Mon(id, reader.ReadFixedOpaque(Nsm.PrivateSize).ToArray());
    }

    public void Write(XdrWriter writer)
    {
        if (Private.Length != Nsm.PrivateSize)
            throw new InvalidOperationException($"the private cookie of SM_MON is exactly {Nsm.PrivateSize} bytes, not {Private.Length}");
        Id.Write(writer);
        writer.WriteFixedOpaque(Private);
    }
}

/// <summary>sm_stat: the monitor's own state number (SM_UNMON, SM_UNMON_ALL).</summary>
public readonly record struct SmStat(int State) : IXdrWritable
{
    public static SmStat Read(ref XdrReader reader) => new(reader.ReadInt32());

    public void Write(XdrWriter writer) => writer.WriteInt32(State);
}

/// <summary>sm_stat_res: SM_STAT and SM_MON's reply.</summary>
public readonly record struct SmStatResult(NsmResult Result, int State) : IXdrWritable
{
    public static SmStatResult Read(ref XdrReader reader) => new((NsmResult)reader.ReadUInt32(), reader.ReadInt32());

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32((uint)Result);
        writer.WriteInt32(State);
    }
}

/// <summary>stat_chge: SM_NOTIFY's argument — host <see cref="MonName"/> is now in state <see cref="State"/>.</summary>
public sealed record StatChange(string MonName, int State) : IXdrWritable
{
    public static StatChange Read(ref XdrReader reader) =>
        new(reader.ReadString(Nsm.MaxStringLength, "mon_name"), reader.ReadInt32());

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(MonName, Nsm.MaxStringLength, "mon_name", nameof(MonName)));
        writer.WriteInt32(State);
    }
}

/// <summary>
/// status: what a monitor sends to the <see cref="MyId"/> call-back when a monitored host changed state, with the
/// private cookie given at SM_MON.
/// </summary>
public sealed record SmStatus(string MonName, int State, byte[] Private) : IXdrWritable
{
    public static SmStatus Read(ref XdrReader reader)
    {
        string name = reader.ReadString(Nsm.MaxStringLength, "mon_name");
        int state = reader.ReadInt32();
        return new SmStatus(name, state, reader.ReadFixedOpaque(Nsm.PrivateSize).ToArray());
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteString(XdrLists.CheckLength(MonName, Nsm.MaxStringLength, "mon_name", nameof(MonName)));
        writer.WriteInt32(State);
        writer.WriteFixedOpaque(Private);
    }
}
