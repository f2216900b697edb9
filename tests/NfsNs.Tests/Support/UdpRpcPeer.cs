using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;

namespace NfsNs.Tests.Support;

/// <summary>
/// A UDP socket (from a socket factory, so in a test namespace) that sends datagrams as given — calls, garbage,
/// oversize — and reads whatever datagrams come back, with their senders.
/// </summary>
public sealed class UdpRpcPeer : IDisposable
{
    private readonly byte[] _buffer = new byte[64 * 1024];

    public UdpRpcPeer(ISocketFactory sockets, IPAddress? address = null)
    {
        Socket = sockets.BindUdp(new IPEndPoint(address ?? IPAddress.Loopback, 0));
    }

    public Socket Socket { get; }
    public IPEndPoint LocalEndPoint => (IPEndPoint)Socket.LocalEndPoint!;

    public async Task SendAsync(byte[] datagram, IPEndPoint to) =>
        Assert.Equal(datagram.Length, await Socket.SendToAsync(datagram, SocketFlags.None, to));

    /// <summary>The next datagram and its sender, or null when none arrives within <paramref name="wait"/>.</summary>
    public async Task<(byte[] Datagram, IPEndPoint From)?> ReceiveAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            var result = await Socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            return (_buffer.AsSpan(0, result.ReceivedBytes).ToArray(), (IPEndPoint)result.RemoteEndPoint);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Sends a call and returns the reply datagram; fails the test if none comes within 10 s or it is not the call's reply.</summary>
    public async Task<byte[]> CallAsync(byte[] call, IPEndPoint server)
    {
        await SendAsync(call, server);
        var reply = await ReceiveAsync(TimeSpan.FromSeconds(10)) ?? throw new InvalidOperationException($"no reply from {server} within 10 s");
        Assert.Equal(server, reply.From);
        // The first word is the call's XID: a datagram carries the message alone, no record marker (RFC 5531 §11).
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(call), BinaryPrimitives.ReadUInt32BigEndian(reply.Datagram));
        return reply.Datagram;
    }

    public void Dispose() => Socket.Dispose();
}
