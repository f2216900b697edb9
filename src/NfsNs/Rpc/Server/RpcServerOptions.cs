using System.Buffers;

namespace NfsNs.Rpc.Server;

/// <summary>Limits and hooks of an <see cref="RpcServer"/>.</summary>
public sealed record RpcServerOptions
{
    /// <summary>A 1 MiB WRITE plus its headers, like the client's default.</summary>
    public const int DefaultMaxRecordSize = RpcConnectionOptions.DefaultMaxRecordSize;

    public static RpcServerOptions Default { get; } = new();

    /// <summary>Largest call record accepted; a bigger one closes its connection before anything is allocated for it.</summary>
    public int MaxRecordSize { get; init; } = DefaultMaxRecordSize;

    /// <summary>Calls of one connection being served at once; at the cap the connection is not read (back-pressure).</summary>
    public int MaxInFlightPerConnection { get; init; } = 64;

    public int ListenBacklog { get; init; } = 128;

    /// <summary>
    /// Largest call datagram taken over UDP; a bigger one is dropped. 64 KiB holds any UDP payload (at most 65,507
    /// bytes over IPv4), so by default nothing that arrives is too big; the receive buffer is this size, once per socket.
    /// </summary>
    public int MaxDatagramSize { get; init; } = 64 * 1024;

    /// <summary>
    /// Calls from one UDP socket being served at once. A datagram arriving at the cap is dropped (counted in
    /// <see cref="RpcServerStats.Dropped"/>): UDP has no flow control to push back with, and RPC clients over UDP
    /// retransmit (RFC 5531 §8).
    /// </summary>
    public int MaxInFlightDatagrams { get; init; } = 64;

    /// <summary>How long shutdown waits for calls in progress before cancelling them and closing every connection.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Duplicate request cache bounds (see <see cref="DuplicateRequestCache"/>).</summary>
    public int DuplicateCacheEntries { get; init; } = 1024;
    public long DuplicateCacheBytes { get; init; } = 64L * 1024 * 1024;
    /// <summary>Replies larger than this are not kept (a retransmission of such a call runs again).</summary>
    public int DuplicateCacheMaxReplySize { get; init; } = 256 * 1024;

    /// <summary>
    /// A connection with no complete record received and no reply sent for this long, and no call in progress, is
    /// closed — idle clients and stalled half-records (slowloris) do not hold sockets forever. Linux's nfsd ages out
    /// idle TCP connections after about 6 minutes; clients reconnect transparently.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(6);

    /// <summary>Pool for received records and reply buffers.</summary>
    public ArrayPool<byte>? Pool { get; init; }

    /// <summary>One line per event worth knowing: connections closed for cause, handler failures, shutdown.</summary>
    public Action<string>? Log { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRecordSize, 64, nameof(MaxRecordSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxInFlightPerConnection, nameof(MaxInFlightPerConnection));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ListenBacklog, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDatagramSize, 64, nameof(MaxDatagramSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxDatagramSize, 64 * 1024, nameof(MaxDatagramSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxInFlightDatagrams, nameof(MaxInFlightDatagrams));
        ArgumentOutOfRangeException.ThrowIfLessThan(ShutdownTimeout, TimeSpan.Zero, nameof(ShutdownTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IdleTimeout, TimeSpan.Zero, nameof(IdleTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(DuplicateCacheEntries, nameof(DuplicateCacheEntries));
        ArgumentOutOfRangeException.ThrowIfNegative(DuplicateCacheBytes, nameof(DuplicateCacheBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(DuplicateCacheMaxReplySize, nameof(DuplicateCacheMaxReplySize));
    }
}
