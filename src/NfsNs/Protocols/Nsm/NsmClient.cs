using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Nsm;

/// <summary>
/// Typed stubs for NSM v1 over an <see cref="IRpcCaller"/> bound to program <see cref="Nsm.Program"/> version
/// <see cref="Nsm.Version"/>: what a lock manager asks its status monitor (STAT, MON, UNMON, UNMON_ALL) and what one
/// monitor tells another after a restart (NOTIFY). Malformed replies throw <see cref="XdrException"/>.
/// </summary>
public sealed class NsmClient(IRpcCaller caller)
{
    private readonly IRpcCaller _caller = caller ?? throw new ArgumentNullException(nameof(caller));

    public Task NullAsync(CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.Null, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    public Task<SmStatResult> StatAsync(string monName, CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.Stat, new SmName(monName), SmStatResult.Read, cancellationToken);

    public Task<SmStatResult> MonAsync(Mon args, CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.Mon, args, SmStatResult.Read, cancellationToken);

    public Task<SmStat> UnmonAsync(MonId args, CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.Unmon, args, SmStat.Read, cancellationToken);

    public Task<SmStat> UnmonAllAsync(MyId args, CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.UnmonAll, args, SmStat.Read, cancellationToken);

    /// <summary>SM_NOTIFY: "host <paramref name="monName"/> restarted and is now in state <paramref name="state"/>".</summary>
    public Task NotifyAsync(string monName, int state, CancellationToken cancellationToken = default) =>
        CallAsync(NsmProcedure.Notify, new StatChange(monName, state), XdrVoid.Read, cancellationToken);

    private Task<T> CallAsync<TArgs, T>(NsmProcedure procedure, TArgs args, XdrDecoder<T> decode, CancellationToken cancellationToken)
        where TArgs : IXdrWritable =>
        _caller.CallExactAsync(Nsm.Program, Nsm.Version, (uint)procedure, args, decode, cancellationToken);
}
