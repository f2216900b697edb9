using System.Net;

namespace NfsNs.Rpc.Server;

/// <summary>
/// Counters of a server, or of one client address (<see cref="RpcServer.Clients"/>). Updated atomically; reading
/// several of them is not one snapshot.
/// </summary>
public sealed class RpcServerStats
{
    internal long CallsCount, ErrorsCount, DuplicatesCount, DroppedCount, ConnectionsCount, BytesReceivedCount, BytesSentCount;

    /// <summary>Call records received (including ones answered with an error).</summary>
    public long Calls => Volatile.Read(ref CallsCount);
    /// <summary>Calls answered with anything but SUCCESS (PROG_UNAVAIL, GARBAGE_ARGS, AUTH_ERROR, …).</summary>
    public long Errors => Volatile.Read(ref ErrorsCount);
    /// <summary>Retransmissions answered from the duplicate request cache.</summary>
    public long Duplicates => Volatile.Read(ref DuplicatesCount);
    /// <summary>Records not answered: replies sent to the server, unreadable headers, dropped calls.</summary>
    public long Dropped => Volatile.Read(ref DroppedCount);
    /// <summary>Connections accepted.</summary>
    public long Connections => Volatile.Read(ref ConnectionsCount);
    public long BytesReceived => Volatile.Read(ref BytesReceivedCount);
    public long BytesSent => Volatile.Read(ref BytesSentCount);

    public override string ToString() =>
        $"calls={Calls} errors={Errors} duplicates={Duplicates} dropped={Dropped} connections={Connections} " +
        $"received={BytesReceived} sent={BytesSent}";
}

/// <summary>One row of the per-client table: a client address and its counters.</summary>
public readonly record struct RpcClientStats(IPAddress Address, RpcServerStats Stats);
