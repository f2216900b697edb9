namespace NfsNs.Rpc;

/// <summary>Counters of one <see cref="RpcConnection"/>, updated live (read them at any time from any thread).</summary>
public sealed class RpcConnectionStats
{
    internal long CallsCount, RepliesCount, RetransmitsCount, ConnectsCount, ReconnectsCount, ConnectFailuresCount,
        DisconnectsCount, TimeoutsCount, DroppedRepliesCount, BytesSentCount, BytesReceivedCount;

    /// <summary>Calls started.</summary>
    public long Calls => Volatile.Read(ref CallsCount);
    /// <summary>Replies matched to a pending call.</summary>
    public long Replies => Volatile.Read(ref RepliesCount);
    /// <summary>Calls sent again (same XID, same bytes) on a new connection.</summary>
    public long Retransmits => Volatile.Read(ref RetransmitsCount);
    /// <summary>Successful connects, the first one included.</summary>
    public long Connects => Volatile.Read(ref ConnectsCount);
    /// <summary>Successful connects after the first.</summary>
    public long Reconnects => Volatile.Read(ref ReconnectsCount);
    public long ConnectFailures => Volatile.Read(ref ConnectFailuresCount);
    /// <summary>Connections lost or closed because a call timed out.</summary>
    public long Disconnects => Volatile.Read(ref DisconnectsCount);
    /// <summary>Times a call's reply did not arrive within its timeout.</summary>
    public long Timeouts => Volatile.Read(ref TimeoutsCount);
    /// <summary>Records dropped: replies to unknown (finished or cancelled) XIDs, calls from the server, runt records.</summary>
    public long DroppedReplies => Volatile.Read(ref DroppedRepliesCount);
    public long BytesSent => Volatile.Read(ref BytesSentCount);
    public long BytesReceived => Volatile.Read(ref BytesReceivedCount);

    internal RpcProcedureCounters ProcedureCounters { get; } = new();

    /// <summary>Per-procedure counters (calls, errors, retransmits, bytes, average and maximum round trip).</summary>
    public IReadOnlyList<RpcProcedureStats> Procedures => ProcedureCounters.Snapshot();

    public override string ToString() =>
        $"calls={Calls} replies={Replies} retransmits={Retransmits} connects={Connects} reconnects={Reconnects} " +
        $"connect_failures={ConnectFailures} disconnects={Disconnects} timeouts={Timeouts} dropped={DroppedReplies} " +
        $"sent={BytesSent} received={BytesReceived}";
}
