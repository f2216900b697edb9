using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace NfsNs.Rpc;

/// <summary>
/// Reads whole records (RFC 5531 §11) from a byte stream into pooled buffers: frame first, decode second.
/// Fragments are joined, markers may arrive split at any byte, and a record whose fragments announce more than
/// the cap fails the stream before anything is allocated for it.
/// </summary>
/// <remarks>
/// Bytes go through a small receive buffer, except the bulk of a large fragment, which is received straight into
/// the record's buffer. The record buffer grows as bytes arrive (never past what the markers announced so far,
/// which is never past the cap), so a peer that announces a large record and sends nothing costs little memory.
/// Not thread-safe: one reader loop per stream.
/// </remarks>
public sealed class RecordReader : IDisposable
{
    /// <summary>Receives up to <c>buffer.Length</c> bytes; 0 means the peer closed the stream.</summary>
    public delegate ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    public const int DefaultReceiveBufferSize = 64 * 1024;

    /// <summary>Fragment remainders at least this long skip the receive buffer and land in the record directly.</summary>
    private const int DirectReceiveThreshold = 4096;

    /// <summary>
    /// Up to this much of an announced record is allocated at once (one rent for a typical 1 MiB READ reply);
    /// beyond it the buffer only doubles as bytes actually arrive.
    /// </summary>
    private const int EagerAllocationLimit = 2 * 1024 * 1024;

    private readonly ReceiveAsync _receive;
    private readonly int _maxRecordSize;
    private readonly ArrayPool<byte> _pool;
    private byte[]? _receiveBuffer;
    private int _start;
    private int _end;
    private long _bytesReceived;

    public RecordReader(Socket socket, int maxRecordSize, ArrayPool<byte>? pool = null)
        : this((buffer, ct) => socket.ReceiveAsync(buffer, SocketFlags.None, ct), maxRecordSize, pool)
    {
    }

    public RecordReader(ReceiveAsync receive, int maxRecordSize, ArrayPool<byte>? pool = null, int receiveBufferSize = DefaultReceiveBufferSize)
    {
        ArgumentNullException.ThrowIfNull(receive);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRecordSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(receiveBufferSize, RecordMarking.MarkerLength);
        _receive = receive;
        _maxRecordSize = maxRecordSize;
        _pool = pool ?? ArrayPool<byte>.Shared;
        _receiveBuffer = _pool.Rent(receiveBufferSize);
    }

    public int MaxRecordSize => _maxRecordSize;

    /// <summary>Every byte received from the stream so far, markers included.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>
    /// Reads the next whole record. Returns null when the peer closed the stream between records; throws
    /// <see cref="RpcProtocolException"/> for a record over the cap and <see cref="RpcConnectionException"/> when
    /// the stream ends inside a record. After an exception the stream's framing is lost: close it.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<RpcRecord?> ReadRecordAsync(CancellationToken cancellationToken = default)
    {
        byte[]? record = null;
        int length = 0;
        try
        {
            while (true)
            {
                if (!await FillAtLeastAsync(RecordMarking.MarkerLength, cancellationToken).ConfigureAwait(false))
                {
                    if (record is null && length == 0 && _start == _end) return null;
                    throw new RpcConnectionException(
                        $"the peer closed the connection inside a record ({length} bytes of fragments and {_end - _start} bytes of a record marker received)");
                }
                var (fragmentLength, isLast) = RecordMarking.ReadMarker(ReceiveBuffer.AsSpan(_start));
                _start += RecordMarking.MarkerLength;
                long announced = (long)length + fragmentLength;
                if (announced > _maxRecordSize)
                    throw new RpcProtocolException(
                        $"the peer announced a record of at least {announced} bytes (fragment of {fragmentLength} bytes after {length}), over the limit of {_maxRecordSize} bytes");

                int remaining = fragmentLength;
                while (remaining > 0)
                {
                    int buffered = _end - _start;
                    if (buffered > 0)
                    {
                        int count = Math.Min(buffered, remaining);
                        record = EnsureCapacity(record, length, length + count, announced);
                        ReceiveBuffer.AsSpan(_start, count).CopyTo(record.AsSpan(length));
                        _start += count;
                        length += count;
                        remaining -= count;
                    }
                    else if (remaining >= DirectReceiveThreshold)
                    {
                        record = EnsureCapacity(record, length, length + Math.Min(remaining, DefaultReceiveBufferSize), announced);
                        int room = Math.Min(remaining, record.Length - length);
                        int received = await _receive(record.AsMemory(length, room), cancellationToken).ConfigureAwait(false);
                        if (received <= 0)
                            throw new RpcConnectionException(
                                $"the peer closed the connection inside a record ({length} of at least {announced} bytes received)");
                        _bytesReceived += received;
                        length += received;
                        remaining -= received;
                    }
                    else if (!await ReceiveMoreAsync(cancellationToken).ConfigureAwait(false))
                    {
                        throw new RpcConnectionException(
                            $"the peer closed the connection inside a record ({length} of at least {announced} bytes received)");
                    }
                }

                if (isLast)
                {
                    var complete = record is null ? RpcRecord.Empty() : new RpcRecord(record, length, _pool);
                    record = null;
                    return complete;
                }
            }
        }
        finally
        {
            if (record is not null) _pool.Return(record);
        }
    }

    private byte[] ReceiveBuffer => _receiveBuffer ?? throw new ObjectDisposedException(nameof(RecordReader));

    /// <summary>Makes the record buffer hold at least <paramref name="required"/> bytes, keeping the first <paramref name="length"/>.</summary>
    private byte[] EnsureCapacity(byte[]? record, int length, int required, long announced)
    {
        int capacity = record?.Length ?? 0;
        if (capacity >= required) return record!;
        // Grow geometrically, but never past what the markers announced so far (which the cap already bounds).
        long target = Math.Max(required, Math.Min(announced, Math.Max(2L * capacity, EagerAllocationLimit)));
        var bigger = _pool.Rent((int)target);
        if (record is not null)
        {
            record.AsSpan(0, length).CopyTo(bigger);
            _pool.Return(record);
        }
        return bigger;
    }

    /// <summary>Receives until at least <paramref name="count"/> bytes are buffered; false if the stream ended first.</summary>
    private async ValueTask<bool> FillAtLeastAsync(int count, CancellationToken cancellationToken)
    {
        while (_end - _start < count)
        {
            if (!await ReceiveMoreAsync(cancellationToken).ConfigureAwait(false))
                return false;
        }
        return true;
    }

    /// <summary>One receive into the free end of the receive buffer (compacting it first); false at end of stream.</summary>
    private async ValueTask<bool> ReceiveMoreAsync(CancellationToken cancellationToken)
    {
        var buffer = ReceiveBuffer;
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == buffer.Length)
        {
            buffer.AsSpan(_start, _end - _start).CopyTo(buffer);
            _end -= _start;
            _start = 0;
        }
        int received = await _receive(buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        if (received <= 0) return false;
        _bytesReceived += received;
        _end += received;
        return true;
    }

    public void Dispose()
    {
        var buffer = _receiveBuffer;
        _receiveBuffer = null;
        if (buffer is not null) _pool.Return(buffer);
    }
}
