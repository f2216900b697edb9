using System.Collections.Concurrent;
using System.Diagnostics;

namespace NfsNs.Rpc;

/// <summary>
/// Counters of one procedure on one connection, in the spirit of Linux's /proc/self/mountstats per-op lines:
/// calls, errors, retransmissions, bytes each way and round-trip times.
/// </summary>
public sealed record RpcProcedureStats(
    uint Program, uint Version, uint Procedure,
    long Calls, long Errors, long Retransmits, long BytesSent, long BytesReceived,
    TimeSpan AverageRoundTrip, TimeSpan MaxRoundTrip);

/// <summary>The live, lock-free counters behind <see cref="RpcProcedureStats"/>.</summary>
internal sealed class RpcProcedureCounters
{
    private readonly ConcurrentDictionary<(uint Program, uint Version, uint Procedure), Counters> _table = new();

    private sealed class Counters
    {
        public long Calls, Errors, Retransmits, BytesSent, BytesReceived, TotalTicks, MaxTicks;
    }

    public void Record(uint program, uint version, uint procedure, int transmissions, long requestBytes, long replyBytes, long elapsedTicks, bool failed)
    {
        var c = _table.GetOrAdd((program, version, procedure), static _ => new Counters());
        Interlocked.Increment(ref c.Calls);
        if (failed) Interlocked.Increment(ref c.Errors);
        if (transmissions > 1) Interlocked.Add(ref c.Retransmits, transmissions - 1);
        Interlocked.Add(ref c.BytesSent, requestBytes * Math.Max(1, transmissions));
        Interlocked.Add(ref c.BytesReceived, replyBytes);
        Interlocked.Add(ref c.TotalTicks, elapsedTicks);
        long max;
        while (elapsedTicks > (max = Volatile.Read(ref c.MaxTicks)) && Interlocked.CompareExchange(ref c.MaxTicks, elapsedTicks, max) != max) { }
    }

    public IReadOnlyList<RpcProcedureStats> Snapshot() => _table
        .OrderBy(e => e.Key.Program).ThenBy(e => e.Key.Procedure)
        .Select(e =>
        {
            var c = e.Value;
            long calls = Volatile.Read(ref c.Calls);
            return new RpcProcedureStats(e.Key.Program, e.Key.Version, e.Key.Procedure, calls, Volatile.Read(ref c.Errors),
                Volatile.Read(ref c.Retransmits), Volatile.Read(ref c.BytesSent), Volatile.Read(ref c.BytesReceived),
                calls == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, Volatile.Read(ref c.TotalTicks) / calls),
                Stopwatch.GetElapsedTime(0, Volatile.Read(ref c.MaxTicks)));
        })
        .ToList();
}
