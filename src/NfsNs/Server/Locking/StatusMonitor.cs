using System.Net;
using NfsNs.Protocols.Nsm;
using NfsNs.Xdr;

namespace NfsNs.Server.Locking;

/// <summary>
/// The server's network status monitor (XNFS chapter 11), in process with its lock manager — the work
/// <c>rpc.statd</c> and <c>sm-notify</c> do for Linux's lockd:
/// <list type="bullet">
/// <item>at start, the persisted state number moves to the next odd value (<see cref="NsmStateStore.Restart"/>), and
/// the clients monitored by the previous run are remembered as <see cref="PreviousClients"/>: they held locks when
/// the server went down, so they must be told (SM_NOTIFY) to reclaim them;</item>
/// <item>while running, every client that asks for a lock is monitored: its address and NSM state are persisted in
/// <c>sm/</c> before the lock is granted, so a crash can never leave a lock holder unknown.</item>
/// </list>
/// A state directory that does not exist yet is created only when the first client is monitored (with state 1):
/// a server that never serves a lock leaves nothing on disk, and one that did finds its directory at the next start.
/// </summary>
internal sealed class StatusMonitor
{
    private readonly string _directory;
    private NsmStateStore? _store;
    private readonly Action<string>? _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _monitored = new(StringComparer.Ordinal);
    private readonly HashSet<string> _announcedNames = new(StringComparer.Ordinal);

    public StatusMonitor(string directory, Action<string>? log)
    {
        _log = log;
        _directory = Path.GetFullPath(directory);
        if (System.IO.Directory.Exists(_directory))
        {
            _store = NsmStateStore.Open(_directory);
            PreviousClients = _store.Monitored;
            State = _store.Restart();
        }
        else
        {
            PreviousClients = [];
            State = 1;
        }
    }

    public string Directory => _directory;

    /// <summary>This run's NSM state number (odd).</summary>
    public int State { get; }

    /// <summary>The clients the previous run monitored, with their state numbers then.</summary>
    public IReadOnlyList<(string Peer, int State)> PreviousClients { get; }

    /// <summary>The clients monitored in this run and their last reported states.</summary>
    public IReadOnlyDictionary<string, int> Monitored
    {
        get { lock (_lock) return new Dictionary<string, int>(_monitored, StringComparer.Ordinal); }
    }

    /// <summary>
    /// Monitors <paramref name="peer"/> (a client address) at <paramref name="peerState"/>: persisted before it
    /// returns; nothing is written when that is already known. Throws <see cref="IOException"/> (or
    /// <see cref="UnauthorizedAccessException"/>) when the state directory cannot be written.
    /// </summary>
    public void Monitor(string peer, int peerState)
    {
        lock (_lock)
        {
            if (_monitored.TryGetValue(peer, out int known) && known == peerState) return;
            if (_store is null)
            {
                var created = NsmStateStore.Open(_directory);
                created.Restart();
                _store = created;
            }
            _store.AddMonitored(peer, peerState);
            _monitored[peer] = peerState;
        }
    }

    /// <summary>Stops monitoring <paramref name="peer"/> (it rebooted or freed everything).</summary>
    public void Unmonitor(string peer)
    {
        lock (_lock)
        {
            if (!_monitored.Remove(peer)) return;
            TryRemove(peer);
        }
    }

    /// <summary>
    /// Whether an SM_NOTIFY is our own announcement coming back: in a single namespace a loopback client's status
    /// monitor is found at our own rpcbind, i.e. it is us.
    /// </summary>
    public bool IsOwnAnnouncement(string monName, int state)
    {
        lock (_lock) return state == State && _announcedNames.Contains(monName);
    }

    /// <summary>
    /// Sends SM_NOTIFY(<paramref name="serverName"/>, <see cref="State"/>) to the status monitor of each previous
    /// client, retrying with a doubling delay until it answers or <paramref name="deadline"/> passes (at least one
    /// attempt each); then forgets it (unless it was monitored again meanwhile — it reclaimed a lock). A null
    /// <paramref name="serverName"/> announces the address the server reached the client from.
    /// </summary>
    public Task NotifyPreviousClientsAsync(LockCallbacks callbacks, string? serverName, DateTimeOffset deadline, TimeSpan firstRetryDelay,
        CancellationToken cancellationToken) =>
        Task.WhenAll(PreviousClients.Select(client =>
            NotifyAsync(callbacks, client.Peer, serverName, deadline, firstRetryDelay, cancellationToken)));

    private async Task NotifyAsync(LockCallbacks callbacks, string peer, string? serverName, DateTimeOffset deadline, TimeSpan retryDelay,
        CancellationToken cancellationToken)
    {
        string? lastError = null;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var address = AddressOf(callbacks, peer);
                var endPoint = await callbacks.ResolveAsync(address, Nsm.Program, Nsm.Version, cancellationToken).ConfigureAwait(false);
                await using var connection = callbacks.Connect(endPoint);
                string name = serverName ?? await LocalAddressAsync(connection, cancellationToken).ConfigureAwait(false);
                lock (_lock) _announcedNames.Add(name);
                await LockCallbacks.CallAsync(connection, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify, new StatChange(name, State),
                    XdrVoid.Read, cancellationToken).ConfigureAwait(false);
                _log?.Invoke($"NSM: told {peer} (status monitor at {endPoint}) that {name} restarted with state {State}");
                break;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (e.Message != lastError) _log?.Invoke($"NSM: SM_NOTIFY to {peer} failed (attempt {attempt}): {e.Message}");
                lastError = e.Message;
                if (e is CallbackException { IsPermanent: true }) deadline = DateTimeOffset.MinValue;
            }
            var wait = deadline - DateTimeOffset.UtcNow;
            if (wait <= TimeSpan.Zero)
            {
                _log?.Invoke($"NSM: gave up telling {peer} about the restart after {attempt} attempt{(attempt == 1 ? "" : "s")}");
                break;
            }
            await Task.Delay(wait < retryDelay ? wait : retryDelay, cancellationToken).ConfigureAwait(false);
            retryDelay = TimeSpan.FromTicks(Math.Min(retryDelay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
        lock (_lock)
        {
            if (!_monitored.ContainsKey(peer)) TryRemove(peer);
        }
    }

    private static IPAddress AddressOf(LockCallbacks callbacks, string peer) =>
        IPAddress.TryParse(peer, out var address) ? address
        : callbacks.Sockets.ResolveHost(peer).FirstOrDefault()
          ?? throw new CallbackException($"{peer} is neither an address nor a name that resolves");

    /// <summary>The address the connection leaves from, which is how the client reaches us (a NULL call connects it).</summary>
    private static async Task<string> LocalAddressAsync(Rpc.RpcConnection connection, CancellationToken cancellationToken)
    {
        await LockCallbacks.CallAsync(connection, Nsm.Program, Nsm.Version, (uint)NsmProcedure.Null, XdrVoid.Value, XdrVoid.Read,
            cancellationToken).ConfigureAwait(false);
        var local = (connection.LocalEndPoint as IPEndPoint)?.Address
            ?? throw new CallbackException("the connection to the client has no local address");
        return (local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local).ToString();
    }

    private void TryRemove(string peer)
    {
        try
        {
            _store?.RemoveMonitored(peer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log?.Invoke($"NSM: could not forget {peer} in {_directory}: {e.Message}");
        }
    }
}
