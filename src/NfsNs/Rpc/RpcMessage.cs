using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>RFC 5531 §9: msg_type.</summary>
public enum RpcMessageType : uint { Call = 0, Reply = 1 }

/// <summary>RFC 5531 §9: reply_stat.</summary>
public enum RpcReplyStat : uint { Accepted = 0, Denied = 1 }

/// <summary>RFC 5531 §9: accept_stat.</summary>
public enum RpcAcceptStat : uint
{
    Success = 0,
    ProgUnavail = 1,
    ProgMismatch = 2,
    ProcUnavail = 3,
    GarbageArgs = 4,
    SystemErr = 5,
}

/// <summary>RFC 5531 §9: reject_stat.</summary>
public enum RpcRejectStat : uint { RpcMismatch = 0, AuthError = 1 }

/// <summary>RFC 5531 §9: auth_stat.</summary>
public enum RpcAuthStat : uint
{
    Ok = 0,
    BadCred = 1,
    RejectedCred = 2,
    BadVerf = 3,
    RejectedVerf = 4,
    TooWeak = 5,
    InvalidResp = 6,
    Failed = 7,
}

/// <summary>RFC 5531 §8.2: auth_flavor numbers we know by name.</summary>
public enum RpcAuthFlavor : uint { None = 0, Sys = 1, Short = 2, Dh = 3, RpcsecGss = 6 }

/// <summary>The fixed numbers of RFC 5531.</summary>
public static class Rpc
{
    /// <summary>rpcvers: the only version of the RPC message protocol (RFC 5531 §9).</summary>
    public const uint Version = 2;

    /// <summary>opaque_auth body is at most 400 bytes (RFC 5531 §8.2).</summary>
    public const int MaxAuthBodyLength = 400;

    /// <summary>
    /// Writes the call header of RFC 5531 §9 (xid, CALL, rpcvers, prog, vers, proc, cred, verf). The procedure's
    /// arguments follow directly.
    /// </summary>
    public static void WriteCallHeader(XdrWriter writer, uint xid, uint program, uint version, uint procedure, RpcCredentials credentials)
    {
        writer.WriteUInt32(xid);
        writer.WriteUInt32((uint)RpcMessageType.Call);
        writer.WriteUInt32(Version);
        writer.WriteUInt32(program);
        writer.WriteUInt32(version);
        writer.WriteUInt32(procedure);
        credentials.WriteCredential(writer);
        credentials.WriteVerifier(writer);
    }
}

/// <summary>An opaque_auth as read from the wire (RFC 5531 §8.2).</summary>
public readonly record struct OpaqueAuth(RpcAuthFlavor Flavor, ReadOnlyMemory<byte> Body)
{
    public static readonly OpaqueAuth None = new(RpcAuthFlavor.None, ReadOnlyMemory<byte>.Empty);

    public static OpaqueAuth Read(ref XdrReader reader)
    {
        var flavor = (RpcAuthFlavor)reader.ReadUInt32();
        var body = reader.ReadOpaqueMemory(Rpc.MaxAuthBodyLength, "opaque_auth body");
        return new OpaqueAuth(flavor, body);
    }

    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32((uint)Flavor);
        writer.WriteOpaque(Body.Span);
    }
}
