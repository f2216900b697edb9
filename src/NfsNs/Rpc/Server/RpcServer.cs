using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Xdr;

namespace NfsNs.Rpc.Server;

/// <summary>
/// The server side of ONC RPC over TCP and UDP (RFC 5531): listens through an <see cref="ISocketFactory"/> (so in any
/// network namespace), frames call records (RFC 5531 §11) on TCP or takes each datagram as one call on UDP, checks
/// each call header (§9) and dispatches it to the registered <see cref="IRpcProgram"/> for its program number.
/// </summary>
/// <remarks>
/// <para>
/// Both transports share everything after a call message arrives — header checks, the program table, the duplicate
/// request cache (which keeps reply messages without framing, so a cached reply can go out on either transport) and
/// the per-client counters; only receiving and sending differ (see <see cref="CallOrigin"/>).
/// </para>
/// <para>
/// One reader loop per connection frames records into pooled buffers; each call is then served on the thread pool,
/// so calls of one connection run concurrently and their replies go out in completion order (writes are serialised
/// per connection). At <see cref="RpcServerOptions.MaxInFlightPerConnection"/> calls in progress the reader stops
/// reading that connection until one finishes: TCP flow control pushes back on the client.
/// </para>
/// <para>
/// Errors are answered as RFC 5531 §9 says: RPC_MISMATCH (2..2) for another rpcvers, PROG_UNAVAIL, PROG_MISMATCH with
/// the program's version range, PROC_UNAVAIL, GARBAGE_ARGS when the arguments do not decode (or do not end where
/// they should), SYSTEM_ERR when a handler fails otherwise, AUTH_BADCRED for a malformed AUTH_SYS credential and
/// AUTH_TOOWEAK for a flavour the program does not accept. A reply arriving at the server is dropped. A record over
/// the size cap closes its connection (its framing is lost) and nothing else.
/// </para>
/// </remarks>
public sealed partial class RpcServer : IAsyncDisposable
{
    private readonly ISocketFactory _sockets;
    private readonly RpcServerOptions _options;
    private readonly ArrayPool<byte> _pool;
    private readonly ConcurrentDictionary<uint, IRpcProgram> _programs = new();
    private readonly ConcurrentDictionary<long, ServerConnection> _connections = new();
    private readonly ConcurrentDictionary<IPAddress, RpcServerStats> _clients = new();
    private readonly List<(Socket Socket, Task AcceptLoop)> _listeners = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopReading = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly DuplicateRequestCache? _duplicates;
    private readonly RpcServerStats _stats = new();
    private long _nextConnectionId;
    private Task? _stopping;
    private readonly Timer _idleSweep;

    public RpcServer(ISocketFactory sockets, RpcServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        _options = options ?? RpcServerOptions.Default;
        _options.Validate();
        _sockets = sockets;
        _pool = _options.Pool ?? ArrayPool<byte>.Shared;
        if (_options.DuplicateCacheEntries > 0)
            _duplicates = new DuplicateRequestCache(_options.DuplicateCacheEntries, _options.DuplicateCacheBytes, _options.DuplicateCacheMaxReplySize);
        var sweepEvery = TimeSpan.FromTicks(Math.Clamp(_options.IdleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _idleSweep = new Timer(static state => ((RpcServer)state!).CloseIdleConnections(), this, sweepEvery, sweepEvery);
    }

    /// <summary>Closes connections that have been silent for <see cref="RpcServerOptions.IdleTimeout"/> with nothing in progress.</summary>
    private void CloseIdleConnections()
    {
        long now = Environment.TickCount64;
        foreach (var connection in _connections.Values)
        {
            if (!connection.IsIdleSince(now - (long)_options.IdleTimeout.TotalMilliseconds)) continue;
            Log($"closing connection {connection.Id} from {connection.Remote}: nothing received or sent for {_options.IdleTimeout.TotalSeconds:0.#} s");
            connection.Abort();
        }
    }

    public RpcServerOptions Options => _options;
    public RpcServerStats Stats => _stats;
    public DuplicateRequestCache? DuplicateCache => _duplicates;

    /// <summary>Counters per client IP address (every port and connection of that address together).</summary>
    public IReadOnlyList<RpcClientStats> Clients => [.. _clients.Select(pair => new RpcClientStats(pair.Key, pair.Value))];

    /// <summary>Connections currently open.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>The TCP endpoints being listened on (with the actual ports when port 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints
    {
        get { lock (_lock) return [.. _listeners.Select(l => (IPEndPoint)l.Socket.LocalEndPoint!)]; }
    }

    public string Namespace => _sockets.Namespace?.ToString() ?? "(unnamed)";

    /// <summary>Serves <paramref name="program"/>; its number must not be registered yet.</summary>
    public void Register(IRpcProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        if (program.MinVersion > program.MaxVersion)
            throw new ArgumentException($"{RpcPrograms.Name(program.Program)} has no versions ({program.MinVersion}..{program.MaxVersion})", nameof(program));
        if (!_programs.TryAdd(program.Program, program))
            throw new InvalidOperationException($"{RpcPrograms.Name(program.Program)} is already registered with this server");
    }

    /// <summary>
    /// Listens on <paramref name="local"/> (port 0 picks one) and starts accepting; returns the bound endpoint. May be
    /// called for several endpoints (e.g. port 111 and port 2049): all share the programs and counters.
    /// </summary>
    public IPEndPoint Listen(IPEndPoint local)
    {
        ArgumentNullException.ThrowIfNull(local);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopping is not null, this);
            Socket socket;
            try
            {
                socket = _sockets.ListenTcp(local, _options.ListenBacklog);
            }
            catch (SocketException e)
            {
                throw CannotListen(e, local.ToString());
            }
            var bound = (IPEndPoint)socket.LocalEndPoint!;
            _listeners.Add((socket, Task.Run(() => AcceptLoopAsync(socket, bound))));
            Log($"listening on {bound} in namespace {Namespace}");
            return bound;
        }
    }

    private async Task AcceptLoopAsync(Socket listener, IPEndPoint bound)
    {
        while (!_stopReading.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopReading.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                if (_stopReading.IsCancellationRequested) return;
                // A connection reset before accept completed; the listener itself is fine.
                Log($"accept on {bound} failed: {e.Message}");
                continue;
            }
            StartConnection(socket);
        }
    }

    private void StartConnection(Socket socket)
    {
        try
        {
            socket.NoDelay = true;
        }
        catch (SocketException)
        {
        }
        long id = Interlocked.Increment(ref _nextConnectionId);
        var remote = Unmap((IPEndPoint)socket.RemoteEndPoint!);
        var local = Unmap((IPEndPoint)socket.LocalEndPoint!);
        var client = ClientStats(remote.Address);
        var connection = new ServerConnection(this, socket, id, remote, local, client);
        _connections[id] = connection;
        Interlocked.Increment(ref _stats.ConnectionsCount);
        Interlocked.Increment(ref client.ConnectionsCount);
        if (_stopReading.IsCancellationRequested) connection.StopReading();
        connection.Start();
    }

    /// <summary>
    /// At most this many client addresses get counters of their own; calls from further addresses count in the server's
    /// totals only. UDP source addresses cost a sender nothing to forge, and each would otherwise add a row for good.
    /// </summary>
    internal const int MaxTrackedClients = 4096;

    private RpcServerStats ClientStats(IPAddress address)
    {
        if (_clients.TryGetValue(address, out var stats)) return stats;
        if (_clients.Count >= MaxTrackedClients) return new RpcServerStats();
        return _clients.GetOrAdd(address, static _ => new RpcServerStats());
    }

    private static IPEndPoint Unmap(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    internal void Log(string message) => _options.Log?.Invoke(message);

    /// <summary>Why a listener could not be bound, saying where and, for the usual causes, what to do.</summary>
    private IOException CannotListen(SocketException e, string where) => new(e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => $"cannot listen on {where} in namespace {Namespace}: the address is already in use (is another server running there?)",
        SocketError.AddressNotAvailable => $"cannot listen on {where} in namespace {Namespace}: that address is not one of the namespace's (see `ip addr` inside it)",
        SocketError.AccessDenied => $"cannot listen on {where} in namespace {Namespace}: ports below 1024 need root (CAP_NET_BIND_SERVICE)",
        _ => $"cannot listen on {where} in namespace {Namespace}: {e.Message}",
    }, e);

    /// <summary>
    /// Serves one call message (a TCP record or a UDP datagram) and sends its reply the way it came; owns
    /// <paramref name="record"/> and disposes it when done. Never throws: whatever happens is a reply, a log line or
    /// a dropped message.
    /// </summary>
    private async Task ServeAsync(CallOrigin origin, RpcRecord record)
    {
        var reply = new PooledBufferWriter(4096, _pool);
        DuplicateRequestCache.Entry? pending = null;
        try
        {
            int received = record.Length + origin.FramingLength;
            Interlocked.Add(ref _stats.BytesReceivedCount, received);
            Interlocked.Add(ref origin.Client.BytesReceivedCount, received);
            Interlocked.Increment(ref _stats.CallsCount);
            Interlocked.Increment(ref origin.Client.CallsCount);

            origin.BeginReply(reply);
            int messageStart = reply.WrittenCount;
            var (outcome, duplicate) = await DispatchAsync(origin, record, reply).ConfigureAwait(false);
            pending = outcome.Pending;
            if (duplicate is not null)
            {
                Interlocked.Increment(ref _stats.DuplicatesCount);
                Interlocked.Increment(ref origin.Client.DuplicatesCount);
                byte[]? cached = await duplicate.Reply.WaitAsync(_abort.Token).ConfigureAwait(false);
                if (cached is null)
                {
                    CountDropped(origin);
                    return;
                }
                // The cache holds the bare reply message: framed here for this transport, like a fresh reply.
                reply.Truncate(messageStart);
                reply.Write(cached);
                await origin.SendReplyAsync(reply).ConfigureAwait(false);
                return;
            }
            if (outcome.Kind == RpcReplyKind.Drop)
            {
                CountDropped(origin);
                if (pending is not null) _duplicates!.Abandon(pending);
                pending = null;
                return;
            }
            if (outcome.Kind != RpcReplyKind.Success)
            {
                Interlocked.Increment(ref _stats.ErrorsCount);
                Interlocked.Increment(ref origin.Client.ErrorsCount);
            }
            if (pending is not null)
            {
                _duplicates!.Complete(pending, reply.WrittenSpan[messageStart..]);
                pending = null;
            }
            await origin.SendReplyAsync(reply).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Shutdown ran out of patience: no reply.
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // The connection went away before the reply could be sent; the client will retransmit elsewhere.
        }
        catch (Exception e)
        {
            Log($"{origin.Describe()}: unexpected failure serving a call: {e}");
        }
        finally
        {
            if (pending is not null) _duplicates!.Abandon(pending);
            reply.Dispose();
            record.Dispose();
        }
    }

    private void CountDropped(CallOrigin origin) => CountDropped(origin.Client);

    private void CountDropped(RpcServerStats client)
    {
        Interlocked.Increment(ref _stats.DroppedCount);
        Interlocked.Increment(ref client.DroppedCount);
    }

    private readonly record struct DispatchOutcome(RpcReplyKind Kind, DuplicateRequestCache.Entry? Pending);

    /// <summary>
    /// Reads the call header (RFC 5531 §9) and writes the whole reply message after the framing already in
    /// <paramref name="reply"/>; or returns the cache entry of an earlier identical call whose reply is to be resent.
    /// </summary>
    private async ValueTask<(DispatchOutcome Outcome, DuplicateRequestCache.Entry? Duplicate)> DispatchAsync(
        CallOrigin origin, RpcRecord record, PooledBufferWriter reply)
    {
        var writer = new XdrWriter(reply);
        if (!TryReadHeader(origin, record.Memory, out var header))
            return (new DispatchOutcome(RpcReplyKind.Drop, null), null);

        uint xid = header.Xid;
        if (header.RpcVersion != Rpc.Version)
        {
            RpcReplyHeader.WriteRpcMismatch(writer, xid);
            return (new DispatchOutcome(RpcReplyKind.AcceptError, null), null);
        }
        if (header.CredentialError is { } credentialError)
        {
            Log($"{RpcPrograms.Describe(header.Program, header.Version, header.Procedure)} (xid 0x{header.Xid:x8}) {origin.Describe()}: malformed credential ({credentialError}); answered AUTH_BADCRED");
            RpcReplyHeader.WriteAuthError(writer, xid, RpcAuthStat.BadCred);
            return (new DispatchOutcome(RpcReplyKind.AuthError, null), null);
        }
        if (!_programs.TryGetValue(header.Program, out var program))
        {
            RpcReplyHeader.WriteAccepted(writer, xid, RpcAcceptStat.ProgUnavail);
            return (new DispatchOutcome(RpcReplyKind.AcceptError, null), null);
        }
        if (header.Version < program.MinVersion || header.Version > program.MaxVersion)
        {
            RpcReplyHeader.WriteAccepted(writer, xid, RpcAcceptStat.ProgMismatch, program.MinVersion, program.MaxVersion);
            return (new DispatchOutcome(RpcReplyKind.AcceptError, null), null);
        }
        if (!program.Accepts(header.Credential.Flavor))
        {
            // RFC 5531 §9 defines AUTH_TOOWEAK as "rejected for security reasons": the credential is well formed but
            // its flavour is not good enough here (ONC RPC's svcerr_weakauth: "insufficient but correct
            // authentication"), which NFS clients negotiating a flavour (RFC 2623 §2) take as "try another";
            // AUTH_BADCRED/AUTH_REJECTEDCRED would mean "this credential is broken or stale".
            RpcReplyHeader.WriteAuthError(writer, xid, RpcAuthStat.TooWeak);
            return (new DispatchOutcome(RpcReplyKind.AuthError, null), null);
        }

        var arguments = record.Memory[header.ArgumentsOffset..];
        DuplicateRequestCache.Entry? pending = null;
        if (_duplicates is not null && program.IsNonIdempotent(header.Version, header.Procedure))
        {
            var key = DuplicateRequestCache.Key.Create(origin.Remote.Address, xid, header.Program, header.Version, header.Procedure, arguments.Span);
            if (_duplicates.TryGetDuplicate(key, out var entry))
                return (default, entry);
            pending = entry;
        }

        int headerStart = reply.WrittenCount;
        RpcReplyHeader.WriteAccepted(writer, xid, RpcAcceptStat.Success);
        var call = new RpcCallContext(xid, header.Program, header.Version, header.Procedure, header.Credential, header.AuthSys,
            origin.Remote, origin.Local, origin.Id, origin.Transport, arguments, writer);
        RpcReplyStatus status;
        try
        {
            status = await program.HandleAsync(call, _abort.Token).ConfigureAwait(false);
        }
        catch (XdrException e)
        {
            Log($"{call.Describe()}: arguments do not decode ({e.Message}); answered GARBAGE_ARGS");
            status = RpcReplyStatus.GarbageArgs;
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            status = RpcReplyStatus.Drop;
        }
        catch (Exception e)
        {
            Log($"{call.Describe()} failed, answered SYSTEM_ERR: {e}");
            status = RpcReplyStatus.SystemErr;
        }

        if (status.Kind != RpcReplyKind.Success)
        {
            reply.Truncate(headerStart);
            switch (status.Kind)
            {
                case RpcReplyKind.AcceptError:
                    var stat = status.AcceptStat;
                    if (stat is RpcAcceptStat.Success or RpcAcceptStat.ProgMismatch)
                    {
                        // PROG_MISMATCH needs the version range, which only the server knows; SUCCESS is no error.
                        Log($"{call.Describe()}: the handler answered accept_stat {stat} as an error; sent SYSTEM_ERR");
                        stat = RpcAcceptStat.SystemErr;
                    }
                    RpcReplyHeader.WriteAccepted(writer, xid, stat);
                    break;
                case RpcReplyKind.AuthError:
                    RpcReplyHeader.WriteAuthError(writer, xid, status.AuthStat);
                    break;
            }
        }
        return (new DispatchOutcome(status.Kind, pending), null);
    }

    /// <summary>The fields of a call header (RFC 5531 §9) and where the arguments start.</summary>
    private struct CallHeader
    {
        public uint Xid, RpcVersion, Program, Version, Procedure;
        public OpaqueAuth Credential;
        public AuthSysCredentials? AuthSys;
        public string? CredentialError;
        public int ArgumentsOffset;
    }

    /// <summary>
    /// Reads a call header. False (the record is dropped, with a log line) for a runt record, a REPLY sent to the
    /// server or an unknown msg_type: none of them can be answered meaningfully.
    /// </summary>
    private bool TryReadHeader(CallOrigin origin, ReadOnlyMemory<byte> record, out CallHeader header)
    {
        header = default;
        var reader = new XdrReader(record);
        try
        {
            header.Xid = reader.ReadUInt32();
            uint messageType = reader.ReadUInt32();
            if (messageType != (uint)RpcMessageType.Call)
            {
                Log($"{origin.Describe()}: dropped a message with msg_type {messageType} (xid 0x{header.Xid:x8}); a server only takes CALLs");
                return false;
            }
            header.RpcVersion = reader.ReadUInt32();
            if (header.RpcVersion != Rpc.Version) return true;
            header.Program = reader.ReadUInt32();
            header.Version = reader.ReadUInt32();
            header.Procedure = reader.ReadUInt32();
        }
        catch (XdrException e)
        {
            Log($"{origin.Describe()}: dropped a {record.Length}-byte message that is not a call header ({e.Message})");
            return false;
        }
        try
        {
            header.Credential = OpaqueAuth.Read(ref reader);
            // The verifier is read for its length only: AUTH_NONE and AUTH_SYS calls carry AUTH_NONE (RFC 5531 §10).
            OpaqueAuth.Read(ref reader);
            if (header.Credential.Flavor == RpcAuthFlavor.Sys)
                header.AuthSys = AuthSysCredentials.Read(header.Credential.Body);
        }
        catch (XdrException e)
        {
            header.CredentialError = e.Message;
        }
        header.ArgumentsOffset = reader.Position;
        return true;
    }

    /// <summary>
    /// Stops accepting, stops reading new calls, lets calls in progress finish and send their replies (for at most
    /// <see cref="RpcServerOptions.ShutdownTimeout"/>, after which they are cancelled) and closes every connection.
    /// </summary>
    public Task StopAsync()
    {
        lock (_lock) return _stopping ??= StopCoreAsync();
    }

    private async Task StopCoreAsync()
    {
        await Task.Yield();
        _stopReading.Cancel();
        (Socket Socket, Task AcceptLoop)[] listeners;
        lock (_lock) listeners = [.. _listeners];
        foreach (var (socket, _) in listeners) socket.Dispose();
        await Task.WhenAll(listeners.Select(l => l.AcceptLoop)).ConfigureAwait(false);

        DatagramSocket[] datagramSockets;
        lock (_lock) datagramSockets = [.. _datagramSockets];
        foreach (var connection in _connections.Values) connection.StopReading();
        foreach (var datagrams in datagramSockets) datagrams.StopReading();
        var closed = Task.WhenAll(_connections.Values.Select(c => c.Closed).Concat(datagramSockets.Select(d => d.Closed)));
        if (await Task.WhenAny(closed, Task.Delay(_options.ShutdownTimeout)).ConfigureAwait(false) != closed)
        {
            Log($"shutdown: {_connections.Count} connection(s) and {datagramSockets.Count(d => !d.Closed.IsCompleted)} UDP socket(s) still busy " +
                $"after {_options.ShutdownTimeout.TotalSeconds:0.#} s; cancelling their calls");
            _abort.Cancel();
            foreach (var connection in _connections.Values) connection.Abort();
            foreach (var datagrams in datagramSockets) datagrams.Abort();
            await Task.WhenAny(closed, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
        Log($"stopped ({_stats})");
    }

    public async ValueTask DisposeAsync()
    {
        await _idleSweep.DisposeAsync().ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
        _stopReading.Dispose();
        _abort.Dispose();
    }

    /// <summary>
    /// Where a call came from and how its reply goes back: an accepted TCP connection, or one datagram's sender on a
    /// UDP socket. Everything between receiving a call message and sending its reply is the same for both.
    /// </summary>
    private abstract class CallOrigin(long id, IPEndPoint remote, IPEndPoint local, RpcServerStats client)
    {
        /// <summary>The server-wide number of the connection, or of the UDP socket the datagram arrived on.</summary>
        public long Id { get; } = id;
        public IPEndPoint Remote { get; } = remote;
        public IPEndPoint Local { get; } = local;
        public RpcServerStats Client { get; } = client;
        public abstract RpcTransport Transport { get; }

        /// <summary>Bytes in front of a message on the wire: TCP's record marker (RFC 5531 §11); none on UDP.</summary>
        public abstract int FramingLength { get; }

        /// <summary>"from 127.0.0.1:800 on connection 3", "from 127.0.0.1:800 over UDP (socket 2)": for log lines.</summary>
        public abstract string Describe();

        /// <summary>Reserves the framing at the start of an empty reply buffer; the reply message is written after it.</summary>
        public void BeginReply(PooledBufferWriter reply)
        {
            if (reply.WrittenCount != 0) throw new InvalidOperationException("a reply must start at the beginning of its buffer");
            if (FramingLength == 0) return;
            reply.GetSpan(FramingLength);
            reply.Advance(FramingLength);
        }

        /// <summary>Fills in the framing reserved by <see cref="BeginReply"/> and sends the reply to <see cref="Remote"/>.</summary>
        public abstract ValueTask SendReplyAsync(PooledBufferWriter reply);
    }

    /// <summary>One accepted connection: its reader loop, its write lock and its calls in progress.</summary>
    private sealed class ServerConnection : CallOrigin
    {
        private readonly RpcServer _server;
        private readonly Socket _socket;
        private readonly RecordReader _reader;
        private readonly SemaphoreSlim _slots;
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _stopReading = new();
        // The reader loop counts as one user; the socket is closed when the last user (loop or call) is done.
        private int _users = 1;
        private volatile bool _aborted;
        private long _lastActivity = Environment.TickCount64;

        /// <summary>No record completed and no reply sent since <paramref name="threshold"/>, and no call in progress.</summary>
        public bool IsIdleSince(long threshold) =>
            !_aborted && Volatile.Read(ref _lastActivity) < threshold && _slots.CurrentCount >= _server._options.MaxInFlightPerConnection - 1; // the reader holds one slot while it waits

        public ServerConnection(RpcServer server, Socket socket, long id, IPEndPoint remote, IPEndPoint local, RpcServerStats client)
            : base(id, remote, local, client)
        {
            _server = server;
            _socket = socket;
            _reader = new RecordReader(socket, server._options.MaxRecordSize, server._pool);
            _slots = new SemaphoreSlim(server._options.MaxInFlightPerConnection, server._options.MaxInFlightPerConnection);
        }

        public Task Closed => _closed.Task;
        public override RpcTransport Transport => RpcTransport.Tcp;
        public override int FramingLength => RecordMarking.MarkerLength;
        public override string Describe() => $"from {Remote} on connection {Id}";

        public override ValueTask SendReplyAsync(PooledBufferWriter reply)
        {
            RecordMarking.CompleteSingleFragmentRecord(reply);
            return SendAsync(reply.WrittenMemory);
        }

        public void Start() => _ = Task.Run(ReadLoopAsync);

        private async Task ReadLoopAsync()
        {
            try
            {
                while (true)
                {
                    // Back-pressure: a free slot before the next record is read.
                    await _slots.WaitAsync(_stopReading.Token).ConfigureAwait(false);
                    RpcRecord? record;
                    try
                    {
                        record = await _reader.ReadRecordAsync(_stopReading.Token).ConfigureAwait(false);
                    }
                    catch
                    {
                        _slots.Release();
                        throw;
                    }
                    if (record is null)
                    {
                        _slots.Release();
                        return;
                    }
                    Volatile.Write(ref _lastActivity, Environment.TickCount64);
                    Interlocked.Increment(ref _users);
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await _server.ServeAsync(this, record).ConfigureAwait(false);
                        }
                        finally
                        {
                            _slots.Release();
                            Release();
                        }
                    });
                }
            }
            catch (RpcProtocolException e)
            {
                // Over the record cap: the framing is lost, so this connection ends here, at once.
                _server.Log($"closing connection {Id} from {Remote}: {e.Message}");
                Abort();
            }
            catch (RpcConnectionException e)
            {
                if (!_stopReading.IsCancellationRequested)
                    _server.Log($"connection {Id} from {Remote}: {e.Message}");
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
            finally
            {
                Release();
            }
        }

        /// <summary>Ends the reader loop; calls in progress still get their replies sent.</summary>
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
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            _socket.Dispose();
        }

        public async ValueTask SendAsync(ReadOnlyMemory<byte> record)
        {
            if (_aborted) return;
            await _writeLock.WaitAsync(_server._abort.Token).ConfigureAwait(false);
            try
            {
                while (!record.IsEmpty)
                {
                    int sent = await _socket.SendAsync(record, SocketFlags.None, _server._abort.Token).ConfigureAwait(false);
                    record = record[sent..];
                    Volatile.Write(ref _lastActivity, Environment.TickCount64);
                    Interlocked.Add(ref _server._stats.BytesSentCount, sent);
                    Interlocked.Add(ref Client.BytesSentCount, sent);
                }
            }
            finally
            {
                _writeLock.Release();
            }
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _users) != 0) return;
            _socket.Dispose();
            _reader.Dispose();
            _stopReading.Dispose();
            _server._connections.TryRemove(Id, out _);
            _closed.TrySetResult();
        }
    }
}
