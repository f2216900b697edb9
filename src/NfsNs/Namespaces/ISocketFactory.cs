using System.Net;
using System.Net.Sockets;

namespace NfsNs.Namespaces;

/// <summary>
/// Where every socket of a transport comes from. Production code uses <see cref="NamespaceSocketFactory"/>, which
/// binds each socket to one network namespace; nothing in the RPC or NFS layers calls <c>new Socket</c> itself.
/// </summary>
public interface ISocketFactory
{
    /// <summary>The namespace sockets are created in, for messages and the mount table; null for test factories.</summary>
    NetworkNamespace? Namespace { get; }

    /// <summary>Creates a TCP socket in the factory's namespace and connects it to <paramref name="remote"/>.</summary>
    ValueTask<Socket> ConnectTcpAsync(EndPoint remote, CancellationToken cancellationToken);

    /// <summary>Creates a TCP listener in the factory's namespace, bound to <paramref name="local"/>.</summary>
    Socket ListenTcp(EndPoint local, int backlog);

    /// <summary>Creates a UDP socket in the factory's namespace, bound to <paramref name="local"/>.</summary>
    Socket BindUdp(EndPoint local);

    /// <summary>Resolves a host name as seen from the factory's namespace.</summary>
    IPAddress[] ResolveHost(string host);
}

/// <summary>
/// Creates every socket inside one network namespace. With <paramref name="ownsNamespace"/> the factory disposes the
/// namespace reference when it is disposed (an <see cref="Rpc.RpcConnection"/> disposes its factory); otherwise the
/// caller keeps ownership and disposing the factory does nothing.
/// </summary>
public sealed class NamespaceSocketFactory(NetworkNamespace networkNamespace, bool ownsNamespace = false) : ISocketFactory, IDisposable
{
    public void Dispose()
    {
        if (ownsNamespace) networkNamespace.Dispose();
    }

    public NetworkNamespace Namespace => networkNamespace;
    NetworkNamespace? ISocketFactory.Namespace => networkNamespace;

    public async ValueTask<Socket> ConnectTcpAsync(EndPoint remote, CancellationToken cancellationToken)
    {
        var socket = networkNamespace.CreateSocket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(remote, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private const int SolSocket = 1, SoReuseAddr = 2; // <asm-generic/socket.h>

    public Socket ListenTcp(EndPoint local, int backlog)
    {
        var socket = networkNamespace.CreateSocket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone, so a restarted server can bind while old connections sit in TIME_WAIT. Not .NET's
            // ReuseAddress option: on Linux it also sets SO_REUSEPORT, which lets a second server bind the same port
            // and have the kernel split clients between the two.
            socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            socket.Bind(local);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public Socket BindUdp(EndPoint local)
    {
        // No SO_REUSEADDR here: for UDP it would let a second socket bind the same port and take the datagrams (Linux
        // gives unicast to the last one bound), and UDP has no TIME_WAIT that a restarted server must wait out.
        var socket = networkNamespace.CreateSocket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(local);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public IPAddress[] ResolveHost(string host) => networkNamespace.ResolveHost(host);
}
