namespace NfsNs.Rpc;

/// <summary>Base of every RPC-level failure. Messages say which server, which namespace and what was sent.</summary>
public class RpcException(string message, Exception? inner = null) : Exception(message, inner);
