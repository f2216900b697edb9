using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Xdr;

namespace NfsNs.Rpc;

/// <summary>
/// The client side of ONC RPC over one TCP connection (RFC 5531), with the retransmission and reconnection
/// behaviour of mount(8)'s <c>timeo</c>, <c>retrans</c> and <c>hard</c>/<c>soft</c>.
/// </summary>
/// <remarks>
/// <para>
/// Connects lazily, through the <see cref="ISocketFactory"/> it was given, so that every socket it ever opens (the
/// first and each reconnect) lives in the same network namespace.
/// </para>
/// <para>
/// Each call is encoded once, with its record marker, into a pooled buffer that is kept until its reply arrives;
/// a call is registered by XID in the pending table before it is sent. One reader loop per socket frames records
/// and hands each reply's buffer to the waiting caller, who checks the reply header and decodes the results, so
/// decoding never holds up the reader loop. Writes are serialised per socket, and at most
/// <see cref="RpcConnectionOptions.MaxInFlight"/> calls are pending at once.
/// </para>
/// <para>
/// When a connection is lost, or a call's timeout expires on the connection it was sent on (the connection is
/// considered stuck, as Linux does for stream transports), a new connection is opened and every pending call is
/// sent again with the same XID and the same bytes, so that the server's duplicate request cache recognises it.
/// A periodic sweep enforces the timeouts: soft calls fail after <c>retrans</c> retransmissions with
/// <see cref="RpcTimeoutException"/>; hard calls retransmit until cancelled.
/// </para>
/// </remarks>
public sealed class RpcConnection : IAsyncDisposable
{
    private const int InitialRequestBufferSize = 512;

    private readonly ISocketFactory _sockets;
    private readonly EndPoint _remote;
    private readonly RpcConnectionOptions _options;
    private readonly string _description;
    private readonly SemaphoreSlim _slots;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, PendingCall> _pending = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Timer _sweepTimer;
    private readonly TimeSpan _sweepPeriod;
    private readonly long _timeoutMilliseconds;
    private readonly RpcConnectionStats _stats = new();
    private uint _nextXid;
    private long _nextSequence;

    // Guarded by _lock.
    private Transport? _transport;
    private Task? _connectLoop;
    private int _generation;
    private TimeSpan _connectDelay;
    private string? _lastConnectError;
    private string? _closedReason;
    private bool _disposed;
    private bool _sweepArmed;
    private int _notResponding;

    public RpcConnection(ISocketFactory sockets, EndPoint remote, RpcConnectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        ArgumentNullException.ThrowIfNull(remote);
        _options = options ?? RpcConnectionOptions.Default;
        _options.Validate();
        _sockets = sockets;
        _remote = remote;
        _description = $"{remote} in namespace {sockets.Namespace?.ToString() ?? "(unnamed)"}";
        _slots = new SemaphoreSlim(_options.MaxInFlight, _options.MaxInFlight);
        // RFC 5531 §9: the XID only has to be unique among outstanding calls; a random start makes XIDs of
        // successive connections (and client restarts) unlikely to collide in the server's duplicate request cache.
        _nextXid = (uint)Random.Shared.NextInt64(0, 1L << 32);
        _timeoutMilliseconds = Math.Max(1, (long)_options.Timeout.TotalMilliseconds);
        _sweepPeriod = TimeSpan.FromMilliseconds(Math.Clamp(_timeoutMilliseconds / 10, 5, 1000));
        _sweepTimer = new Timer(static state => ((RpcConnection)state!).Sweep(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public EndPoint RemoteEndPoint => _remote;
    public RpcConnectionOptions Options => _options;
    public RpcConnectionStats Stats => _stats;

    /// <summary>True while a socket is open (connections are made lazily, on the first call).</summary>
    public bool IsConnected
    {
        get { lock (_lock) return _transport is not null; }
    }

    /// <summary>"ADDRESS in namespace NS", for messages.</summary>
    public string Describe() => _description;

    /// <summary>The local address of the current socket, or null while disconnected.</summary>
    public EndPoint? LocalEndPoint
    {
        get
        {
            Transport? transport;
            lock (_lock) transport = _transport;
            try
            {
                return transport?.Socket.LocalEndPoint;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Closes the current socket as if the network had dropped it, so that the next call (or a pending one) goes
    /// through reconnection. For tests of reconnect behaviour (J2, N2, N3, N4).
    /// </summary>
    internal void DropConnectionForTesting()
    {
        Transport? transport;
        lock (_lock) transport = _transport;
        if (transport is null) return;
        transport.Socket.Close(0);
    }

    public override string ToString() => _description;

    /// <summary>
    /// Calls <paramref name="procedure"/> of <paramref name="program"/> <paramref name="version"/> and decodes its
    /// results with <paramref name="decode"/> while the reply's buffer is alive.
    /// </summary>
    /// <exception cref="RpcAcceptedException">The server accepted the call but did not run it (PROG_UNAVAIL, …).</exception>
    /// <exception cref="RpcDeniedException">RPC_MISMATCH or AUTH_ERROR.</exception>
    /// <exception cref="RpcTimeoutException">A soft call got no reply after its retransmissions.</exception>
    /// <exception cref="RpcConnectionException">Connection refused or lost and not re-established (see options).</exception>
    /// <exception cref="RpcProtocolException">A malformed reply.</exception>
    public async Task<TResult> CallAsync<TArgs, TResult>(uint program, uint version, uint procedure, RpcCredentials credentials,
        TArgs args, XdrDecoder<TResult> decode, CancellationToken cancellationToken)
        where TArgs : IXdrWritable
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(decode);
        lock (_lock) ThrowIfClosedLocked();
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        PendingCall? call = null;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        long replyBytes = 0;
        bool failed = true;
        try
        {
            call = Encode(program, version, procedure, credentials, args);
            Interlocked.Increment(ref _stats.CallsCount);
            var transport = Register(call);
            using (cancellationToken.UnsafeRegister(static (state, token) =>
                   {
                       var pending = (PendingCall)state!;
                       pending.Owner.Cancel(pending, token);
                   }, call))
            {
                // Without a transport, the connect loop sends every pending call once it has connected.
                if (transport is not null)
                    await SendAsync(transport, call, cancellationToken).ConfigureAwait(false);
                var record = await call.Task.ConfigureAwait(false);
                replyBytes = record.Memory.Length;
                var result = DecodeReply(call, record, decode);
                failed = result is IRpcResultStatus { IsError: true };
                return result;
            }
        }
        catch (OperationCanceledException)
        {
            failed = false; // a caller's cancellation is not the server's error
            throw;
        }
        finally
        {
            if (call is not null)
            {
                _stats.ProcedureCounters.Record(program, version, procedure, Volatile.Read(ref call.Transmissions),
                    call.Request.Length, replyBytes, System.Diagnostics.Stopwatch.GetTimestamp() - started, failed);
                call.ReleaseRequest();
            }
            _slots.Release();
        }
    }

    private PendingCall Encode<TArgs>(uint program, uint version, uint procedure, RpcCredentials credentials, TArgs args)
        where TArgs : IXdrWritable
    {
        uint xid = Interlocked.Increment(ref _nextXid);
        var request = new PooledBufferWriter(InitialRequestBufferSize);
        try
        {
            RecordMarking.BeginSingleFragmentRecord(request);
            var writer = new XdrWriter(request);
            Rpc.WriteCallHeader(writer, xid, program, version, procedure, credentials);
            args.Write(writer);
            RecordMarking.CompleteSingleFragmentRecord(request);
        }
        catch
        {
            request.Dispose();
            throw;
        }
        return new PendingCall(this, xid, program, version, procedure, request, Interlocked.Increment(ref _nextSequence));
    }

    /// <summary>Adds the call to the pending table; returns the transport to send it on, or null when connecting.</summary>
    private Transport? Register(PendingCall call)
    {
        lock (_lock)
        {
            ThrowIfClosedLocked();
            // XIDs only repeat after 2^32 calls; skip any still pending so that a reply can never be misdelivered.
            while (_pending.ContainsKey(call.Xid))
                call.ChangeXid(Interlocked.Increment(ref _nextXid));
            call.Deadline = call.StartedAt + _timeoutMilliseconds;
            _pending.Add(call.Xid, call);
            if (!_sweepArmed)
            {
                _sweepArmed = true;
                _sweepTimer.Change(_sweepPeriod, _sweepPeriod);
            }
            if (_transport is { } transport) return transport;
            _connectLoop ??= Task.Run(ConnectLoopAsync);
            return null;
        }
    }

    private void ThrowIfClosedLocked()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_closedReason is not null) throw new RpcConnectionException(_closedReason);
    }

    private TResult DecodeReply<TResult>(PendingCall call, RpcRecord record, XdrDecoder<TResult> decode)
    {
        using (record)
        {
            var description = call.Describe(_description);
            var reader = new XdrReader(record.Memory);
            RpcReply.ReadSuccessHeader(ref reader, description);
            try
            {
                return decode(ref reader);
            }
            catch (XdrException e)
            {
                throw new RpcProtocolException($"malformed results in the reply to {description}: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Sends the call on <paramref name="transport"/> unless it already went out there. Never throws: a failed send
    /// is a lost connection, after which the call stays pending and is re-sent on the next connection.
    /// </summary>
    private async ValueTask SendAsync(Transport transport, PendingCall call, CancellationToken cancellationToken)
    {
        try
        {
            await transport.WriteLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // the cancellation callback has already removed the call
        }
        try
        {
            if (transport.IsClosed || call.Task.IsCompleted || call.SentGeneration >= transport.Generation || !call.TryAcquireRequest())
                return;
            try
            {
                // Counted before the bytes leave, so that whoever sees them on the wire also sees the counters.
                // If the send fails the transport is retired, and the next one sends the call again.
                if (call.SentGeneration != 0) Interlocked.Increment(ref _stats.RetransmitsCount);
                call.MarkSentOn(transport.Generation);
                Interlocked.Increment(ref call.Transmissions);
                var bytes = call.Request;
                // Not cancellable: a record cut short would break the framing of every later call on this socket.
                for (int sent = 0; sent < bytes.Length;)
                {
                    int count = await transport.Socket.SendAsync(bytes[sent..], SocketFlags.None).ConfigureAwait(false);
                    if (count <= 0) throw new SocketException((int)SocketError.ConnectionReset);
                    sent += count;
                    Interlocked.Add(ref _stats.BytesSentCount, count);
                }
            }
            finally
            {
                call.ReleaseRequest();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            ConnectionLost(transport, transport.IsClosed ? "closed while sending" : $"send failed: {e.Message}", e);
        }
        finally
        {
            transport.WriteLock.Release();
        }
    }

    private void Cancel(PendingCall call, CancellationToken token)
    {
        lock (_lock)
        {
            if (!_pending.TryGetValue(call.Xid, out var current) || current != call) return;
            _pending.Remove(call.Xid);
        }
        call.TrySetCanceled(token);
    }

    // ----- connecting -----

    private bool ShouldConnectLocked() => !_disposed && _closedReason is null && _transport is null && _pending.Count > 0;

    /// <summary>
    /// Connects (with bounded exponential backoff between attempts) while calls are pending and no transport is
    /// up, then re-sends every pending call. At most one loop runs at a time (<see cref="_connectLoop"/>).
    /// </summary>
    private async Task ConnectLoopAsync()
    {
        while (true)
        {
            TimeSpan delay;
            lock (_lock)
            {
                if (!ShouldConnectLocked())
                {
                    _connectLoop = null;
                    return;
                }
                delay = _connectDelay;
            }
            if (delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(delay, _lifetime.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                lock (_lock)
                {
                    if (!ShouldConnectLocked())
                    {
                        _connectLoop = null;
                        return;
                    }
                }
            }

            Socket socket;
            try
            {
                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
                connectTimeout.CancelAfter(_options.EffectiveConnectTimeout);
                socket = await _sockets.ConnectTcpAsync(_remote, connectTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                OnConnectFailed(e);
                continue;
            }
            await InstallAndResendAsync(socket).ConfigureAwait(false);
            return;
        }
    }

    private void OnConnectFailed(Exception error)
    {
        string message = error switch
        {
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } => $"connection refused by {_description}",
            OperationCanceledException when !_lifetime.IsCancellationRequested =>
                $"connecting to {_description} timed out after {Format(_options.EffectiveConnectTimeout)}",
            // A fresh `ip netns add` namespace has its loopback down: everything, 127.0.0.1 included, is unreachable.
            SocketException { SocketErrorCode: SocketError.NetworkUnreachable } when _remote is IPEndPoint { Address: var address } && IPAddress.IsLoopback(address) =>
                $"cannot connect to {_description}: {error.Message} (is the namespace's loopback interface down? `ip -n NAME link set lo up`)",
            _ => $"cannot connect to {_description}: {error.Message}",
        };
        bool permanent = error is NamespaceException or ObjectDisposedException or ArgumentException or NotSupportedException;
        bool majorTimeout = false;
        List<PendingCall>? failed = null;
        TimeSpan nextDelay;
        lock (_lock)
        {
            if (_disposed) return;
            Interlocked.Increment(ref _stats.ConnectFailuresCount);
            _lastConnectError = message;
            _connectDelay = nextDelay = NextDelay(_connectDelay);
            foreach (var call in _pending.Values)
            {
                // A failed connect attempt costs each waiting call one of its tries: soft calls give up after
                // retrans of them, and without reconnection there is no second try. A failure that no retry can
                // cure (the namespace cannot be entered, the address is unusable) fails even hard calls now.
                call.Failures++;
                if (_options.Hard && call.Failures == _options.Retransmits + 1) majorTimeout = true;
                if (permanent || !_options.Reconnect || (!_options.Hard && call.Failures > _options.Retransmits))
                    (failed ??= []).Add(call);
            }
            if (failed is not null)
                foreach (var call in failed) _pending.Remove(call.Xid);
        }
        if (_options.Log is { } log)
            log(failed is null ? $"{message}; retrying in {Format(nextDelay)}" : $"{message}; failing {failed.Count} call(s)");
        if (majorTimeout) WarnNotResponding(message);
        if (failed is null) return;
        foreach (var call in failed)
        {
            string text = call.Failures > 1 ? $"{message} ({call.Failures} attempts)" : message;
            call.TrySetException(new RpcConnectionException(text, error));
        }
    }

    private TimeSpan NextDelay(TimeSpan current)
    {
        if (current <= TimeSpan.Zero)
            return _options.ReconnectDelay > TimeSpan.Zero ? _options.ReconnectDelay : TimeSpan.FromMilliseconds(1);
        var doubled = current * 2;
        return doubled > _options.MaxReconnectDelay ? _options.MaxReconnectDelay : doubled;
    }

    private async Task InstallAndResendAsync(Socket socket)
    {
        Transport transport;
        PendingCall[] resend;
        lock (_lock)
        {
            _connectLoop = null;
            if (_disposed || _closedReason is not null)
            {
                socket.Dispose();
                return;
            }
            transport = new Transport(socket, ++_generation, _options.MaxRecordSize);
            _transport = transport;
            Interlocked.Increment(ref _stats.ConnectsCount);
            if (transport.Generation > 1) Interlocked.Increment(ref _stats.ReconnectsCount);
            resend = [.. _pending.Values];
        }
        _options.Log?.Invoke($"connected to {_description} (connection #{transport.Generation}, {resend.Length} call(s) to send)");
        // The reader loop starts before anything is sent, so that no reply can arrive unread.
        transport.ReadLoop = ReadLoopAsync(transport);
        Array.Sort(resend, static (a, b) => a.Sequence.CompareTo(b.Sequence));
        foreach (var call in resend)
            await SendAsync(transport, call, CancellationToken.None).ConfigureAwait(false);
    }

    // ----- receiving -----

    private async Task ReadLoopAsync(Transport transport)
    {
        string reason;
        Exception? error = null;
        long counted = 0;
        try
        {
            while (true)
            {
                var record = await transport.Reader.ReadRecordAsync().ConfigureAwait(false);
                long received = transport.Reader.BytesReceived;
                Interlocked.Add(ref _stats.BytesReceivedCount, received - counted);
                counted = received;
                if (record is null)
                {
                    reason = "the server closed the connection";
                    break;
                }
                Dispatch(transport, record);
            }
        }
        catch (Exception e)
        {
            error = e;
            reason = transport.IsClosed ? "closed locally" : e.Message;
        }
        finally
        {
            Interlocked.Add(ref _stats.BytesReceivedCount, transport.Reader.BytesReceived - counted);
            transport.Reader.Dispose();
        }
        ConnectionLost(transport, reason, error);
    }

    /// <summary>Hands a reply record to the call waiting for its XID; drops anything else.</summary>
    private void Dispatch(Transport transport, RpcRecord record)
    {
        var span = record.Memory.Span;
        if (span.Length < 4)
        {
            Drop(record, $"a runt record of {span.Length} bytes");
            return;
        }
        uint xid = BinaryPrimitives.ReadUInt32BigEndian(span);
        if (span.Length >= 8 && BinaryPrimitives.ReadUInt32BigEndian(span[4..]) == (uint)RpcMessageType.Call)
        {
            Drop(record, $"a call from the server (xid 0x{xid:x8}); this connection serves no callback program");
            return;
        }
        PendingCall? call;
        lock (_lock) _pending.Remove(xid, out call);
        if (call is null)
        {
            Drop(record, $"a reply to xid 0x{xid:x8}, which is not pending (cancelled, timed out or never sent)");
            return;
        }
        transport.ReceivedReply = true;
        Interlocked.Increment(ref _stats.RepliesCount);
        if (Volatile.Read(ref _notResponding) != 0 && Interlocked.Exchange(ref _notResponding, 0) != 0)
            _options.Warn?.Invoke($"server {_description} OK");
        // Ownership of the record's buffer passes to the caller, who decodes and disposes it.
        if (!call.TrySetResult(record)) record.Dispose();
    }

    private void Drop(RpcRecord record, string what)
    {
        record.Dispose();
        Interlocked.Increment(ref _stats.DroppedRepliesCount);
        _options.Log?.Invoke($"{_description}: dropped {what}");
    }

    /// <summary>
    /// Retires a transport (idempotent). With reconnection enabled, pending calls are re-sent on a new connection;
    /// without it, the whole connection closes for good and every pending call fails now.
    /// </summary>
    private void ConnectionLost(Transport transport, string reason, Exception? error)
    {
        transport.Close();
        List<PendingCall>? failed = null;
        string? closedReason = null;
        lock (_lock)
        {
            if (_transport != transport) return;
            _transport = null;
            Interlocked.Increment(ref _stats.DisconnectsCount);
            // A connection that answered something was healthy: reconnect at once. One that never did (refused
            // work, stuck, or closed right away) waits a growing delay, so a bad server cannot make us spin.
            _connectDelay = transport.ReceivedReply ? TimeSpan.Zero : NextDelay(_connectDelay);
            if (_disposed) return;
            if (!_options.Reconnect)
            {
                _closedReason = closedReason = $"connection to {_description} was closed ({reason}); reconnection is disabled";
                failed = [.. _pending.Values];
                _pending.Clear();
            }
            else if (_pending.Count > 0)
            {
                _connectLoop ??= Task.Run(ConnectLoopAsync);
            }
        }
        _options.Log?.Invoke($"connection #{transport.Generation} to {_description} lost: {reason}");
        if (failed is null) return;
        foreach (var call in failed)
            call.TrySetException(new RpcConnectionException(closedReason!, error));
    }

    // ----- timeouts -----

    private void Sweep()
    {
        long now = Environment.TickCount64;
        List<PendingCall>? expired = null;
        Transport? stuck = null;
        PendingCall? stuckCall = null;
        bool majorTimeout = false;
        lock (_lock)
        {
            if (_disposed) return;
            if (_pending.Count == 0)
            {
                _sweepArmed = false;
                _sweepTimer.Change(Timeout.Infinite, Timeout.Infinite);
                return;
            }
            foreach (var call in _pending.Values)
            {
                if (call.Deadline > now) continue;
                call.Failures++;
                Interlocked.Increment(ref _stats.TimeoutsCount);
                if (_options.Hard && call.Failures == _options.Retransmits + 1) majorTimeout = true;
                if (!_options.Hard && call.Failures > _options.Retransmits)
                {
                    (expired ??= []).Add(call);
                    continue;
                }
                call.Deadline = now + (long)_options.RetransmitTimeout(call.Failures).TotalMilliseconds;
                // Like Linux's conditional disconnect: only a timeout on the connection the call last went out on
                // condemns that connection; a call already re-sent on a newer one just waits longer.
                if (_options.Reconnect && _transport is { } transport && call.SentGeneration == transport.Generation)
                {
                    stuck = transport;
                    stuckCall = call;
                }
            }
            if (expired is not null)
                foreach (var call in expired) _pending.Remove(call.Xid);
        }
        if (majorTimeout) WarnNotResponding(null);
        if (expired is not null)
        {
            foreach (var call in expired)
                call.TrySetException(TimeoutError(call, now));
        }
        if (stuck is not null)
        {
            ConnectionLost(stuck,
                $"no reply to {stuckCall!.Describe(_description).What} within {Format(_options.RetransmitTimeout(stuckCall.Failures - 1))}; " +
                "reconnecting to retransmit", null);
        }
    }

    private void WarnNotResponding(string? reason)
    {
        if (Interlocked.Exchange(ref _notResponding, 1) == 0)
            _options.Warn?.Invoke($"server {_description} not responding, still trying{(reason is null ? "" : $" ({reason})")}");
    }

    /// <summary>Why the last connect attempt failed, or null once connected.</summary>
    public string? LastConnectError
    {
        get { lock (_lock) return _lastConnectError; }
    }

    private RpcTimeoutException TimeoutError(PendingCall call, long now)
    {
        var description = call.Describe(_description);
        var waited = TimeSpan.FromMilliseconds(now - call.StartedAt);
        int transmissions = Volatile.Read(ref call.Transmissions);
        string message =
            $"no reply from {_description} to {description.What} after {Format(waited)} and {transmissions} transmission(s) " +
            $"(soft: timeo={Format(_options.Timeout)}, retrans={_options.Retransmits})";
        string? connectError;
        lock (_lock) connectError = _lastConnectError;
        if (transmissions == 0 && connectError is not null)
            message += $"; the connection could not be established: {connectError}";
        return new RpcTimeoutException(description, waited, transmissions, message);
    }

    private static string Format(TimeSpan duration) => $"{duration.TotalSeconds:0.###} s";

    // ----- disposal -----

    /// <summary>Closes the socket and fails every pending call with <see cref="RpcConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Transport? transport;
        PendingCall[] pending;
        Task? connectLoop;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            transport = _transport;
            _transport = null;
            pending = [.. _pending.Values];
            _pending.Clear();
            connectLoop = _connectLoop;
            _sweepArmed = false;
        }
        _lifetime.Cancel();
        _sweepTimer.Dispose();
        transport?.Close();
        foreach (var call in pending)
            call.TrySetException(new RpcConnectionException(
                $"the connection to {_description} was disposed while {call.Describe(_description).What} was pending"));
        if (transport is not null) await transport.ReadLoop.ConfigureAwait(false);
        if (connectLoop is not null) await connectLoop.ConfigureAwait(false);
        // A factory made for this connection alone (one that owns its namespace reference) goes with it.
        (_sockets as IDisposable)?.Dispose();
    }

    // ----- state of one call and one socket -----

    /// <summary>
    /// One call from registration to reply. Its encoded request is shared between the caller and in-progress
    /// sends by a reference count, so a cancelled call's buffer is returned to the pool only after any send that
    /// is reading it has finished.
    /// </summary>
    private sealed class PendingCall(RpcConnection owner, uint xid, uint program, uint version, uint procedure,
        PooledBufferWriter request, long sequence)
        : TaskCompletionSource<RpcRecord>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private int _requestReferences = 1;

        public RpcConnection Owner { get; } = owner;
        public uint Xid { get; private set; } = xid;
        public long Sequence { get; } = sequence;
        public long StartedAt { get; } = Environment.TickCount64;

        /// <summary>Guarded by the owner's lock.</summary>
        public long Deadline;
        /// <summary>Timeouts and failed connect attempts so far; guarded by the owner's lock.</summary>
        public int Failures;
        private int _sentGeneration;
        public int Transmissions;

        /// <summary>The newest transport generation the call was sent on (0: never sent).</summary>
        public int SentGeneration => Volatile.Read(ref _sentGeneration);

        /// <summary>
        /// Records a send on <paramref name="generation"/>. Only ever grows: a late send on an older transport must
        /// not hide that the call already went out on the current one (the sweep relies on it to spot a stuck connection).
        /// </summary>
        public void MarkSentOn(int generation)
        {
            int current = Volatile.Read(ref _sentGeneration);
            while (current < generation)
            {
                int seen = Interlocked.CompareExchange(ref _sentGeneration, generation, current);
                if (seen == current) return;
                current = seen;
            }
        }

        public ReadOnlyMemory<byte> Request => request.WrittenMemory;

        /// <summary>Rewrites the XID inside the encoded record (before it is registered or sent).</summary>
        public void ChangeXid(uint newXid)
        {
            Xid = newXid;
            BinaryPrimitives.WriteUInt32BigEndian(request.WrittenSpanForUpdate[RecordMarking.MarkerLength..], newXid);
        }

        public bool TryAcquireRequest()
        {
            int references = Volatile.Read(ref _requestReferences);
            while (references > 0)
            {
                int seen = Interlocked.CompareExchange(ref _requestReferences, references + 1, references);
                if (seen == references) return true;
                references = seen;
            }
            return false;
        }

        public void ReleaseRequest()
        {
            if (Interlocked.Decrement(ref _requestReferences) == 0)
                request.Dispose();
        }

        public RpcCallDescription Describe(string peer) => new(Xid, program, version, procedure, peer);
    }

    private sealed class Transport(Socket socket, int generation, int maxRecordSize)
    {
        private int _closed;

        public Socket Socket { get; } = socket;
        public int Generation { get; } = generation;
        public RecordReader Reader { get; } = new(socket, maxRecordSize);
        public SemaphoreSlim WriteLock { get; } = new(1, 1);
        public Task ReadLoop { get; set; } = Task.CompletedTask;
        public volatile bool ReceivedReply;

        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            try
            {
                Socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
            Socket.Dispose();
        }
    }
}
