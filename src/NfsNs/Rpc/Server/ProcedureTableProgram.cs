namespace NfsNs.Rpc.Server;

/// <summary>
/// Base of a program whose procedures live in an <see cref="RpcProgram"/> table: subclasses register handlers on
/// <see cref="Procedures"/> in their constructor and inherit the <see cref="IRpcProgram"/> plumbing.
/// </summary>
public abstract class ProcedureTableProgram(RpcProgram procedures) : IRpcProgram
{
    protected RpcProgram Procedures { get; } = procedures;

    public uint Program => Procedures.Program;
    public uint MinVersion => Procedures.MinVersion;
    public uint MaxVersion => Procedures.MaxVersion;
    public bool Accepts(RpcAuthFlavor flavor) => Procedures.Accepts(flavor);
    public bool IsNonIdempotent(uint version, uint procedure) => Procedures.IsNonIdempotent(version, procedure);

    public ValueTask<RpcReplyStatus> HandleAsync(RpcCallContext call, CancellationToken cancellationToken) =>
        Procedures.HandleAsync(call, cancellationToken);
}
