using System.Collections.Concurrent;
using System.Net;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Protocols.Portmap;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;

namespace NfsNs.Client.Locking;

/// <summary>
/// The client side of NLM and NSM for one network namespace in this process: what lockd and rpc.statd are to a
/// kernel client, but per namespace, because each namespace is a host of its own to the servers it reaches.
/// </summary>
/// <remarks>
/// <para>
/// It listens, <em>in the namespace</em>, for the two calls servers make back to clients: NLM4_GRANTED (a blocked
/// LOCK can now be granted; RFC 1813 appendix II, XNFS 10) and SM_NOTIFY (a server restarted and its locks must be
/// reclaimed; XNFS 11). Servers find those listeners through the rpcbind on the client's address, so the agent
/// registers NLM v4 and NSM v1 with the namespace's rpcbind at 127.0.0.1:111 — or, when the namespace has no
/// portmapper at all (a fresh container namespace), serves one itself on port 111.
/// </para>
/// <para>
/// It listens on TCP and on UDP, and registers both, because status monitors speak UDP: a Linux server's
/// sm-notify asks the client's portmapper for NSM over UDP (portmap v2 GETPORT, IPPROTO_UDP, itself sent over UDP to
/// port 111) and sends SM_NOTIFY over UDP; rpc.statd calls lock managers back over UDP too. An agent on TCP only
/// would never hear that such a server rebooted. Its own portmapper answers on UDP 111 as well, for the same reason.
/// </para>
/// <para>
/// Only one lock manager per namespace can be registered. When another one holds the registration and answers
/// (an NFS server with NLM in the same namespace, or another NfsNs process), this agent does not take it over:
/// its blocked locks then fall back to polling, as Linux's client also re-sends a blocked LOCK periodically.
/// </para>
/// <para>
/// Its NSM state number (odd, persisted in <see cref="NsmStateStore"/>) is the namespace's, shared by every NfsNs
/// process in it: the first process to start after all others ended counts as a reboot of the "host" and moves the
/// state on, and tells the servers recorded from the previous run (SM_NOTIFY) so that they drop locks nobody holds.
/// </para>
/// </remarks>
public sealed class NlmClientAgent : IAsyncDisposable
{
    /// <summary>The private procedure our in-process monitor "calls back" (as statd's my_id); only for SM_MON records.</summary>
    private const int StatusCallbackProcedure = 16;

    private readonly NetworkNamespace _namespace;
    private readonly NamespaceSocketFactory _sockets;
    private readonly RpcServer _server;
    private readonly Action<string>? _log;
    private readonly NsmStateStore _store;
    private readonly FileStream? _hostLock;
    private readonly ConcurrentDictionary<GrantKey, TaskCompletionSource<bool>> _pendingGrants = new();
    private readonly ConcurrentDictionary<NfsLockClient, byte> _monitored = new();
    private RpcbindRegistration? _registration;

    private NlmClientAgent(NetworkNamespace ns, NamespaceSocketFactory sockets, RpcServer server, NsmStateStore store, FileStream? hostLock,
        Action<string>? log)
    {
        _namespace = ns;
        _sockets = sockets;
        _server = server;
        _store = store;
        _hostLock = hostLock;
        _log = log;
    }

    /// <summary>The namespace this agent serves (its own reference).</summary>
    public NetworkNamespace Namespace => _namespace;

    /// <summary>This namespace's NSM state number, sent in every LOCK.</summary>
    public int State => _store.State;

    /// <summary>Where the call-back listener accepts NLM and NSM calls over TCP (wildcard address, ephemeral port).</summary>
    public IPEndPoint CallbackEndPoint { get; private set; } = null!;

    /// <summary>Where NLM and NSM calls are taken over UDP: the TCP listener's port number when it was free, else another.</summary>
    public IPEndPoint CallbackUdpEndPoint { get; private set; } = null!;

    /// <summary>
    /// Whether servers can reach our listeners through the namespace's rpcbind; when false, blocked locks are polled.
    /// </summary>
    public bool CallbacksRegistered { get; private set; }

    /// <summary>Whether this agent serves the namespace's portmapper itself (there was none): its TCP endpoint.</summary>
    public IPEndPoint? OwnPortmapper { get; private set; }

    /// <summary>The UDP endpoint of <see cref="OwnPortmapper"/> (null when there is none, or UDP 111 was taken).</summary>
    public IPEndPoint? OwnUdpPortmapper { get; private set; }

    /// <summary>Why call-backs are not registered, for messages and the mount table (null when they are).</summary>
    public string? CallbackProblem { get; private set; }

    /// <summary>GRANTED call-backs that ended a wait here, and SM_NOTIFY messages received.</summary>
    public long GrantedCallbacks => Interlocked.Read(ref _grantedCallbacks);
    public long Notifications => Interlocked.Read(ref _notifications);
    private long _grantedCallbacks, _notifications, _refusedGrants;

    /// <summary>GRANTED call-backs that matched no blocked request and were refused (so the server released them).</summary>
    public long RefusedGrants => Interlocked.Read(ref _refusedGrants);

    /// <summary>
    /// Starts the agent of <paramref name="ns"/> (the agent takes its own reference): listener, registration, NSM
    /// state. <paramref name="stateDirectory"/> null means <see cref="NsmStateStore.DefaultDirectory"/>.
    /// </summary>
    public static async Task<NlmClientAgent> StartAsync(NetworkNamespace ns, string? stateDirectory = null, Action<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        var own = ns.Clone();
        var sockets = new NamespaceSocketFactory(own);
        RpcServer? server = null;
        FileStream? hostLock = null;
        try
        {
            string directory = stateDirectory ?? NsmStateStore.DefaultDirectory("client", own.Name, own.Id.Inode);
            var store = OpenStore(directory, configuredBy: stateDirectory is null ? "NFSNS_STATE_DIR" : nameof(NfsMountOptions.LockStateDirectory));
            hostLock = OpenHostLock(directory, out bool firstProcess);
            var previous = store.Monitored;
            if (firstProcess || store.State == 0) store.Restart();
            // The listener's own chatter ("listening on …") is not a warning; our log is only for problems.
            server = new RpcServer(sockets, RpcServerOptions.Default);
            var agent = new NlmClientAgent(own, sockets, server, store, hostLock, log);
            server.Register(agent.CreateNlmProgram());
            server.Register(agent.CreateNsmProgram());
            agent.CallbackEndPoint = server.Listen(new IPEndPoint(IPAddress.Any, 0));
            agent.CallbackUdpEndPoint = agent.ListenUdp(agent.CallbackEndPoint.Port);
            await agent.RegisterCallbacksAsync(cancellationToken).ConfigureAwait(false);
            if (firstProcess && previous.Count > 0) agent.NotifyPreviousServers(previous);
            return agent;
        }
        catch
        {
            if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
            hostLock?.Dispose();
            own.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The namespace's NSM state. Without it no lock is taken (as a kernel client without rpc.statd): a client that
    /// cannot count its restarts cannot tell servers to drop the locks of its processes that died.
    /// </summary>
    private static NsmStateStore OpenStore(string directory, string configuredBy)
    {
        try
        {
            return NsmStateStore.Open(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new NfsLockException($"cannot use the lock state directory {directory} (set {configuredBy} to a writable directory): {e.Message}", e);
        }
    }

    /// <summary>
    /// A shared lock on <c>host.lock</c> marks "an NfsNs process is alive in this namespace"; whoever can take it
    /// exclusively first is the first since all others ended — the namespace's client "rebooted".
    /// </summary>
    private static FileStream? OpenHostLock(string directory, out bool firstProcess)
    {
        firstProcess = true;
        try
        {
            var file = new FileStream(Path.Combine(directory, "host.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
            firstProcess = HostLock.TryExclusiveThenShared(file.SafeFileHandle);
            return file;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    // ---- registration --------------------------------------------------------------------------------------------

    private static readonly IPEndPoint LocalRpcbind = new(IPAddress.Loopback, PortmapProtocol.Port);

    /// <summary>UDP on <paramref name="port"/> when that number is free for UDP too (one port to find in a capture), else any.</summary>
    private IPEndPoint ListenUdp(int port)
    {
        try
        {
            return _server.ListenUdp(new IPEndPoint(IPAddress.Any, port));
        }
        catch (IOException)
        {
            return _server.ListenUdp(new IPEndPoint(IPAddress.Any, 0));
        }
    }

    private async Task RegisterCallbacksAsync(CancellationToken cancellationToken)
    {
        var services = new List<RpcService>();
        var problems = new List<string>();
        bool rpcbindAnswers = true;
        foreach (var (program, version) in new[] { (Nlm4.Program, Nlm4.Version), (Nsm.Program, Nsm.Version) })
        {
            switch (await ProbeRegistrationAsync(program, version, cancellationToken).ConfigureAwait(false))
            {
                case RegistrationState.NoRpcbind:
                    rpcbindAnswers = false;
                    services.Add(new RpcService(program, version, CallbackEndPoint));
                    services.Add(new RpcService(program, version, CallbackUdpEndPoint, RpcTransport.Udp));
                    break;
                case RegistrationState.Free:
                    services.Add(new RpcService(program, version, CallbackEndPoint));
                    services.Add(new RpcService(program, version, CallbackUdpEndPoint, RpcTransport.Udp));
                    break;
                case RegistrationState.HeldByLiveService:
                    problems.Add($"{RpcPrograms.Describe(program, version)} is already registered with rpcbind in {_namespace} by a live service (an NFS server or another client in the same namespace)");
                    break;
            }
        }
        try
        {
            if (!rpcbindAnswers)
            {
                var portmap = new PortmapServer();
                _server.Register(portmap);
                OwnPortmapper = _server.Listen(new IPEndPoint(IPAddress.Any, PortmapProtocol.Port));
                portmap.Registry.RegisterPortmapper(OwnPortmapper);
                try
                {
                    OwnUdpPortmapper = _server.ListenUdp(new IPEndPoint(IPAddress.Any, PortmapProtocol.Port));
                    portmap.Registry.RegisterPortmapper(OwnUdpPortmapper, udp: true);
                }
                catch (IOException e)
                {
                    // TCP 111 was free but UDP 111 is not: GRANTED over TCP still reaches us; reboot notices will not.
                    _log?.Invoke($"the lock agent's portmapper in {_namespace} answers on TCP only: {e.Message}");
                }
                foreach (var service in services)
                    portmap.Registry.Register(service.Program, service.Version, service.EndPoint, service.Transport == RpcTransport.Udp);
            }
            else if (services.Count > 0)
            {
                _registration = await RpcbindRegistration.RegisterAsync(_sockets, LocalRpcbind, services, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is RpcException or System.Net.Sockets.SocketException or IOException)
        {
            // E.g. a server in this namespace that serves its portmapper on another of its addresses: port 111 is
            // taken on the wildcard, yet 127.0.0.1:111 does not answer. Locking still works, by polling.
            problems.Add($"cannot register the lock call-backs in {_namespace}: {e.Message}");
            services.Clear();
        }
        CallbacksRegistered = services.Any(s => s.Program == Nlm4.Program);
        // Not a warning: polling is the normal case in a namespace shared with a server or another client. The mount
        // table and --stats say it.
        CallbackProblem = problems.Count == 0 ? null : string.Join("; ", problems);
    }

    private enum RegistrationState { NoRpcbind, Free, HeldByLiveService }

    private async Task<RegistrationState> ProbeRegistrationAsync(uint program, uint version, CancellationToken cancellationToken)
    {
        int port;
        try
        {
            port = await RpcBinder.GetPortAsync(_sockets, LocalRpcbind, program, version, ProbeOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcProgramNotRegisteredException)
        {
            return RegistrationState.Free;
        }
        catch (RpcException)
        {
            return RegistrationState.NoRpcbind;
        }
        // Registered: a live service keeps it; a stale entry (its process died) is ours to replace.
        try
        {
            await using var probe = new RpcConnection(_sockets, new IPEndPoint(IPAddress.Loopback, port), ProbeOptions);
            await probe.CallAsync(program, version, 0, RpcCredentials.None, XdrVoid.Value, XdrVoid.Read, cancellationToken).ConfigureAwait(false);
            return RegistrationState.HeldByLiveService;
        }
        catch (RpcException)
        {
            return RegistrationState.Free;
        }
    }

    private static readonly RpcConnectionOptions ProbeOptions = new()
    {
        Timeout = TimeSpan.FromSeconds(2), Retransmits = 0, Hard = false, Reconnect = false,
    };

    // ---- NLM call-backs ------------------------------------------------------------------------------------------

    /// <summary>What identifies a blocked request in a GRANTED call-back: the lock as it was sent, and its server.</summary>
    private readonly record struct GrantKey(IPAddress Server, NetObj FileHandle, NetObj Owner, int Svid, ulong Offset, ulong Length, bool Exclusive);

    private static GrantKey KeyOf(IPAddress server, Nlm4Lock alock, bool exclusive) =>
        new(Normalize(server), alock.FileHandle, alock.OwnerHandle, alock.Svid, alock.Offset, alock.Length, exclusive);

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>
    /// Registers interest in a GRANTED call-back for <paramref name="alock"/> from <paramref name="server"/>; the
    /// task completes when it arrives. Dispose the result when no longer waiting, so a late GRANTED is refused (and
    /// the server releases the lock instead of holding it for nobody).
    /// </summary>
    internal PendingGrant ExpectGrant(IPAddress server, Nlm4Lock alock, bool exclusive)
    {
        var key = KeyOf(server, alock, exclusive);
        var completion = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingGrants[key] = completion;
        return new PendingGrant(this, key, completion);
    }

    internal sealed class PendingGrant(NlmClientAgent agent, object key, TaskCompletionSource<bool> completion) : IDisposable
    {
        public Task Granted => completion.Task;

        /// <summary>
        /// Stops waiting: a GRANTED from now on is refused. True when one was accepted before (the lock is ours at
        /// the server, so the caller must release it if it does not keep it).
        /// </summary>
        public async Task<bool> WithdrawAsync()
        {
            if (Remove()) return false;
            // A GRANTED took the entry and is completing it (or another wait for the same lock replaced it).
            await Task.WhenAny(completion.Task, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            return completion.Task.IsCompletedSuccessfully;
        }

        private bool Remove() => agent._pendingGrants.TryRemove(new KeyValuePair<GrantKey, TaskCompletionSource<bool>>((GrantKey)key, completion));

        public void Dispose() => Remove();
    }

    private RpcProgram CreateNlmProgram() => new RpcProgram(Nlm4.Program)
        .On(Nlm4.Version, (uint)Nlm4Procedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
        .On(Nlm4.Version, (uint)Nlm4Procedure.Granted, Nlm4TestArgs.Read, (call, args, _) =>
        {
            new Nlm4Result(args.Cookie, Grant(call, args)).Write(call.Results);
            return RpcReplyStatus.SuccessTask;
        })
        .On(Nlm4.Version, (uint)Nlm4Procedure.GrantedMsg, Nlm4TestArgs.Read, (call, args, cancellationToken) =>
        {
            // The message form (what ganesha sends) has no reply of its own: the answer goes back as a GRANTED_RES
            // call to the server's lock manager. A refusal there is what makes the server release a lock nobody
            // waits for any more; without one it would keep it granted.
            var status = Grant(call, args);
            var server = Normalize(call.RemoteEndPoint.Address);
            if (_clients.Keys.FirstOrDefault(c => c.ServerAddress.Equals(server)) is { } client)
                _ = client.SendGrantedResultAsync(new Nlm4Result(args.Cookie, status));
            return RpcReplyStatus.SuccessTask;
        });

    private readonly ConcurrentDictionary<NfsLockClient, byte> _clients = new();

    /// <summary>Lock clients of this namespace, so that message-form call-backs can be answered through them.</summary>
    internal void Attach(NfsLockClient client) => _clients.TryAdd(client, 0);

    internal void Detach(NfsLockClient client) => _clients.TryRemove(client, out _);

    private Nlm4Status Grant(RpcCallContext call, Nlm4TestArgs args)
    {
        if (_pendingGrants.TryRemove(KeyOf(call.RemoteEndPoint.Address, args.Lock, args.Exclusive), out var completion))
        {
            Interlocked.Increment(ref _grantedCallbacks);
            completion.TrySetResult(true);
            return Nlm4Status.Granted;
        }
        // XNFS 10: a client that no longer waits for the lock refuses the grant, so the server releases it.
        Interlocked.Increment(ref _refusedGrants);
        return Nlm4Status.Denied;
    }

    // ---- NSM -----------------------------------------------------------------------------------------------------

    /// <summary>SM_MON, in process: <paramref name="client"/>'s server is recorded so that its restart reaches it.</summary>
    internal void Monitor(NfsLockClient client)
    {
        if (_monitored.TryAdd(client, 0))
        {
            try
            {
                _store.AddMonitored(client.ServerName);
            }
            catch (IOException e)
            {
                _log?.Invoke($"cannot record monitored server {client.ServerName} in {_store.Directory}: {e.Message}");
            }
        }
    }

    /// <summary>
    /// SM_UNMON, in process: the server is forgotten once no lock client of it remains — unless
    /// <paramref name="forget"/> is false (it may still hold a lock of ours), so that the next start tells it.
    /// </summary>
    internal void Unmonitor(NfsLockClient client, bool forget = true)
    {
        if (!_monitored.TryRemove(client, out _)) return;
        if (!forget || _monitored.Keys.Any(c => c.ServerName == client.ServerName)) return;
        try
        {
            _store.RemoveMonitored(client.ServerName);
        }
        catch (IOException)
        {
        }
    }

    private RpcProgram CreateNsmProgram() => new RpcProgram(Nsm.Program)
        .On(Nsm.Version, (uint)NsmProcedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
        .On(Nsm.Version, (uint)NsmProcedure.Notify, StatChange.Read, (call, change, _) =>
        {
            Interlocked.Increment(ref _notifications);
            var from = Normalize(call.RemoteEndPoint.Address);
            // Only what we act on is told: anyone in the namespace can send notices, and their echo must not flood
            // the user's terminal.
            int reclaiming = _monitored.Keys.Where(c => c.IsServer(from)).Count(c => c.ServerRestarted(change.State));
            if (reclaiming > 0)
                _log?.Invoke($"SM_NOTIFY from {call.RemoteEndPoint}: {change.MonName} restarted (state {change.State}); " +
                    $"reclaiming the locks of {reclaiming} server connection(s)");
            return RpcReplyStatus.SuccessTask;
        });

    /// <summary>
    /// After a "reboot" of this namespace's client: tell every server recorded by the previous run that we
    /// restarted (SM_NOTIFY with the new state), so it drops the locks of processes that no longer exist. Best
    /// effort, in the background: a few attempts per server with a doubling pause.
    /// </summary>
    private void NotifyPreviousServers(IReadOnlyList<(string Peer, int State)> previous)
    {
        int state = _store.State;
        foreach (var (peer, _) in previous)
        {
            if (!IPAddress.TryParse(peer, out var address)) continue;
            _notices[Normalize(address)] = Task.Run(() => NotifyAsync(peer, address, state));
        }
    }

    private readonly ConcurrentDictionary<IPAddress, Task> _notices = new();

    /// <summary>
    /// Before our first LOCK to <paramref name="server"/>: a server that saw our new state in a LOCK first would take
    /// the restart notice for old news and keep the dead process's locks, so its notice (if it has one) goes first —
    /// waited for a little, then left to go on behind. Servers we do not lock with now never hold us up.
    /// </summary>
    internal async Task WaitForNoticeAsync(IPAddress server, CancellationToken cancellationToken)
    {
        if (!_notices.TryGetValue(Normalize(server), out var notice)) return;
        await Task.WhenAny(notice, Task.Delay(NoticeWait, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>How long a first LOCK waits for the restart notice to its server.</summary>
    private static readonly TimeSpan NoticeWait = TimeSpan.FromSeconds(10);

    /// <summary>Attempts at telling one server of our restart, and the pause before the first retry (doubling).</summary>
    private const int NotifyAttempts = 5;
    private static readonly TimeSpan NotifyFirstRetry = TimeSpan.FromSeconds(1);

    private static readonly RpcConnectionOptions NotifyOptions = new()
    {
        Timeout = TimeSpan.FromSeconds(5), Retransmits = 1, Hard = false, Reconnect = false,
    };

    private async Task NotifyAsync(string peer, IPAddress address, int state)
    {
        var pause = NotifyFirstRetry;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                int port = await RpcBinder.GetPortAsync(_sockets, new IPEndPoint(address, PortmapProtocol.Port), Nsm.Program, Nsm.Version,
                    NotifyOptions, CancellationToken.None).ConfigureAwait(false);
                await using var connection = new RpcConnection(_sockets, new IPEndPoint(address, port), NotifyOptions);
                var nsm = new NsmClient(new RpcProgramClient(connection, Nsm.Program, Nsm.Version, RpcCredentials.None));
                await nsm.NullAsync().ConfigureAwait(false);
                // mon_name: the name the server knew us by — our address as the server sees it (our caller_name).
                string myName = connection.LocalEndPoint is IPEndPoint local ? Normalize(local.Address).ToString() : peer;
                await nsm.NotifyAsync(myName, state).ConfigureAwait(false);
                _store.RemoveMonitored(peer);
                return;
            }
            catch (Exception e) when (e is RpcException or IOException or System.Net.Sockets.SocketException)
            {
                if (attempt == NotifyAttempts || _disposed)
                {
                    _log?.Invoke($"could not tell {peer} (through {_namespace}) that this client restarted: {e.Message}; " +
                        "locks of processes that died may stay held there until that server restarts");
                    return;
                }
            }
            await Task.Delay(pause).ConfigureAwait(false);
            pause *= 2;
        }
    }

    private volatile bool _disposed;

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        foreach (var pending in _pendingGrants.Values) pending.TrySetCanceled();
        if (Interlocked.Exchange(ref _registration, null) is { } registration)
        {
            try
            {
                await registration.UnregisterAsync().ConfigureAwait(false);
            }
            catch (RpcException e)
            {
                _log?.Invoke($"could not unregister the lock call-backs: {e.Message}");
            }
        }
        await _server.DisposeAsync().ConfigureAwait(false);
        _hostLock?.Dispose();
        _namespace.Dispose();
    }

    public override string ToString() =>
        $"NLM client agent in {_namespace} (call-backs {(CallbacksRegistered ? $"at TCP {CallbackEndPoint} and UDP {CallbackUdpEndPoint}" : "polled")}, NSM state {State})";
}
