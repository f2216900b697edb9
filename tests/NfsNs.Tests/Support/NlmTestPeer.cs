using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Server;
using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

/// <summary>
/// Creates client sockets in a namespace bound to one local address first, so that calls from "different client
/// hosts" (127.0.0.2, 127.0.0.3, …, all on the namespace's loopback) reach the server from different addresses.
/// </summary>
public sealed class BoundSocketFactory(NetworkNamespace ns, IPAddress local) : ISocketFactory
{
    public NetworkNamespace Namespace => ns;
    NetworkNamespace? ISocketFactory.Namespace => ns;

    public async ValueTask<Socket> ConnectTcpAsync(EndPoint remote, CancellationToken cancellationToken)
    {
        var socket = ns.CreateSocket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(local, 0));
            await socket.ConnectAsync(remote, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public Socket ListenTcp(EndPoint endPoint, int backlog) => throw new NotSupportedException("a client factory does not listen");

    public Socket BindUdp(EndPoint endPoint) => throw new NotSupportedException("a client factory does not listen");

    public IPAddress[] ResolveHost(string host) => ns.ResolveHost(host);
}

/// <summary>
/// What the server's call-backs reach in the tests: one <see cref="RpcServer"/> in the server's namespace playing every
/// client's NLM (GRANTED, the *_RES messages) and status monitor (SM_NOTIFY), found through
/// <see cref="NfsServerOptions.CallbackResolver"/> — in one namespace they cannot register in the rpcbind the server
/// itself answers — or, with <c>withRpcbind</c>, through a portmapper of its own on port 111 of its address (another
/// loopback address than the server's), as a real client host would be found.
/// </summary>
public sealed class NlmTestPeer : IAsyncDisposable
{
    private readonly RpcServer _server;

    public NlmTestPeer(NetworkNamespace ns, IPAddress? address = null, bool withRpcbind = false)
    {
        _server = new RpcServer(new NamespaceSocketFactory(ns));
        var nlm = new RpcProgram(Nlm4.Program)
            .On(Nlm4.Version, (uint)Nlm4Procedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(Nlm4.Version, (uint)Nlm4Procedure.Granted, Nlm4TestArgs.Read, (call, args, _) =>
            {
                Granted.Writer.TryWrite((args, call.RemoteEndPoint));
                new Nlm4Result(args.Cookie, GrantedAnswer).Write(call.Results);
                return RpcReplyStatus.SuccessTask;
            })
            .On(Nlm4.Version, (uint)Nlm4Procedure.TestRes, Nlm4TestResult.Read, (_, args, _) =>
            {
                Results.Writer.TryWrite((Nlm4Procedure.TestRes, args.Cookie, args.Status));
                return RpcReplyStatus.SuccessTask;
            });
        foreach (var procedure in new[] { Nlm4Procedure.LockRes, Nlm4Procedure.CancelRes, Nlm4Procedure.UnlockRes })
        {
            nlm.On(Nlm4.Version, (uint)procedure, Nlm4Result.Read, (_, args, _) =>
            {
                Results.Writer.TryWrite((procedure, args.Cookie, args.Status));
                return RpcReplyStatus.SuccessTask;
            });
        }
        var nsm = new RpcProgram(Nsm.Program)
            .On(Nsm.Version, (uint)NsmProcedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(Nsm.Version, (uint)NsmProcedure.Notify, StatChange.Read, (call, args, _) =>
            {
                Notified.Writer.TryWrite((args, call.RemoteEndPoint));
                return RpcReplyStatus.SuccessTask;
            });
        _server.Register(nlm);
        _server.Register(nsm);
        EndPoint = _server.Listen(new IPEndPoint(address ?? IPAddress.Loopback, 0));
        if (withRpcbind)
        {
            var portmap = new PortmapServer();
            _server.Register(portmap);
            portmap.Registry.RegisterPortmapper(_server.Listen(new IPEndPoint(address ?? IPAddress.Loopback, PortmapProtocol.Port)));
            portmap.Registry.Register(Nlm4.Program, Nlm4.Version, EndPoint);
            portmap.Registry.Register(Nsm.Program, Nsm.Version, EndPoint);
        }
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>What the peer answers to GRANTED.</summary>
    public Nlm4Status GrantedAnswer { get; set; } = Nlm4Status.Granted;

    public Channel<(Nlm4TestArgs Args, IPEndPoint From)> Granted { get; } = Channel.CreateUnbounded<(Nlm4TestArgs, IPEndPoint)>();
    public Channel<(StatChange Change, IPEndPoint From)> Notified { get; } = Channel.CreateUnbounded<(StatChange, IPEndPoint)>();
    public Channel<(Nlm4Procedure Procedure, NetObj Cookie, Nlm4Status Status)> Results { get; } =
        Channel.CreateUnbounded<(Nlm4Procedure, NetObj, Nlm4Status)>();

    /// <summary>Which (client address, program) the server looked up.</summary>
    public ConcurrentQueue<(IPAddress Host, uint Program)> Lookups { get; } = new();

    /// <summary>The resolver to give the server: every client's services are this peer.</summary>
    public Task<IPEndPoint?> ResolveAsync(IPAddress host, uint program, uint version, CancellationToken cancellationToken)
    {
        Lookups.Enqueue((host, program));
        return Task.FromResult<IPEndPoint?>(EndPoint);
    }

    /// <summary>The next item of <paramref name="channel"/>, failing after <paramref name="seconds"/>.</summary>
    public static async Task<T> NextAsync<T>(Channel<T> channel, double seconds = 15) =>
        await channel.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(seconds));

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
