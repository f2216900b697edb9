using NfsNs.Xdr;

namespace NfsNs.Rpc.Server;

/// <summary>Writes the reply headers of RFC 5531 §9 (the server side of <see cref="RpcReply"/>).</summary>
public static class RpcReplyHeader
{
    /// <summary>
    /// MSG_ACCEPTED with an AUTH_NONE verifier (what AUTH_NONE and AUTH_SYS calls get, RFC 5531 §10) and
    /// <paramref name="stat"/>; for PROG_MISMATCH the supported versions follow. SUCCESS is followed by the results.
    /// </summary>
    public static void WriteAccepted(XdrWriter writer, uint xid, RpcAcceptStat stat, uint lowVersion = 0, uint highVersion = 0)
    {
        writer.WriteUInt32(xid);
        writer.WriteUInt32((uint)RpcMessageType.Reply);
        writer.WriteUInt32((uint)RpcReplyStat.Accepted);
        OpaqueAuth.None.Write(writer);
        writer.WriteUInt32((uint)stat);
        if (stat == RpcAcceptStat.ProgMismatch)
        {
            writer.WriteUInt32(lowVersion);
            writer.WriteUInt32(highVersion);
        }
    }

    /// <summary>MSG_DENIED / RPC_MISMATCH: this server speaks RPC version 2 only.</summary>
    public static void WriteRpcMismatch(XdrWriter writer, uint xid)
    {
        writer.WriteUInt32(xid);
        writer.WriteUInt32((uint)RpcMessageType.Reply);
        writer.WriteUInt32((uint)RpcReplyStat.Denied);
        writer.WriteUInt32((uint)RpcRejectStat.RpcMismatch);
        writer.WriteUInt32(Rpc.Version);
        writer.WriteUInt32(Rpc.Version);
    }

    /// <summary>MSG_DENIED / AUTH_ERROR with <paramref name="stat"/>.</summary>
    public static void WriteAuthError(XdrWriter writer, uint xid, RpcAuthStat stat)
    {
        writer.WriteUInt32(xid);
        writer.WriteUInt32((uint)RpcMessageType.Reply);
        writer.WriteUInt32((uint)RpcReplyStat.Denied);
        writer.WriteUInt32((uint)RpcRejectStat.AuthError);
        writer.WriteUInt32((uint)stat);
    }
}
