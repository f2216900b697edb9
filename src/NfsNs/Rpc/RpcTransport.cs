namespace NfsNs.Rpc;

/// <summary>The transport an RPC message travels on.</summary>
public enum RpcTransport
{
    /// <summary>A TCP connection: each message is a record of fragments behind 4-byte markers (RFC 5531 §11).</summary>
    Tcp,
    /// <summary>UDP: each datagram is exactly one message, with no record marking (RFC 5531 §11 applies to streams only).</summary>
    Udp,
}
