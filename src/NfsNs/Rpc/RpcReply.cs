using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>Reads the header of a reply message (RFC 5531 §9) up to the procedure's results.</summary>
public static class RpcReply
{
    /// <summary>
    /// Reads xid, msg_type, reply_stat, the verifier and accept_stat. Returns the server's verifier when the call
    /// succeeded, leaving <paramref name="reader"/> at the first byte of the results; throws
    /// <see cref="RpcAcceptedException"/> or <see cref="RpcDeniedException"/> for a reply that carries no results and
    /// <see cref="RpcProtocolException"/> for a header that is not a valid reply to <paramref name="call"/>.
    /// </summary>
    public static OpaqueAuth ReadSuccessHeader(ref XdrReader reader, in RpcCallDescription call)
    {
        try
        {
            uint xid = reader.ReadUInt32();
            if (xid != call.Xid)
                throw Malformed(call, $"reply carries xid 0x{xid:x8}");
            uint messageType = reader.ReadUInt32();
            if (messageType != (uint)RpcMessageType.Reply)
                throw Malformed(call, $"msg_type {messageType} where REPLY (1) was expected");
            uint replyStat = reader.ReadUInt32();
            switch ((RpcReplyStat)replyStat)
            {
                case RpcReplyStat.Accepted:
                    return ReadAcceptedBody(ref reader, call);
                case RpcReplyStat.Denied:
                    throw ReadDeniedBody(ref reader, call);
                default:
                    throw Malformed(call, $"unknown reply_stat {replyStat}");
            }
        }
        catch (XdrException e)
        {
            throw new RpcProtocolException($"malformed reply header for {call}: {e.Message}", e);
        }
    }

    private static OpaqueAuth ReadAcceptedBody(ref XdrReader reader, in RpcCallDescription call)
    {
        // The verifier comes before accept_stat (accepted_reply in RFC 5531 §9). AUTH_NONE and AUTH_SYS calls
        // get an AUTH_NONE verifier; flavors that check it (RPCSEC_GSS) do so on the returned value.
        var verifier = OpaqueAuth.Read(ref reader);
        uint acceptStat = reader.ReadUInt32();
        switch ((RpcAcceptStat)acceptStat)
        {
            case RpcAcceptStat.Success:
                return verifier;
            case RpcAcceptStat.ProgMismatch:
            {
                uint low = reader.ReadUInt32();
                uint high = reader.ReadUInt32();
                throw new RpcAcceptedException(call, RpcAcceptStat.ProgMismatch, low, high);
            }
            case RpcAcceptStat.ProgUnavail or RpcAcceptStat.ProcUnavail or RpcAcceptStat.GarbageArgs or RpcAcceptStat.SystemErr:
                throw new RpcAcceptedException(call, (RpcAcceptStat)acceptStat);
            default:
                throw Malformed(call, $"unknown accept_stat {acceptStat}");
        }
    }

    private static RpcException ReadDeniedBody(ref XdrReader reader, in RpcCallDescription call)
    {
        uint rejectStat = reader.ReadUInt32();
        switch ((RpcRejectStat)rejectStat)
        {
            case RpcRejectStat.RpcMismatch:
            {
                uint low = reader.ReadUInt32();
                uint high = reader.ReadUInt32();
                return new RpcDeniedException(call, RpcRejectStat.RpcMismatch, lowVersion: low, highVersion: high);
            }
            case RpcRejectStat.AuthError:
                return new RpcDeniedException(call, RpcRejectStat.AuthError, (RpcAuthStat)reader.ReadUInt32());
            default:
                return Malformed(call, $"unknown reject_stat {rejectStat}");
        }
    }

    private static RpcProtocolException Malformed(in RpcCallDescription call, string what) =>
        new($"malformed reply header for {call}: {what}");
}
