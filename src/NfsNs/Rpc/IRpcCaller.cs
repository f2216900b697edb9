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
