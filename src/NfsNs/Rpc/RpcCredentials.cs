using System.Buffers;
using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>The credential and verifier a call carries. Immutable: encoded once, written many times.</summary>
public abstract class RpcCredentials
{
    public abstract RpcAuthFlavor Flavor { get; }
    public abstract void WriteCredential(XdrWriter writer);

    /// <summary>AUTH_NONE and AUTH_SYS calls carry a null verifier (RFC 5531 §10).</summary>
    public virtual void WriteVerifier(XdrWriter writer)
    {
        writer.WriteUInt32((uint)RpcAuthFlavor.None);
        writer.WriteUInt32(0);
    }

    public static readonly RpcCredentials None = new AuthNoneCredentials();

    private sealed class AuthNoneCredentials : RpcCredentials
    {
        public override RpcAuthFlavor Flavor => RpcAuthFlavor.None;
        public override void WriteCredential(XdrWriter writer)
        {
            writer.WriteUInt32((uint)RpcAuthFlavor.None);
            writer.WriteUInt32(0);
        }
        public override string ToString() => "AUTH_NONE";
    }
}

/// <summary>
/// AUTH_SYS (RFC 5531 appendix A): stamp, machine name (≤ 255 bytes), uid, gid and at most 16 supplementary gids.
/// The encoded body is computed once at construction.
/// </summary>
public sealed class AuthSysCredentials : RpcCredentials
{
    public const int MaxMachineNameLength = 255;
    public const int MaxGids = 16;

    public uint Stamp { get; }
    public string MachineName { get; }
    public uint Uid { get; }
    public uint Gid { get; }
    public IReadOnlyList<uint> Gids { get; }

    private readonly byte[] _body;

    public AuthSysCredentials(uint uid, uint gid, IReadOnlyList<uint>? gids = null, string? machineName = null, uint? stamp = null)
    {
        Uid = uid;
        Gid = gid;
        Gids = gids ?? [];
        MachineName = machineName ?? Environment.MachineName;
        Stamp = stamp ?? (uint)Environment.TickCount;
        if (Gids.Count > MaxGids)
            throw new ArgumentException($"AUTH_SYS carries at most {MaxGids} supplementary groups, got {Gids.Count}", nameof(gids));
        if (System.Text.Encoding.UTF8.GetByteCount(MachineName) > MaxMachineNameLength)
            throw new ArgumentException($"AUTH_SYS machine name is limited to {MaxMachineNameLength} bytes", nameof(machineName));

        var buffer = new ArrayBufferWriter<byte>(64);
        var w = new XdrWriter(buffer);
        w.WriteUInt32(Stamp);
        w.WriteString(MachineName);
        w.WriteUInt32(Uid);
        w.WriteUInt32(Gid);
        w.WriteUInt32((uint)Gids.Count);
        foreach (uint g in Gids) w.WriteUInt32(g);
        _body = buffer.WrittenSpan.ToArray();
    }

    public override RpcAuthFlavor Flavor => RpcAuthFlavor.Sys;

    public override void WriteCredential(XdrWriter writer)
    {
        writer.WriteUInt32((uint)RpcAuthFlavor.Sys);
        writer.WriteOpaque(_body);
    }

    /// <summary>Decodes an authsys_parms body (server side).</summary>
    public static AuthSysCredentials Read(ReadOnlyMemory<byte> body)
    {
        var r = new XdrReader(body);
        uint stamp = r.ReadUInt32();
        string machine = r.ReadString(MaxMachineNameLength, "AUTH_SYS machine name");
        uint uid = r.ReadUInt32();
        uint gid = r.ReadUInt32();
        int count = r.ReadLength(MaxGids, "AUTH_SYS gids");
        var gids = new uint[count];
        for (int i = 0; i < count; i++) gids[i] = r.ReadUInt32();
        r.EnsureFullyConsumed("AUTH_SYS credential");
        return new AuthSysCredentials(uid, gid, gids, machine, stamp);
    }

    public override string ToString() => $"AUTH_SYS uid={Uid} gid={Gid}" + (Gids.Count > 0 ? $" gids={string.Join(',', Gids)}" : "");
}
