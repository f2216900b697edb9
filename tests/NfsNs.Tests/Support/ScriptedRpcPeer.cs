using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

/// <summary>
/// An in-process RPC server whose every byte the test scripts: it accepts TCP connections and lets the test read
/// whole call records and answer with any framing, timing or garbage, for what a real server cannot be made to do.
/// </summary>
/// <remarks>
/// Its framing code is independent of the production <see cref="RecordReader"/>, so the two check each other.
/// Every wait has a timeout (<see cref="DefaultTimeout"/> unless given), so a test that expects traffic that never
/// comes fails with a message instead of hanging.
/// </remarks>
/// <example>
/// <code>
/// await using var peer = ScriptedRpcPeer.Listen();
/// var callTask = client.CallAsync(...);
/// await using var conn = await peer.AcceptAsync();
/// var call = await conn.ReadCallAsync();
/// await conn.ReplyAsync(call, w => w.WriteUInt32(42), fragments: [12, 12]);
/// </code>
/// </example>
public sealed class ScriptedRpcPeer : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly List<ScriptedConnection> _connections = [];
    private int _acceptedCount;

    private ScriptedRpcPeer(Socket listener)
    {
        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>
    /// Listens on <paramref name="local"/> (default 127.0.0.1 on a free port): in the namespace of
    /// <paramref name="factory"/> when given, else with a plain socket in the process's own namespace.
    /// </summary>
    public static ScriptedRpcPeer Listen(ISocketFactory? factory = null, IPEndPoint? local = null)
    {
        local ??= new IPEndPoint(IPAddress.Loopback, 0);
        Socket listener;
        if (factory is not null)
        {
            listener = factory.ListenTcp(local, 64);
        }
        else
        {
            listener = new Socket(local.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                listener.Bind(local);
                listener.Listen(64);
            }
            catch
            {
                listener.Dispose();
                throw;
            }
        }
        return new ScriptedRpcPeer(listener);
    }

    public IPEndPoint EndPoint { get; }
    public int Port => EndPoint.Port;

    /// <summary>Connections the test has accepted so far.</summary>
    public int AcceptedCount => Volatile.Read(ref _acceptedCount);

    public async Task<ScriptedConnection> AcceptAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        return await TryAcceptAsync(limit).ConfigureAwait(false)
               ?? throw new TimeoutException($"scripted peer on {EndPoint}: no connection within {limit.TotalSeconds:0.###} s");
    }

    /// <summary>Accepts the next connection, or returns null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<ScriptedConnection?> TryAcceptAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        Socket socket;
        try
        {
            socket = await _listener.AcceptAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        socket.NoDelay = true;
        var connection = new ScriptedConnection(socket);
        lock (_connections) _connections.Add(connection);
        Interlocked.Increment(ref _acceptedCount);
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        ScriptedConnection[] connections;
        lock (_connections) connections = [.. _connections];
        foreach (var connection in connections)
            await connection.DisposeAsync().ConfigureAwait(false);
    }

    // ----- encoding replies (RFC 5531 §9) -----

    /// <summary>A MSG_ACCEPTED reply with an AUTH_NONE verifier; PROG_MISMATCH carries <paramref name="low"/>/<paramref name="high"/>.</summary>
    public static byte[] EncodeAcceptedReply(uint xid, RpcAcceptStat stat = RpcAcceptStat.Success, Action<XdrWriter>? results = null,
        uint low = 0, uint high = 0)
    {
        return Encode(writer =>
        {
            writer.WriteUInt32(xid);
            writer.WriteUInt32((uint)RpcMessageType.Reply);
            writer.WriteUInt32((uint)RpcReplyStat.Accepted);
            OpaqueAuth.None.Write(writer);
            writer.WriteUInt32((uint)stat);
            if (stat == RpcAcceptStat.ProgMismatch)
            {
                writer.WriteUInt32(low);
                writer.WriteUInt32(high);
            }
            if (stat == RpcAcceptStat.Success) results?.Invoke(writer);
        });
    }

    /// <summary>A MSG_DENIED reply: RPC_MISMATCH with versions, or AUTH_ERROR with <paramref name="authStat"/>.</summary>
    public static byte[] EncodeDeniedReply(uint xid, RpcRejectStat reject, RpcAuthStat authStat = RpcAuthStat.Ok, uint low = 0, uint high = 0)
    {
        return Encode(writer =>
        {
            writer.WriteUInt32(xid);
            writer.WriteUInt32((uint)RpcMessageType.Reply);
            writer.WriteUInt32((uint)RpcReplyStat.Denied);
            writer.WriteUInt32((uint)reject);
            if (reject == RpcRejectStat.RpcMismatch)
            {
                writer.WriteUInt32(low);
                writer.WriteUInt32(high);
            }
            else
            {
                writer.WriteUInt32((uint)authStat);
            }
        });
    }

    public static byte[] Encode(Action<XdrWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new XdrWriter(buffer));
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Splits <paramref name="record"/> into fragments of the given sizes (RFC 5531 §11), each with its marker; bytes
    /// left over after the listed sizes form one more fragment. No sizes: a single fragment.
    /// </summary>
    public static byte[][] Fragment(ReadOnlySpan<byte> record, IReadOnlyList<int>? fragmentSizes = null)
    {
        var sizes = new List<int>(fragmentSizes ?? []);
        int listed = sizes.Sum();
        if (listed > record.Length)
            throw new ArgumentException($"fragment sizes add up to {listed}, more than the record's {record.Length} bytes", nameof(fragmentSizes));
        if (listed < record.Length || sizes.Count == 0) sizes.Add(record.Length - listed);
        var fragments = new byte[sizes.Count][];
        int offset = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            var fragment = new byte[RecordMarking.MarkerLength + sizes[i]];
            RecordMarking.WriteMarker(fragment, sizes[i], isLastFragment: i == sizes.Count - 1);
            record.Slice(offset, sizes[i]).CopyTo(fragment.AsSpan(RecordMarking.MarkerLength));
            offset += sizes[i];
            fragments[i] = fragment;
        }
        return fragments;
    }

    /// <summary>The whole framed record as one byte array.</summary>
    public static byte[] Frame(ReadOnlySpan<byte> record, IReadOnlyList<int>? fragmentSizes = null) =>
        Fragment(record, fragmentSizes).SelectMany(f => f).ToArray();
}

/// <summary>A call as the scripted peer received it (RFC 5531 §9 call_body), with the raw record.</summary>
public sealed record ScriptedCall(
    uint Xid, uint RpcVersion, uint Program, uint Version, uint Procedure,
    OpaqueAuth Credential, OpaqueAuth Verifier, ReadOnlyMemory<byte> Body, byte[] Record)
{
    /// <summary>A reader positioned at the procedure's arguments.</summary>
    public XdrReader BodyReader() => new(Body);

    public override string ToString() => $"xid 0x{Xid:x8} prog {Program} vers {Version} proc {Procedure} ({Body.Length} bytes of arguments)";

    /// <summary>Parses a call record; throws <see cref="InvalidDataException"/> when it is not a CALL.</summary>
    public static ScriptedCall Parse(byte[] record)
    {
        try
        {
            var reader = new XdrReader(record);
            uint xid = reader.ReadUInt32();
            uint type = reader.ReadUInt32();
            if (type != (uint)RpcMessageType.Call)
                throw new InvalidDataException($"scripted peer: expected a CALL, got msg_type {type} (xid 0x{xid:x8})");
            uint rpcVersion = reader.ReadUInt32();
            uint program = reader.ReadUInt32();
            uint version = reader.ReadUInt32();
            uint procedure = reader.ReadUInt32();
            var credential = OpaqueAuth.Read(ref reader);
            var verifier = OpaqueAuth.Read(ref reader);
            var body = record.AsMemory(reader.Position);
            return new ScriptedCall(xid, rpcVersion, program, version, procedure, credential, verifier, body, record);
        }
        catch (XdrException e)
        {
            throw new InvalidDataException($"scripted peer: malformed call header: {e.Message}", e);
        }
    }
}

/// <summary>One accepted connection of a <see cref="ScriptedRpcPeer"/>.</summary>
public sealed class ScriptedConnection : IAsyncDisposable
{
    private const int MaxRecordSize = 64 * 1024 * 1024;

    private readonly Socket _socket;
    private byte[] _buffer = new byte[64 * 1024];
    private int _count;
    private bool _endOfStream;

    internal ScriptedConnection(Socket socket)
    {
        _socket = socket;
        RemoteEndPoint = socket.RemoteEndPoint!;
    }

    public EndPoint RemoteEndPoint { get; }
    public Socket Socket => _socket;

    // ----- reading -----

    /// <summary>Reads the next whole record (any fragmentation). Throws on timeout or when the client closed the connection.</summary>
    public async Task<byte[]> ReadRecordAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? ScriptedRpcPeer.DefaultTimeout;
        return await TryReadRecordAsync(limit).ConfigureAwait(false)
               ?? throw new TimeoutException($"scripted peer: no record from {RemoteEndPoint} within {limit.TotalSeconds:0.###} s");
    }

    /// <summary>The next whole record, or null if none completes within <paramref name="timeout"/> (partial bytes are kept).</summary>
    public async Task<byte[]?> TryReadRecordAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (TryTakeRecord() is { } record) return record;
            if (_endOfStream)
                throw new EndOfStreamException($"scripted peer: {RemoteEndPoint} closed the connection ({_count} bytes of an incomplete record buffered)");
            if (!await ReceiveAsync(cts.Token).ConfigureAwait(false)) return null;
        }
    }

    public async Task<ScriptedCall> ReadCallAsync(TimeSpan? timeout = null) =>
        ScriptedCall.Parse(await ReadRecordAsync(timeout).ConfigureAwait(false));

    /// <summary>The next call, or null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<ScriptedCall?> TryReadCallAsync(TimeSpan timeout) =>
        await TryReadRecordAsync(timeout).ConfigureAwait(false) is { } record ? ScriptedCall.Parse(record) : null;

    /// <summary>True once the client has closed the connection (within <paramref name="timeout"/>); data arriving meanwhile is kept.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? ScriptedRpcPeer.DefaultTimeout);
        while (!_endOfStream)
        {
            if (!await ReceiveAsync(cts.Token).ConfigureAwait(false)) return false;
        }
        return true;
    }

    /// <summary>One receive into the buffer; false on timeout. Sets <see cref="_endOfStream"/> when the client closed.</summary>
    private async Task<bool> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_count == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
        try
        {
            int received = await _socket.ReceiveAsync(_buffer.AsMemory(_count), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0) _endOfStream = true;
            _count += received;
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.OperationAborted)
        {
            _endOfStream = true;
            return true;
        }
    }

    /// <summary>Removes one complete record from the front of the buffer, if there is one.</summary>
    private byte[]? TryTakeRecord()
    {
        int offset = 0;
        var fragments = new List<(int Start, int Length)>();
        long total = 0;
        while (true)
        {
            if (_count - offset < RecordMarking.MarkerLength) return null;
            var (length, isLast) = RecordMarking.ReadMarker(_buffer.AsSpan(offset));
            total += length;
            if (total > MaxRecordSize)
                throw new InvalidDataException($"scripted peer: the client announced a record of {total} bytes");
            if (_count - offset - RecordMarking.MarkerLength < length) return null;
            fragments.Add((offset + RecordMarking.MarkerLength, length));
            offset += RecordMarking.MarkerLength + length;
            if (isLast) break;
        }
        var record = new byte[total];
        int position = 0;
        foreach (var (start, length) in fragments)
        {
            _buffer.AsSpan(start, length).CopyTo(record.AsSpan(position));
            position += length;
        }
        _buffer.AsSpan(offset, _count - offset).CopyTo(_buffer);
        _count -= offset;
        return record;
    }

    // ----- writing -----

    /// <summary>A successful reply whose results <paramref name="results"/> writes, framed as <paramref name="fragments"/>.</summary>
    public Task ReplyAsync(ScriptedCall call, Action<XdrWriter>? results = null, int[]? fragments = null, TimeSpan pause = default) =>
        SendRecordAsync(ScriptedRpcPeer.EncodeAcceptedReply(call.Xid, RpcAcceptStat.Success, results), fragments, pause);

    public Task ReplyAsync<T>(ScriptedCall call, T results, int[]? fragments = null, TimeSpan pause = default) where T : IXdrWritable =>
        ReplyAsync(call, results.Write, fragments, pause);

    /// <summary>An accepted reply with an error status (PROG_UNAVAIL, PROG_MISMATCH low–high, PROC_UNAVAIL, …).</summary>
    public Task ReplyErrorAsync(ScriptedCall call, RpcAcceptStat stat, uint low = 0, uint high = 0) =>
        SendRecordAsync(ScriptedRpcPeer.EncodeAcceptedReply(call.Xid, stat, null, low, high));

    public Task ReplyDeniedAsync(ScriptedCall call, RpcRejectStat reject, RpcAuthStat authStat = RpcAuthStat.Ok, uint low = 0, uint high = 0) =>
        SendRecordAsync(ScriptedRpcPeer.EncodeDeniedReply(call.Xid, reject, authStat, low, high));

    /// <summary>
    /// Sends <paramref name="record"/> split into fragments of the given sizes (the rest, if any, as a last
    /// fragment), one send per fragment, pausing <paramref name="pause"/> between them.
    /// </summary>
    public async Task SendRecordAsync(ReadOnlyMemory<byte> record, int[]? fragments = null, TimeSpan pause = default)
    {
        var pieces = ScriptedRpcPeer.Fragment(record.Span, fragments);
        for (int i = 0; i < pieces.Length; i++)
        {
            if (i > 0 && pause > TimeSpan.Zero) await Task.Delay(pause).ConfigureAwait(false);
            await SendAllAsync(pieces[i]).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes raw bytes in chunks of the listed sizes (the last size repeats until everything is written; none: one
    /// write), pausing <paramref name="delay"/> between chunks.
    /// </summary>
    public async Task WriteRawAsync(ReadOnlyMemory<byte> bytes, int[]? chunkSizes = null, TimeSpan delay = default)
    {
        int offset = 0;
        for (int i = 0; offset < bytes.Length; i++)
        {
            if (i > 0 && delay > TimeSpan.Zero) await Task.Delay(delay).ConfigureAwait(false);
            int size = chunkSizes is { Length: > 0 } ? chunkSizes[Math.Min(i, chunkSizes.Length - 1)] : bytes.Length;
            if (size <= 0) throw new ArgumentException("chunk sizes must be positive", nameof(chunkSizes));
            size = Math.Min(size, bytes.Length - offset);
            await SendAllAsync(bytes.Slice(offset, size)).ConfigureAwait(false);
            offset += size;
        }
    }

    /// <summary>A record marker (RFC 5531 §11) as bytes, for hand-made framing.</summary>
    public static byte[] Marker(int fragmentLength, bool isLast = true)
    {
        var marker = new byte[RecordMarking.MarkerLength];
        BinaryPrimitives.WriteUInt32BigEndian(marker, (uint)fragmentLength | (isLast ? RecordMarking.LastFragmentFlag : 0));
        return marker;
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            int sent = await _socket.SendAsync(bytes, SocketFlags.None).ConfigureAwait(false);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Closes gracefully (FIN): the client reads end-of-stream.</summary>
    public void Close()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    /// <summary>Closes abortively (RST): the client's next receive or send fails with a reset.</summary>
    public void Abort()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _socket.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Close();
        return ValueTask.CompletedTask;
    }
}
