using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>Calls one program version over an <see cref="RpcConnection"/> with fixed credentials.</summary>
public sealed class RpcProgramClient : IRpcCaller
{
    public RpcProgramClient(RpcConnection connection, uint program, uint version, RpcCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(credentials);
        Connection = connection;
        Program = program;
        Version = version;
        Credentials = credentials;
    }

    public RpcConnection Connection { get; }
    public uint Program { get; }
    public uint Version { get; }
    public RpcCredentials Credentials { get; }

    public Task<TResult> CallAsync<TArgs, TResult>(uint procedure, TArgs args, XdrDecoder<TResult> decodeResult, CancellationToken cancellationToken)
        where TArgs : IXdrWritable
        => Connection.CallAsync(Program, Version, procedure, Credentials, args, decodeResult, cancellationToken);

    /// <summary>"MOUNT v3 at 127.0.0.1:20048 in namespace A".</summary>
    public string Describe() => $"{RpcPrograms.Describe(Program, Version)} at {Connection.Describe()}";

    public override string ToString() => Describe();
}
