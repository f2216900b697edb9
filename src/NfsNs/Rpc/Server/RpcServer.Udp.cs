using System.Net;
using System.Net.Sockets;

namespace NfsNs.Rpc.Server;

public sealed partial class RpcServer
{
    private readonly List<DatagramSocket> _datagramSockets = [];

    /// <summary>The UDP endpoints being served (with the actual ports when port 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> UdpEndPoints
    {
        get { lock (_lock) return [.. _datagramSockets.Select(d => d.Bound)]; }
    }

    /// <summary>
    /// Serves RPC over UDP on <paramref name="local"/> (port 0 picks one) and returns the bound endpoint. Each
    /// datagram is one call message — RFC 5531 §11's record marking is for streams only — and its reply goes back in
    /// one datagram, unframed, to the sender's address and port. Calls are dispatched exactly as TCP calls are (same
    /// programs, errors, duplicate request cache and counters). May be called for several endpoints, and for the same
    /// port as a TCP <see cref="Listen"/>.
    /// </summary>
    /// <remarks>
    /// Datagrams over <see cref="RpcServerOptions.MaxDatagramSize"/>, and datagrams arriving while
    /// <see cref="RpcServerOptions.MaxInFlightDatagrams"/> calls of this socket are in progress, are dropped: UDP has
    /// no back-pressure, and its clients retransmit. Memory is one receive buffer per socket plus each call in progress.
    /// </remarks>
    public IPEndPoint ListenUdp(IPEndPoint local)
    {
        ArgumentNullException.ThrowIfNull(local);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopping is not null, this);
            Socket socket;
            try
            {
                socket = _sockets.BindUdp(local);
            }
            catch (SocketException e)
            {
                throw CannotListen(e, $"UDP {local}");
            }
            DatagramSocket datagrams;
            try
            {
                ReceivePacketInformation(socket);
                datagrams = new DatagramSocket(this, socket, Interlocked.Increment(ref _nextConnectionId));
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            _datagramSockets.Add(datagrams);
            datagrams.Start();
            Log($"listening on UDP {datagrams.Bound} in namespace {Namespace}");
            return datagrams.Bound;
        }
    }

    /// <summary>
    /// IP_PKTINFO: each datagram comes with the address it was sent to. On a wildcard socket that is the only way to
    /// know which of the host's addresses the caller used — what rpcbind's GETADDR answers a wildcard registration with.
    /// </summary>
    private static void ReceivePacketInformation(Socket socket)
    {
        if (socket.AddressFamily == AddressFamily.InterNetwork)
        {
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
            return;
        }
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.PacketInformation, true);
        if (socket.DualMode) socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
    }

    /// <summary>One UDP socket: its receive loop and the calls it started, which keep it open until they have replied.</summary>
    private sealed class DatagramSocket
    {
        private readonly RpcServer _server;
        private readonly Socket _socket;
        private readonly CancellationTokenSource _stopReading = new();
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        // The receive loop counts as one user; the socket is closed when the last user (loop or call) is done.
        private int _users = 1;
        private int _inFlight;
        private volatile bool _aborted;

        public DatagramSocket(RpcServer server, Socket socket, long id)
        {
            _server = server;
            _socket = socket;
            Id = id;
            Bound = Unmap((IPEndPoint)socket.LocalEndPoint!);
        }

        /// <summary>Server-wide number, from the same sequence as connections (the calls' <see cref="RpcCallContext.ConnectionId"/>).</summary>
        public long Id { get; }
        public IPEndPoint Bound { get; }
        public Task Closed => _closed.Task;

        public void Start() => _ = Task.Run(ReceiveLoopAsync);

        private async Task ReceiveLoopAsync()
        {
            // One buffer for the socket's life; each datagram is copied out into a pooled buffer of its own size, so
            // calls in progress hold what they were sent and no more. One byte over the cap tells a datagram that is
            // too big from one that just fits (the kernel truncates to the buffer and says so).
            var buffer = new byte[_server._options.MaxDatagramSize + 1];
            EndPoint anySender = new IPEndPoint(
                _socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    SocketReceiveMessageFromResult received;
                    try
                    {
                        received = await _socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, anySender, _stopReading.Token).ConfigureAwait(false);
                    }
                    catch (SocketException e) when (!_stopReading.IsCancellationRequested && e.SocketErrorCode is not (SocketError.OperationAborted or SocketError.Interrupted))
                    {
                        // An error queued on the socket (an ICMP error for an earlier reply, say) fails one receive;
                        // the socket itself goes on. The pause keeps a persistent error from spinning.
                        _server.Log($"UDP socket {Id} on {Bound}: receive failed ({e.SocketErrorCode}: {e.Message})");
                        await Task.Delay(TimeSpan.FromMilliseconds(10), _stopReading.Token).ConfigureAwait(false);
                        continue;
                    }
                    Accept(buffer, received);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
            finally
            {
                Release();
            }
        }

        private void Accept(byte[] buffer, in SocketReceiveMessageFromResult received)
        {
            var replyTo = (IPEndPoint)received.RemoteEndPoint;
            var remote = Unmap(replyTo);
            var client = _server.ClientStats(remote.Address);
            int length = received.ReceivedBytes;
            if ((received.SocketFlags & SocketFlags.Truncated) != 0 || length > _server._options.MaxDatagramSize)
            {
                _server.Log($"UDP socket {Id} on {Bound}: dropped a datagram from {remote} over the {_server._options.MaxDatagramSize}-byte limit");
                _server.CountDropped(client);
                return;
            }
            if (Interlocked.Increment(ref _inFlight) > _server._options.MaxInFlightDatagrams)
            {
                // Not logged: this happens under load, and the client retransmits.
                Interlocked.Decrement(ref _inFlight);
                _server.CountDropped(client);
                return;
            }
            byte[] bytes = _server._pool.Rent(length);
            buffer.AsSpan(0, length).CopyTo(bytes);
            var record = new RpcRecord(bytes, length, _server._pool);
            var origin = new DatagramOrigin(this, replyTo, remote, LocalOf(received.PacketInformation), client);
            Interlocked.Increment(ref _users);
            _ = Task.Run(async () =>
            {
                try
                {
                    await _server.ServeAsync(origin, record).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _inFlight);
                    Release();
                }
            });
        }

        /// <summary>The address the datagram was sent to (see <see cref="ReceivePacketInformation"/>), with our port.</summary>
        private IPEndPoint LocalOf(IPPacketInformation information)
        {
            var address = information.Address;
            if (address is null || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.None))
                return Bound;
            return Unmap(new IPEndPoint(address, Bound.Port));
        }

        public async ValueTask SendAsync(ReadOnlyMemory<byte> message, DatagramOrigin origin)
        {
            if (_aborted) return;
            try
            {
                int sent = await _socket.SendToAsync(message, SocketFlags.None, origin.ReplyTo, _server._abort.Token).ConfigureAwait(false);
                Interlocked.Add(ref _server._stats.BytesSentCount, sent);
                Interlocked.Add(ref origin.Client.BytesSentCount, sent);
            }
            catch (SocketException e)
            {
                // EMSGSIZE for a reply over UDP's 64 KiB, or the sender's network gone: the client retransmits or gives up.
                _server.Log($"{origin.Describe()}: the {message.Length}-byte reply could not be sent ({e.SocketErrorCode}: {e.Message})");
                _server.CountDropped(origin);
            }
        }

        /// <summary>Ends the receive loop; calls in progress still get their replies sent.</summary>
        public void StopReading()
        {
            try
            {
                _stopReading.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Closes the socket now: calls in progress lose their replies.</summary>
        public void Abort()
        {
            _aborted = true;
            StopReading();
            _socket.Dispose();
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _users) != 0) return;
            _socket.Dispose();
            _stopReading.Dispose();
            _closed.TrySetResult();
        }
    }

    /// <summary>One datagram's sender, replied to through the socket the datagram arrived on.</summary>
    private sealed class DatagramOrigin(DatagramSocket socket, IPEndPoint replyTo, IPEndPoint remote, IPEndPoint local, RpcServerStats client)
        : CallOrigin(socket.Id, remote, local, client)
    {
        /// <summary>The sender as the socket saw it (v4-mapped on a dual-stack socket), where the reply is sent.</summary>
        public IPEndPoint ReplyTo { get; } = replyTo;
        public override RpcTransport Transport => RpcTransport.Udp;
        public override int FramingLength => 0;
        public override string Describe() => $"from {Remote} over UDP (socket {Id})";
        public override ValueTask SendReplyAsync(PooledBufferWriter reply) => socket.SendAsync(reply.WrittenMemory, this);
    }
}
