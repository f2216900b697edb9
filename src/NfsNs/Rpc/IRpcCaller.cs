using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>
/// Calls the procedures of one RPC program version on one server with one set of credentials. Protocol stubs
/// (portmap, MOUNT, NFS) are written against this, so they can run over a real connection or a scripted fake.
/// </summary>
public interface IRpcCaller
{
    /// <summary>
    /// Sends <paramref name="args"/> to <paramref name="procedure"/> and decodes the reply's results with
    /// <paramref name="decodeResult"/>, which runs while the reply's buffer is alive (so it may copy bulk data
    /// straight into the caller's memory). RPC-level failures (timeouts, lost connections, PROG_UNAVAIL,
    /// AUTH_ERROR, …) surface as <see cref="RpcException"/>.
    /// </summary>
    Task<TResult> CallAsync<TArgs, TResult>(uint procedure, TArgs args, XdrDecoder<TResult> decodeResult, CancellationToken cancellationToken)
        where TArgs : IXdrWritable;

    /// <summary>Who is being called, for error messages: "PROGRAM vV at ADDRESS in namespace NS".</summary>
    string Describe();
}

/// <summary>
/// Implemented by decoded results that carry a protocol-level status (nfsstat3 …), so the connection's per-procedure
/// counters can count errors the way mountstats does, not only RPC-level failures.
/// </summary>
public interface IRpcResultStatus
{
    bool IsError { get; }
}

public static class RpcCallerExtensions
{
    /// <summary>
    /// Calls <paramref name="procedure"/> and decodes its results, which must fill the reply exactly: bytes left over
    /// are an <see cref="XdrException"/> naming the procedure ("NLM v4 LOCK reply"), never silently ignored.
    /// </summary>
    public static Task<T> CallExactAsync<TArgs, T>(this IRpcCaller caller, uint program, uint version, uint procedure, TArgs args,
        XdrDecoder<T> decode, CancellationToken cancellationToken)
        where TArgs : IXdrWritable
    {
        ArgumentNullException.ThrowIfNull(caller);
        return caller.CallAsync(procedure, args, (ref XdrReader reader) =>
        {
            var result = decode(ref reader);
            reader.EnsureFullyConsumed($"{RpcPrograms.Describe(program, version, procedure)} reply");
            return result;
        }, cancellationToken);
    }
}
