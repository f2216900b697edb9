using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Server.Locking;

/// <summary>
/// Finds where a client's RPC service listens: the TCP endpoint of <paramref name="program"/>
/// <paramref name="version"/> on <paramref name="host"/>, or null when the host has no such service registered.
/// Network failures throw (<see cref="RpcException"/>), so the caller retries.
/// </summary>
public delegate Task<IPEndPoint?> RpcServiceResolver(IPAddress host, uint program, uint version, CancellationToken cancellationToken);

/// <summary>
/// The server's calls to its clients — NLM GRANTED and *_RES, NSM SM_NOTIFY — all made through the server's own
/// socket factory, so from the server's network namespace, to services found with the client's rpcbind
/// (<see cref="RpcBinder"/>) unless a resolver is given. Each call gets a short-lived connection: call-backs are
/// rare, and a client that went away must not pin a socket.
/// </summary>
internal sealed class LockCallbacks
{
    private readonly ISocketFactory _sockets;
    private readonly RpcServiceResolver _resolver;
    private readonly Func<IPEndPoint, bool> _isOwnEndPoint;
    private readonly RpcConnectionOptions _options;

    public LockCallbacks(ISocketFactory sockets, RpcServiceResolver? resolver, Func<IPEndPoint, bool> isOwnEndPoint, TimeSpan timeout)
    {
        _sockets = sockets;
        _resolver = resolver ?? ResolveWithRpcbindAsync;
        _isOwnEndPoint = isOwnEndPoint;
        // Soft, one transmission per attempt: the callers retry on their own schedule, and give up in the end.
        _options = new RpcConnectionOptions
        {
            Hard = false,
            Timeout = timeout,
            Retransmits = 0,
            Reconnect = false,
            MaxInFlight = 4,
            MaxRecordSize = 64 * 1024,
        };
    }

    public ISocketFactory Sockets => _sockets;

    private async Task<IPEndPoint?> ResolveWithRpcbindAsync(IPAddress host, uint program, uint version, CancellationToken cancellationToken)
    {
        try
        {
            int port = await RpcBinder.GetPortAsync(_sockets, new IPEndPoint(host, PortmapProtocol.Port), program, version,
                _options, cancellationToken).ConfigureAwait(false);
            return new IPEndPoint(host, port);
        }
        catch (RpcProgramNotRegisteredException)
        {
            return null;
        }
    }

    /// <summary>
    /// The endpoint of the service on <paramref name="host"/>; throws <see cref="CallbackException"/> when it is not
    /// registered, or when the lookup leads back to this server — in a single namespace a client on loopback shares
    /// the server's rpcbind, so "the client's NLM" would be our own, and calling ourselves is never right.
    /// </summary>
    public async Task<IPEndPoint> ResolveAsync(IPAddress host, uint program, uint version, CancellationToken cancellationToken)
    {
        var endPoint = await _resolver(host, program, version, cancellationToken).ConfigureAwait(false)
            ?? throw new CallbackException($"{host} has no {RpcPrograms.Describe(program, version)} registered with its rpcbind");
        if (_isOwnEndPoint(endPoint))
            throw new CallbackException($"{RpcPrograms.Describe(program, version)} of {host} resolves to {endPoint}, which is this server itself " +
                "(a client in the server's own namespace cannot register its call-back service next to ours)", permanent: true);
        return endPoint;
    }

    /// <summary>A connection to <paramref name="endPoint"/> (connected on its first call); the caller disposes it.</summary>
    public RpcConnection Connect(IPEndPoint endPoint) => new(_sockets, endPoint, _options);

    /// <summary>Calls one procedure with AUTH_NONE and decodes the whole reply with <paramref name="decode"/>.</summary>
    public static Task<T> CallAsync<TArgs, T>(RpcConnection connection, uint program, uint version, uint procedure,
        TArgs args, XdrDecoder<T> decode, CancellationToken cancellationToken) where TArgs : IXdrWritable =>
        connection.CallAsync(program, version, procedure, RpcCredentials.None, args, (ref XdrReader reader) =>
        {
            var value = decode(ref reader);
            reader.EnsureFullyConsumed($"the reply of {RpcPrograms.Describe(program, version, procedure)}");
            return value;
        }, cancellationToken);
}

/// <summary>
/// A call-back could not be made: no service registered (which a client's restart may fix), or
/// <see cref="IsPermanent"/>ly (the target is this server itself), when retrying is pointless.
/// </summary>
internal sealed class CallbackException(string message, bool permanent = false) : Exception(message)
{
    public bool IsPermanent { get; } = permanent;
}
