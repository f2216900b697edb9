using NfsNs.Xdr;

namespace NfsNs.Rpc.Server;

/// <summary>
/// An <see cref="IRpcProgram"/> built from a table of per-procedure handlers:
/// <code>
/// var mount = new RpcProgram(RpcPrograms.Mount)
///     .On(3, 0, (call, ct) => RpcReplyStatus.SuccessTask)                      // NULL
///     .On(3, 1, DirPath.Read, HandleMountAsync, nonIdempotent: false);        // MNT
/// </code>
/// The version range is the span of versions that have at least one procedure; an unknown procedure of a served
/// version is PROC_UNAVAIL.
/// </summary>
public sealed class RpcProgram : IRpcProgram
{
    private readonly Dictionary<(uint Version, uint Procedure), Entry> _procedures = [];
    private readonly HashSet<RpcAuthFlavor> _flavors;
    private uint _minVersion = uint.MaxValue;
    private uint _maxVersion;

    private sealed record Entry(RpcProcedureHandler Handler, bool NonIdempotent);

    /// <param name="program">The program number.</param>
    /// <param name="acceptedFlavors">Credential flavours accepted; AUTH_NONE and AUTH_SYS when none are given.</param>
    public RpcProgram(uint program, params RpcAuthFlavor[] acceptedFlavors)
    {
        Program = program;
        _flavors = acceptedFlavors.Length == 0 ? [RpcAuthFlavor.None, RpcAuthFlavor.Sys] : [.. acceptedFlavors];
    }

    public uint Program { get; }
    public uint MinVersion => _procedures.Count == 0 ? 0 : _minVersion;
    public uint MaxVersion => _maxVersion;

    public bool Accepts(RpcAuthFlavor flavor) => _flavors.Contains(flavor);

    public bool IsNonIdempotent(uint version, uint procedure) =>
        _procedures.TryGetValue((version, procedure), out var entry) && entry.NonIdempotent;

    /// <summary>Registers a handler that decodes its own arguments (from <see cref="RpcCallContext.Arguments"/>).</summary>
    public RpcProgram On(uint version, uint procedure, RpcProcedureHandler handler, bool nonIdempotent = false)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (!_procedures.TryAdd((version, procedure), new Entry(handler, nonIdempotent)))
            throw new InvalidOperationException($"{RpcPrograms.Describe(Program, version, procedure)} is registered twice");
        _minVersion = Math.Min(_minVersion, version);
        _maxVersion = Math.Max(_maxVersion, version);
        return this;
    }

    /// <summary>
    /// Registers a handler whose arguments are decoded by <paramref name="decodeArgs"/> first; a decode failure or
    /// bytes left over after the arguments answer GARBAGE_ARGS without calling the handler.
    /// </summary>
    public RpcProgram On<TArgs>(uint version, uint procedure, XdrDecoder<TArgs> decodeArgs, RpcProcedureHandler<TArgs> handler,
        bool nonIdempotent = false)
    {
        ArgumentNullException.ThrowIfNull(decodeArgs);
        ArgumentNullException.ThrowIfNull(handler);
        return On(version, procedure, (call, ct) => handler(call, call.DecodeArguments(decodeArgs), ct), nonIdempotent);
    }

    public ValueTask<RpcReplyStatus> HandleAsync(RpcCallContext call, CancellationToken cancellationToken) =>
        _procedures.TryGetValue((call.Version, call.Procedure), out var entry)
            ? entry.Handler(call, cancellationToken)
            : new ValueTask<RpcReplyStatus>(RpcReplyStatus.ProcUnavail);
}
