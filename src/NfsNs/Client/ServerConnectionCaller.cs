using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Client;

/// <summary>
/// Calls one program of a shared server connection with one mount's credentials, each call on the connection's next
/// transport (round-robin over <c>nconnect</c> TCP connections; a retransmission stays on the transport it began on).
/// </summary>
internal sealed class ServerConnectionCaller(NfsServerConnection server, uint program, uint version, RpcCredentials credentials) : IRpcCaller
{
    public Task<TResult> CallAsync<TArgs, TResult>(uint procedure, TArgs args, XdrDecoder<TResult> decodeResult, CancellationToken cancellationToken)
        where TArgs : IXdrWritable =>
        server.NextTransport().CallAsync(program, version, procedure, credentials, args, decodeResult, cancellationToken);

    public string Describe() => $"{RpcPrograms.Describe(program, version)} at {server.Rpc.Describe()}";
}
