using System.Net;
using NfsNs.Namespaces;
using NfsNs.Rpc;

namespace NfsNs.Client;

/// <summary>
/// What makes two mounts share a connection: the namespace's identity (not its name: a name can be deleted or
/// reused, and two names can point at one namespace), the server's address and port, the NFS version, the security
/// flavour, and the retry policy (a soft and a hard mount must not share one transport's give-up rule). The same
/// address through another namespace is another key, so it shares nothing.
/// </summary>
public readonly record struct NfsServerKey(
    NamespaceId Namespace, IPEndPoint Server, uint Version, RpcAuthFlavor Flavor, bool Hard, TimeSpan Timeout, int Retransmits,
    int NConnect = 1)
{
    public override string ToString() =>
        $"{Server} v{Version} {Flavor} {(Hard ? "hard" : "soft")}{(NConnect > 1 ? $" nconnect={NConnect}" : "")} in {Namespace}";
}

/// <summary>
/// One NFS server as seen through one namespace: the transport every mount of it shares, and (later) the NFSv4
/// client ID and lease, NLM host state and NSM monitoring. Reference-counted by <see cref="NfsClientRegistry"/>:
/// the last mount released closes the connection and drops the namespace reference.
/// </summary>
public sealed class NfsServerConnection
{
    private static long s_nextId;

    private int _next;

    internal NfsServerConnection(NfsServerKey key, NetworkNamespace ns, IReadOnlyList<RpcConnection> transports)
    {
        Id = Interlocked.Increment(ref s_nextId);
        Key = key;
        Namespace = ns;
        Transports = transports;
    }

    /// <summary>The sharing group number shown in the mount table.</summary>
    public long Id { get; }
    public NfsServerKey Key { get; }
    public NetworkNamespace Namespace { get; }
    /// <summary>The TCP connections of this server (<c>nconnect</c> of them); calls go round-robin.</summary>
    public IReadOnlyList<RpcConnection> Transports { get; }

    /// <summary>The first transport: the one for single-connection use (probes, tests, messages).</summary>
    public RpcConnection Rpc => Transports[0];

    /// <summary>The transport for the next call.</summary>
    internal RpcConnection NextTransport() =>
        Transports.Count == 1 ? Transports[0] : Transports[(int)((uint)Interlocked.Increment(ref _next) % (uint)Transports.Count)];

    /// <summary>Per-procedure counters summed over every transport.</summary>
    public IReadOnlyList<RpcProcedureStats> Procedures => Transports.Count == 1
        ? Transports[0].Stats.Procedures
        : Transports.SelectMany(t => t.Stats.Procedures)
            .GroupBy(p => (p.Program, p.Version, p.Procedure))
            .Select(g => new RpcProcedureStats(g.Key.Program, g.Key.Version, g.Key.Procedure,
                g.Sum(p => p.Calls), g.Sum(p => p.Errors), g.Sum(p => p.Retransmits), g.Sum(p => p.BytesSent), g.Sum(p => p.BytesReceived),
                g.Sum(p => p.Calls) == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(g.Sum(p => p.AverageRoundTrip.Ticks * p.Calls) / g.Sum(p => p.Calls)),
                g.Max(p => p.MaxRoundTrip)))
            .OrderBy(p => p.Program).ThenBy(p => p.Procedure)
            .ToList();

    /// <summary>Mounts holding this connection; guarded by the registry's lock.</summary>
    internal int References;

    private readonly SemaphoreSlim _lockClientGate = new(1, 1);
    private Locking.NfsLockClient? _lockClient;

    /// <summary>The NLM client of this server, once a lock was taken through it (null before).</summary>
    public Locking.NfsLockClient? LockClient => Volatile.Read(ref _lockClient);

    /// <summary>
    /// The NLM client of this server, started on first use: it finds the server's lock manager through rpcbind in
    /// this connection's namespace and joins the namespace's <see cref="Locking.NlmClientAgent"/>.
    /// </summary>
    internal async Task<Locking.NfsLockClient> GetLockClientAsync(NfsClientRegistry registry, NfsMountOptions options, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _lockClient) is { } existing) return existing;
        await _lockClientGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lockClient is { } raced) return raced;
            var agent = await registry.AcquireAgentAsync(Namespace, options, cancellationToken).ConfigureAwait(false);
            try
            {
                var client = await Locking.NfsLockClient.StartAsync(this, agent, options, options.NlmPort, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _lockClient, client);
                return client;
            }
            catch
            {
                await registry.ReleaseAgentAsync(agent).ConfigureAwait(false);
                throw;
            }
        }
        finally
        {
            _lockClientGate.Release();
        }
    }

    internal async ValueTask CloseLockClientAsync(NfsClientRegistry registry)
    {
        if (Interlocked.Exchange(ref _lockClient, null) is not { } client) return;
        await client.DisposeAsync().ConfigureAwait(false);
        await registry.ReleaseAgentAsync(client.Agent).ConfigureAwait(false);
    }

    /// <summary>The file systems mounted through this connection, by fsid; guarded by the registry's lock.</summary>
    internal Dictionary<ulong, NfsVolume> Volumes { get; } = [];

    public override string ToString() => $"server connection #{Id} to {Key}";
}

/// <summary>
/// The process's table of server connections and mounts. Mounts look their connection up here by
/// <see cref="NfsServerKey"/>; the namespace is part of the key, which is the whole point.
/// </summary>
public sealed class NfsClientRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<NfsServerKey, NfsServerConnection> _connections = [];
    private readonly List<NfsMount> _mounts = [];

    /// <summary>The registry every <see cref="NfsMount"/> uses unless told otherwise.</summary>
    public static NfsClientRegistry Shared { get; } = new();

    /// <param name="time">The clock of the volumes' attribute caches (tests pass their own).</param>
    /// <param name="volumeCacheCapacity">Entries each cache of a volume holds (attributes; LOOKUP results).</param>
    public NfsClientRegistry(TimeProvider? time = null, int volumeCacheCapacity = NfsVolume.DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(volumeCacheCapacity, 1);
        Time = time ?? TimeProvider.System;
        VolumeCacheCapacity = volumeCacheCapacity;
    }

    public TimeProvider Time { get; }
    public int VolumeCacheCapacity { get; }

    /// <summary>
    /// The connection for <paramref name="key"/>, created with <paramref name="create"/> when there is none. The
    /// caller passes a namespace it owns; when an existing connection is shared, that namespace is disposed here.
    /// </summary>
    internal NfsServerConnection Acquire(NfsServerKey key, NetworkNamespace ns, Func<NetworkNamespace, IReadOnlyList<RpcConnection>> create)
    {
        lock (_lock)
        {
            if (_connections.TryGetValue(key, out var existing))
            {
                existing.References++;
                ns.Dispose();
                return existing;
            }
            var connection = new NfsServerConnection(key, ns, create(ns)) { References = 1 };
            _connections.Add(key, connection);
            return connection;
        }
    }

    /// <summary>Drops one reference; the last one closes the transport and the namespace.</summary>
    internal async ValueTask ReleaseAsync(NfsServerConnection connection)
    {
        lock (_lock)
        {
            if (--connection.References > 0) return;
            _connections.Remove(connection.Key);
        }
        await connection.CloseLockClientAsync(this).ConfigureAwait(false);
        foreach (var transport in connection.Transports) await transport.DisposeAsync().ConfigureAwait(false);
        connection.Namespace.Dispose();
    }

    private readonly SemaphoreSlim _agentGate = new(1, 1);
    private readonly Dictionary<NamespaceId, (Locking.NlmClientAgent Agent, int References)> _agents = [];

    /// <summary>The lock agent of a namespace (one per namespace in this registry), started on first use.</summary>
    internal async Task<Locking.NlmClientAgent> AcquireAgentAsync(NetworkNamespace ns, NfsMountOptions options, CancellationToken cancellationToken)
    {
        await _agentGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_agents.TryGetValue(ns.Id, out var entry))
            {
                _agents[ns.Id] = (entry.Agent, entry.References + 1);
                return entry.Agent;
            }
            var agent = await Locking.NlmClientAgent.StartAsync(ns, options.LockStateDirectory, options.Warn, cancellationToken).ConfigureAwait(false);
            _agents[ns.Id] = (agent, 1);
            return agent;
        }
        finally
        {
            _agentGate.Release();
        }
    }

    internal async ValueTask ReleaseAgentAsync(Locking.NlmClientAgent agent)
    {
        await _agentGate.WaitAsync().ConfigureAwait(false);
        try
        {
            var id = agent.Namespace.Id;
            if (!_agents.TryGetValue(id, out var entry) || entry.Agent != agent) return;
            if (entry.References > 1)
            {
                _agents[id] = (agent, entry.References - 1);
                return;
            }
            _agents.Remove(id);
        }
        finally
        {
            _agentGate.Release();
        }
        await agent.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The lock agents running now, one per namespace that has taken a lock.</summary>
    public IReadOnlyList<Locking.NlmClientAgent> LockAgents
    {
        get
        {
            _agentGate.Wait();
            try { return [.. _agents.Values.Select(e => e.Agent)]; }
            finally { _agentGate.Release(); }
        }
    }

    /// <summary>
    /// The volume of file system <paramref name="fsid"/> reached through <paramref name="server"/> (which the caller
    /// holds a reference to), created when there is none. Mounts of one file system through one connection share it,
    /// and so their caches; through another namespace the connection differs, and so does the volume.
    /// </summary>
    internal NfsVolume AcquireVolume(NfsServerConnection server, ulong fsid)
    {
        lock (_lock)
        {
            if (!server.Volumes.TryGetValue(fsid, out var volume))
            {
                volume = new NfsVolume(server, fsid, Time, VolumeCacheCapacity);
                server.Volumes.Add(fsid, volume);
            }
            volume.References++;
            return volume;
        }
    }

    /// <summary>Drops one reference; the last one forgets the volume and its caches.</summary>
    internal void ReleaseVolume(NfsVolume volume)
    {
        lock (_lock)
        {
            if (--volume.References > 0) return;
            volume.Server?.Volumes.Remove(volume.Fsid);
        }
        volume.Clear();
    }

    /// <summary>The live volumes of every connection.</summary>
    public IReadOnlyList<NfsVolume> Volumes
    {
        get { lock (_lock) return [.. _connections.Values.SelectMany(c => c.Volumes.Values)]; }
    }

    internal void Add(NfsMount mount)
    {
        lock (_lock) _mounts.Add(mount);
    }

    internal void Remove(NfsMount mount)
    {
        lock (_lock) _mounts.Remove(mount);
    }

    internal int MountsSharing(NfsServerConnection connection)
    {
        lock (_lock) return connection.References;
    }

    public IReadOnlyList<NfsServerConnection> Connections
    {
        get { lock (_lock) return [.. _connections.Values]; }
    }

    /// <summary>What is mounted where, now: one row per live mount (see <see cref="NfsMountInfo"/>).</summary>
    public IReadOnlyList<NfsMountInfo> MountTable()
    {
        NfsMount[] mounts;
        lock (_lock) mounts = [.. _mounts];
        return mounts.Select(m => m.Describe()).ToList();
    }
}

/// <summary>
/// One row of the mount table: where a mount goes, through which namespace, and how it has been doing.
/// <see cref="Connection"/> is the first transport's; <see cref="Procedures"/> sums every transport of the group.
/// <see cref="Volume"/> is the number of the <see cref="NfsVolume"/> (file system <see cref="Fsid"/>) whose caches the
/// mount shares, and <see cref="Cache"/> that volume's counters, summed over every mount sharing it.
/// </summary>
public sealed record NfsMountInfo(
    long MountId,
    string Url,
    string Export,
    ulong NamespaceInode,
    string? NamespaceName,
    string? LocalAddress,
    string RemoteAddress,
    string Protocol,
    uint Version,
    long SharingGroup,
    int MountsInGroup,
    int Connections,
    RpcConnectionStats Connection,
    IReadOnlyList<RpcProcedureStats> Procedures,
    long Volume,
    ulong Fsid,
    NfsCacheStats Cache,
    NfsLockInfo? Locking = null);

/// <summary>
/// The locking side of a mount-table row, once a lock was taken through its server connection: where NLM goes, the
/// name we lock under, where call-backs come in (all in the mount's namespace) and how locking has gone.
/// </summary>
public sealed record NfsLockInfo(
    string NlmServer,
    string? NlmLocal,
    string CallerName,
    int HeldLocks,
    bool CallbacksRegistered,
    string CallbackEndPoint,
    string? CallbackProblem,
    int NsmState,
    long GrantedCallbacks,
    int Reclaims,
    int LostLocks);
