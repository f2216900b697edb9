using System.Net;
using NfsNs.Rpc;

namespace NfsNs.Protocols.Portmap;

/// <summary>rpcbind/portmap on the server does not know the program version (it answered port 0 or an empty address).</summary>
public sealed class RpcProgramNotRegisteredException(uint program, uint version, IPAddress server, string @namespace, string answer)
    : RpcException(
        $"{RpcPrograms.Describe(program, version)} over TCP is not registered on {server} in namespace {@namespace} ({answer}); " +
        "give the port explicitly" + (ExplicitPortOption(program) is { } option ? $", e.g. {option}" : ""))
{
    public uint Program { get; } = program;
    public uint Version { get; } = version;
    public IPAddress Server { get; } = server;
    public string Namespace { get; } = @namespace;

    /// <summary>The option that names the port directly, so that rpcbind is not asked at all.</summary>
    public static string? ExplicitPortOption(uint program) => program switch
    {
        RpcPrograms.Mount => "mountport=",
        RpcPrograms.Nfs => "nfsport=",
        _ => null,
    };
}
