using NfsNs.Client;
using NfsNs.Rpc;

namespace NfsNs.Cli.Output;

/// <summary>
/// Collects the mount-table row of every mount a command makes, at the moment it unmounts (when its counters are
/// final), and prints them for <c>--stats</c>: server, export, namespace inode and name, addresses, sharing group,
/// the volume and its cache hits and misses, and per-procedure calls, errors, retransmits, bytes and round-trip times,
/// like mountstats.
/// </summary>
internal sealed class MountStatistics : IDisposable
{
    private static readonly AsyncLocal<MountStatistics?> s_current = new();
    private readonly List<NfsMountInfo> _rows = [];

    public static MountStatistics Start() => s_current.Value = new MountStatistics();

    /// <summary>Called by the commands for every mount they make; a no-op unless <c>--stats</c> was given.</summary>
    public static void Watch(NfsMount mount)
    {
        var current = s_current.Value;
        if (current is null) return;
        mount.Unmounting += m =>
        {
            lock (current._rows) current._rows.Add(m.Describe());
        };
    }

    public void Print(TextWriter output, bool json)
    {
        List<NfsMountInfo> rows;
        lock (_rows) rows = [.. _rows];
        if (json)
        {
            Json.Write(output, rows.Select(r => new
            {
                mountId = r.MountId, url = r.Url, export = r.Export,
                @namespace = new { inode = r.NamespaceInode, name = r.NamespaceName },
                localAddress = r.LocalAddress, remoteAddress = r.RemoteAddress, protocol = r.Protocol, version = r.Version,
                sharingGroup = r.SharingGroup, mountsInGroup = r.MountsInGroup, connections = r.Connections,
                connection = new { calls = r.Connection.Calls, retransmits = r.Connection.Retransmits, connects = r.Connection.Connects,
                    reconnects = r.Connection.Reconnects, timeouts = r.Connection.Timeouts, bytesSent = r.Connection.BytesSent, bytesReceived = r.Connection.BytesReceived },
                locking = r.Locking is not { } l ? null : new
                {
                    nlmServer = l.NlmServer, nlmLocal = l.NlmLocal, callerName = l.CallerName, heldLocks = l.HeldLocks,
                    callbacksRegistered = l.CallbacksRegistered, callbackEndPoint = l.CallbackEndPoint, callbackProblem = l.CallbackProblem,
                    nsmState = l.NsmState, grantedCallbacks = l.GrantedCallbacks, reclaims = l.Reclaims, lostLocks = l.LostLocks,
                },
                volume = new { id = r.Volume, fsid = r.Fsid, attributeHits = r.Cache.AttributeHits, attributeMisses = r.Cache.AttributeMisses,
                    lookupHits = r.Cache.LookupHits, lookupMisses = r.Cache.LookupMisses, attributesCached = r.Cache.AttributesCached,
                    lookupsCached = r.Cache.LookupsCached, evictions = r.Cache.Evictions },
                procedures = r.Procedures.Select(p => new
                {
                    program = p.Program, version = p.Version, procedure = ProcedureName(p),
                    calls = p.Calls, errors = p.Errors, retransmits = p.Retransmits, bytesSent = p.BytesSent, bytesReceived = p.BytesReceived,
                    averageRttMs = Math.Round(p.AverageRoundTrip.TotalMilliseconds, 3), maxRttMs = Math.Round(p.MaxRoundTrip.TotalMilliseconds, 3),
                }),
            }).ToList());
            return;
        }
        foreach (var r in rows)
        {
            output.WriteLine($"mount {r.MountId}: {r.Url} export {r.Export} netns net:[{r.NamespaceInode}]{(r.NamespaceName is null ? "" : " (" + r.NamespaceName + ")")}");
            output.WriteLine($"  {r.Protocol} {r.LocalAddress ?? "-"} -> {r.RemoteAddress}, NFSv{r.Version}, sharing group {r.SharingGroup} ({r.MountsInGroup} mounts, {r.Connections} connection(s)); " +
                $"connects {r.Connection.Connects}, reconnects {r.Connection.Reconnects}, timeouts {r.Connection.Timeouts}");
            if (r.Locking is { } l)
                output.WriteLine($"  locking: NLM {l.NlmLocal ?? "-"} -> {l.NlmServer} as {l.CallerName}, {l.HeldLocks} held, NSM state {l.NsmState}, " +
                    $"call-backs {(l.CallbacksRegistered ? "at " + l.CallbackEndPoint : "polled (" + l.CallbackProblem + ")")}, " +
                    $"{l.GrantedCallbacks} granted, {l.Reclaims} reclaimed, {l.LostLocks} lost");
            output.WriteLine($"  volume {r.Volume} (fsid {r.Fsid:x}): attribute cache {r.Cache.AttributeHits} hits, {r.Cache.AttributeMisses} misses; " +
                $"lookup cache {r.Cache.LookupHits} hits, {r.Cache.LookupMisses} misses; {r.Cache.AttributesCached} attributes and " +
                $"{r.Cache.LookupsCached} names cached, {r.Cache.Evictions} evicted");
            output.WriteLine($"  {"procedure",-12} {"calls",8} {"errors",7} {"retrans",7} {"sent",12} {"received",12} {"avg ms",8} {"max ms",8}");
            foreach (var p in r.Procedures)
                output.WriteLine($"  {ProcedureName(p),-12} {p.Calls,8} {p.Errors,7} {p.Retransmits,7} {p.BytesSent,12} {p.BytesReceived,12} " +
                    $"{p.AverageRoundTrip.TotalMilliseconds,8:0.000} {p.MaxRoundTrip.TotalMilliseconds,8:0.000}");
        }
    }

    /// <summary>"READ" for NFS, "NLM LOCK" for the other programs a mount talks to.</summary>
    private static string ProcedureName(RpcProcedureStats p)
    {
        string name = RpcPrograms.ProcedureName(p.Program, p.Version, p.Procedure) ?? $"{p.Program}.{p.Procedure}";
        return p.Program == RpcPrograms.Nfs ? name : $"{RpcPrograms.Name(p.Program)} {name}";
    }

    public void Dispose() => s_current.Value = null;
}
