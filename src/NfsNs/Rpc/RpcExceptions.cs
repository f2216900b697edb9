namespace NfsNs.Rpc;

/// <summary>What one call was and where it went, for error messages. Built only when something fails.</summary>
public readonly record struct RpcCallDescription(uint Xid, uint Program, uint Version, uint Procedure, string Peer)
{
    /// <summary>"MOUNT v3 procedure 1 (xid 0x1a2b3c4d)".</summary>
    public string What => $"{RpcPrograms.Describe(Program, Version, Procedure)} (xid 0x{Xid:x8})";

    public override string ToString() => $"{What} to {Peer}";
}

/// <summary>
/// No reply arrived within the soft-mount budget (timeo, grown linearly for each of retrans retransmissions).
/// Hard calls never throw this: they keep retransmitting until cancelled.
/// </summary>
public sealed class RpcTimeoutException(RpcCallDescription call, TimeSpan waited, int transmissions, string message)
    : RpcException(message)
{
    public RpcCallDescription Call { get; } = call;
    public TimeSpan Waited { get; } = waited;
    /// <summary>How many times the call was put on the wire (the first send plus retransmissions).</summary>
    public int Transmissions { get; } = transmissions;
}

/// <summary>The transport failed: connection refused or lost with reconnection disabled, or the connection was disposed.</summary>
public sealed class RpcConnectionException(string message, Exception? inner = null) : RpcException(message, inner);

/// <summary>
/// A record or a reply header that does not follow RFC 5531: a record over the size cap, a reply that is not a
/// reply, an unknown reply_stat or accept_stat, or results that do not decode.
/// </summary>
public sealed class RpcProtocolException(string message, Exception? inner = null) : RpcException(message, inner);

/// <summary>The server accepted the call but did not run it (RFC 5531 §9, accept_stat other than SUCCESS).</summary>
public sealed class RpcAcceptedException : RpcException
{
    public RpcAcceptedException(RpcCallDescription call, RpcAcceptStat stat, uint lowVersion = 0, uint highVersion = 0)
        : base($"{call.What} to {call.Peer} failed: {Explain(call, stat, lowVersion, highVersion)}")
    {
        Call = call;
        Stat = stat;
        LowVersion = lowVersion;
        HighVersion = highVersion;
    }

    public RpcCallDescription Call { get; }
    public RpcAcceptStat Stat { get; }
    /// <summary>For PROG_MISMATCH: the lowest and highest versions of the program the server supports.</summary>
    public uint LowVersion { get; }
    public uint HighVersion { get; }

    private static string Explain(RpcCallDescription call, RpcAcceptStat stat, uint low, uint high) => stat switch
    {
        RpcAcceptStat.ProgUnavail => $"the server does not serve {RpcPrograms.Name(call.Program)} (PROG_UNAVAIL)",
        RpcAcceptStat.ProgMismatch =>
            $"the server supports {RpcPrograms.Name(call.Program)} versions {low} to {high} only, not v{call.Version} (PROG_MISMATCH)",
        RpcAcceptStat.ProcUnavail =>
            $"the server does not implement procedure {call.Procedure} of {RpcPrograms.Describe(call.Program, call.Version)} (PROC_UNAVAIL)",
        RpcAcceptStat.GarbageArgs => "the server could not decode the arguments (GARBAGE_ARGS)",
        RpcAcceptStat.SystemErr => "the server failed with a system error (SYSTEM_ERR)",
        _ => $"accept_stat {(uint)stat}",
    };
}

/// <summary>The server refused the call (RFC 5531 §9, MSG_DENIED): wrong RPC version or an authentication error.</summary>
public sealed class RpcDeniedException : RpcException
{
    public RpcDeniedException(RpcCallDescription call, RpcRejectStat rejectStat, RpcAuthStat authStat = RpcAuthStat.Ok,
        uint lowVersion = 0, uint highVersion = 0)
        : base($"{call.What} to {call.Peer} was denied: {Explain(rejectStat, authStat, lowVersion, highVersion)}")
    {
        Call = call;
        RejectStat = rejectStat;
        AuthStat = authStat;
        LowVersion = lowVersion;
        HighVersion = highVersion;
    }

    public RpcCallDescription Call { get; }
    public RpcRejectStat RejectStat { get; }
    /// <summary>For AUTH_ERROR: why the credential or verifier was refused.</summary>
    public RpcAuthStat AuthStat { get; }
    /// <summary>For RPC_MISMATCH: the RPC protocol versions the server supports.</summary>
    public uint LowVersion { get; }
    public uint HighVersion { get; }

    private static string Explain(RpcRejectStat reject, RpcAuthStat auth, uint low, uint high) => reject switch
    {
        RpcRejectStat.RpcMismatch => $"the server speaks RPC versions {low} to {high}, not {Rpc.Version} (RPC_MISMATCH)",
        RpcRejectStat.AuthError => $"authentication failed: {DescribeAuthStat(auth)} (AUTH_ERROR)",
        _ => $"reject_stat {(uint)reject}",
    };

    /// <summary>The texts of RFC 5531 §9 auth_stat.</summary>
    public static string DescribeAuthStat(RpcAuthStat stat) => stat switch
    {
        RpcAuthStat.Ok => "AUTH_OK",
        RpcAuthStat.BadCred => "AUTH_BADCRED, bad credential (seal broken)",
        RpcAuthStat.RejectedCred => "AUTH_REJECTEDCRED, client must begin a new session",
        RpcAuthStat.BadVerf => "AUTH_BADVERF, bad verifier (seal broken)",
        RpcAuthStat.RejectedVerf => "AUTH_REJECTEDVERF, verifier expired or replayed",
        RpcAuthStat.TooWeak => "AUTH_TOOWEAK, rejected for security reasons (flavor not allowed)",
        RpcAuthStat.InvalidResp => "AUTH_INVALIDRESP, bogus response verifier",
        RpcAuthStat.Failed => "AUTH_FAILED, reason unknown",
        _ => $"auth_stat {(uint)stat}",
    };
}
