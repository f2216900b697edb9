namespace NfsNs.Xdr;

/// <summary>
/// Input that is not valid XDR for the type being decoded: truncated, a length over its declared maximum,
/// a discriminant outside its union, or a non-zero padding byte. A server answers GARBAGE_ARGS; a client
/// treats the reply as a protocol error of the connection that sent it.
/// </summary>
public sealed class XdrException(string message) : Exception(message);
