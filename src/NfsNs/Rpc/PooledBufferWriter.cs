using System.Buffers;

namespace NfsNs.Rpc;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over arrays rented from <see cref="ArrayPool{T}"/>: grows by doubling and
/// returns its array on <see cref="Dispose"/>. Used to encode each outgoing record once and keep its bytes until
/// the reply arrives (a retransmission sends the very same bytes).
/// </summary>
public sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private readonly ArrayPool<byte> _pool;
    private byte[]? _buffer;
    private int _written;

    public PooledBufferWriter(int initialCapacity = 1024, ArrayPool<byte>? pool = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialCapacity);
        _pool = pool ?? ArrayPool<byte>.Shared;
        _buffer = _pool.Rent(initialCapacity);
    }

    public int WrittenCount => _written;
    public ReadOnlyMemory<byte> WrittenMemory => Buffer.AsMemory(0, _written);
    public ReadOnlySpan<byte> WrittenSpan => Buffer.AsSpan(0, _written);

    /// <summary>The written bytes, writable: for patching a length or marker reserved at the start.</summary>
    public Span<byte> WrittenSpanForUpdate => Buffer.AsSpan(0, _written);

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(PooledBufferWriter));

    /// <summary>
    /// Forgets everything written after the first <paramref name="count"/> bytes, keeping the buffer: for replacing
    /// a half-written reply body with an error reply.
    /// </summary>
    public void Truncate(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)_written, nameof(count));
        _written = count;
    }

    public void Advance(int count)
    {
        if (count < 0 || _written + count > Buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(count), $"cannot advance {count} bytes past the {Buffer.Length - _written} requested");
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        return EnsureRoom(sizeHint).AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        return EnsureRoom(sizeHint).AsSpan(_written);
    }

    private byte[] EnsureRoom(int sizeHint)
    {
        var buffer = Buffer;
        int needed = Math.Max(sizeHint, 1);
        if (buffer.Length - _written >= needed) return buffer;
        long target = Math.Max((long)_written + needed, 2L * buffer.Length);
        if (target > Array.MaxLength)
        {
            target = (long)_written + needed;
            if (target > Array.MaxLength)
                throw new InvalidOperationException($"cannot encode a record larger than {Array.MaxLength} bytes");
        }
        var bigger = _pool.Rent((int)target);
        buffer.AsSpan(0, _written).CopyTo(bigger);
        _buffer = bigger;
        _pool.Return(buffer);
        return bigger;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        if (buffer is null) return;
        _buffer = null;
        _written = 0;
        _pool.Return(buffer);
    }
}
