using System.Net;
using NfsNs.Xdr;

namespace NfsNs.Rpc.Server;

/// <summary>
/// One RPC program served by an <see cref="RpcServer"/>: the server checks the RPC version, finds the program by
/// number, answers PROG_MISMATCH for versions outside [<see cref="MinVersion"/>, <see cref="MaxVersion"/>] and
/// AUTH_ERROR for flavours the program does not accept, and only then calls <see cref="HandleAsync"/>.
/// </summary>
public interface IRpcProgram
{
    uint Program { get; }
    uint MinVersion { get; }
    uint MaxVersion { get; }

    /// <summary>Whether calls with this credential flavour may run; a refused flavour is answered AUTH_TOOWEAK.</summary>
    bool Accepts(RpcAuthFlavor flavor);

    /// <summary>
    /// Whether a procedure is non-idempotent, so that a retransmission must get the first execution's reply from
    /// the duplicate request cache instead of running again (CREATE, REMOVE, RENAME, …). Idempotent procedures
    /// (GETATTR, READ) are simply run again and never cached.
    /// </summary>
    bool IsNonIdempotent(uint version, uint procedure);

    /// <summary>
    /// Runs one call. Results are written into <see cref="RpcCallContext.Results"/> (the server has written the
    /// reply header before them); the returned status says whether they are to be sent or replaced by an error
    /// reply. Throwing <see cref="XdrException"/> answers GARBAGE_ARGS, any other exception SYSTEM_ERR.
    /// </summary>
    ValueTask<RpcReplyStatus> HandleAsync(RpcCallContext call, CancellationToken cancellationToken);
}

/// <summary>A procedure handler of an <see cref="RpcProgram"/>.</summary>
public delegate ValueTask<RpcReplyStatus> RpcProcedureHandler(RpcCallContext call, CancellationToken cancellationToken);

/// <summary>A procedure handler whose arguments were already decoded (and checked to be complete) by the program.</summary>
public delegate ValueTask<RpcReplyStatus> RpcProcedureHandler<TArgs>(RpcCallContext call, TArgs args, CancellationToken cancellationToken);

/// <summary>What kind of reply a handler wants sent.</summary>
public enum RpcReplyKind
{
    /// <summary>SUCCESS with the results written into <see cref="RpcCallContext.Results"/>.</summary>
    Success,
    /// <summary>An accepted reply with an error accept_stat (PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR); results discarded.</summary>
    AcceptError,
    /// <summary>MSG_DENIED with AUTH_ERROR and an auth_stat; results discarded.</summary>
    AuthError,
    /// <summary>No reply at all (RFC 5531 §8: a server may decline to answer; the client retransmits).</summary>
    Drop,
}

/// <summary>The outcome of a handler: success, an accept_stat error, an auth error or no reply.</summary>
public readonly record struct RpcReplyStatus(RpcReplyKind Kind, RpcAcceptStat AcceptStat, RpcAuthStat AuthStat)
{
    public static RpcReplyStatus Success => new(RpcReplyKind.Success, RpcAcceptStat.Success, RpcAuthStat.Ok);
    public static RpcReplyStatus ProcUnavail => new(RpcReplyKind.AcceptError, RpcAcceptStat.ProcUnavail, RpcAuthStat.Ok);
    public static RpcReplyStatus GarbageArgs => new(RpcReplyKind.AcceptError, RpcAcceptStat.GarbageArgs, RpcAuthStat.Ok);
    public static RpcReplyStatus SystemErr => new(RpcReplyKind.AcceptError, RpcAcceptStat.SystemErr, RpcAuthStat.Ok);
    public static RpcReplyStatus Drop => new(RpcReplyKind.Drop, RpcAcceptStat.Success, RpcAuthStat.Ok);
    public static RpcReplyStatus AuthError(RpcAuthStat stat) => new(RpcReplyKind.AuthError, RpcAcceptStat.Success, stat);

    /// <summary>Cached task of <see cref="Success"/> for synchronous handlers.</summary>
    public static ValueTask<RpcReplyStatus> SuccessTask => new(Success);
}

/// <summary>
/// One call as a handler sees it: who sent it, what it asks for, its arguments and where its results go.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Arguments"/> (and <see cref="Credential"/>'s body) is a slice of the received record, a
/// pooled buffer that the server returns to its pool when the handler's <see cref="ValueTask"/> completes. Decode
/// (or copy) what is needed before then; never keep a slice in state that outlives the call. <see cref="Results"/>
/// writes into the reply's send buffer: bulk data (a READ payload) is copied into it once, or read straight into
/// <c>Results.Output.GetSpan(n)</c> and <c>Advance</c>d.
/// </remarks>
public sealed class RpcCallContext
{
    internal RpcCallContext(uint xid, uint program, uint version, uint procedure, OpaqueAuth credential,
        AuthSysCredentials? authSys, IPEndPoint remote, IPEndPoint local, long connectionId, RpcTransport transport,
        ReadOnlyMemory<byte> arguments, XdrWriter results)
    {
        Xid = xid;
        Program = program;
        Version = version;
        Procedure = procedure;
        Credential = credential;
        AuthSys = authSys;
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        ConnectionId = connectionId;
        Transport = transport;
        Arguments = arguments;
        Results = results;
    }

    public uint Xid { get; }
    public uint Program { get; }
    public uint Version { get; }
    public uint Procedure { get; }
    public RpcAuthFlavor Flavor => Credential.Flavor;
    /// <summary>The credential as received (its body is a slice of the record).</summary>
    public OpaqueAuth Credential { get; }
    /// <summary>The decoded AUTH_SYS credential when <see cref="Flavor"/> is AUTH_SYS, else null.</summary>
    public AuthSysCredentials? AuthSys { get; }
    /// <summary>The caller's address and port: where the reply goes (for UDP, the datagram's source).</summary>
    public IPEndPoint RemoteEndPoint { get; }
    /// <summary>The address and port the call arrived at (for UDP, the datagram's destination address even on a wildcard socket).</summary>
    public IPEndPoint LocalEndPoint { get; }
    /// <summary>
    /// Server-wide number of the connection the call came on (1, 2, …), for logs and per-connection state. Over UDP
    /// it numbers the server's UDP socket, which every sender shares: not a per-client identity.
    /// </summary>
    public long ConnectionId { get; }
    /// <summary>Whether the call came over TCP or UDP (GETADDR with an empty netid answers for this transport).</summary>
    public RpcTransport Transport { get; }
    /// <summary>The procedure's arguments: valid until the handler's task completes (see remarks).</summary>
    public ReadOnlyMemory<byte> Arguments { get; }
    /// <summary>Where the procedure's results go; the reply header is already written.</summary>
    public XdrWriter Results { get; }

    /// <summary>True when the caller is on a loopback address (127.0.0.0/8, ::1, or their v4-mapped forms).</summary>
    public bool IsLoopbackCaller => IsLoopback(RemoteEndPoint.Address);

    public XdrReader ArgumentsReader() => new(Arguments);

    /// <summary>
    /// Decodes the arguments with <paramref name="decode"/> and checks that nothing follows them: trailing bytes or a
    /// truncated body throw <see cref="XdrException"/>, which the server answers with GARBAGE_ARGS.
    /// </summary>
    public T DecodeArguments<T>(XdrDecoder<T> decode)
    {
        ArgumentNullException.ThrowIfNull(decode);
        var reader = new XdrReader(Arguments);
        T value = decode(ref reader);
        reader.EnsureFullyConsumed($"the arguments of {RpcPrograms.Describe(Program, Version, Procedure)}");
        return value;
    }

    /// <summary>"MOUNT v3 procedure 1 (xid 0x1a2b3c4d) from 127.0.0.1:800 on connection 3" (or "… over UDP (socket 2)").</summary>
    public string Describe() =>
        $"{RpcPrograms.Describe(Program, Version, Procedure)} (xid 0x{Xid:x8}) from {RemoteEndPoint} " +
        (Transport == RpcTransport.Udp ? $"over UDP (socket {ConnectionId})" : $"on connection {ConnectionId}");

    public override string ToString() => Describe();

    internal static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
