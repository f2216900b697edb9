using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Nlm4;

/// <summary>
/// Typed stubs for the synchronous NLM v4 procedures over an <see cref="IRpcCaller"/> bound to program
/// <see cref="Nlm4.Program"/> version <see cref="Nlm4.Version"/>. Lock statuses are results, not exceptions: a
/// DENIED or BLOCKED answer is normal. Malformed replies throw <see cref="XdrException"/>.
/// </summary>
public sealed class Nlm4Client(IRpcCaller caller)
{
    private readonly IRpcCaller _caller = caller ?? throw new ArgumentNullException(nameof(caller));

    public IRpcCaller Caller => _caller;

    public Task NullAsync(CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Null, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    public Task<Nlm4TestResult> TestAsync(Nlm4TestArgs args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Test, args, Nlm4TestResult.Read, cancellationToken);

    public Task<Nlm4Result> LockAsync(Nlm4LockArgs args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Lock, args, Nlm4Result.Read, cancellationToken);

    public Task<Nlm4Result> CancelAsync(Nlm4CancelArgs args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Cancel, args, Nlm4Result.Read, cancellationToken);

    public Task<Nlm4Result> UnlockAsync(Nlm4UnlockArgs args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Unlock, args, Nlm4Result.Read, cancellationToken);

    /// <summary>GRANTED: the server side's call-back to a client whose blocked LOCK can now be granted.</summary>
    public Task<Nlm4Result> GrantedAsync(Nlm4TestArgs args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.Granted, args, Nlm4Result.Read, cancellationToken);

    /// <summary>
    /// GRANTED_RES: the answer to a server's GRANTED_MSG call-back (the message form, which has no reply of its own).
    /// A status other than NLM4_GRANTED tells the server to release the lock again.
    /// </summary>
    public Task GrantedResAsync(Nlm4Result result, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.GrantedRes, result, XdrVoid.Read, cancellationToken);

    /// <summary>FREE_ALL: drop every lock of a host that restarted (sent by a co-located status monitor).</summary>
    public Task FreeAllAsync(Nlm4Notify args, CancellationToken cancellationToken = default) =>
        CallAsync(Nlm4Procedure.FreeAll, args, XdrVoid.Read, cancellationToken);

    private Task<T> CallAsync<TArgs, T>(Nlm4Procedure procedure, TArgs args, XdrDecoder<T> decode, CancellationToken cancellationToken)
        where TArgs : IXdrWritable =>
        _caller.CallExactAsync(Nlm4.Program, Nlm4.Version, (uint)procedure, args, decode, cancellationToken);
}
