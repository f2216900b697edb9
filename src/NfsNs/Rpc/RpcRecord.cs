using System.Buffers;

namespace NfsNs.Rpc;

/// <summary>
/// One received record in a pooled buffer, owned by exactly one party at a time: the reader loop hands it to the
/// waiting caller, who disposes it once the reply is decoded. Slices of <see cref="Memory"/> (bulk READ data) are
/// valid only until then.
/// </summary>
public sealed class RpcRecord : IDisposable
{
    private byte[]? _buffer;
    private readonly int _length;
    private readonly ArrayPool<byte>? _pool;

    /// <summary>Takes ownership of <paramref name="buffer"/>, to be returned to <paramref name="pool"/> on dispose.</summary>
    public RpcRecord(byte[] buffer, int length, ArrayPool<byte>? pool)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)length, (uint)buffer.Length, nameof(length));
        _buffer = buffer;
        _length = length;
        _pool = pool;
    }

    public static RpcRecord Empty() => new([], 0, null);

    public int Length => _length;

    public ReadOnlyMemory<byte> Memory =>
        (_buffer ?? throw new ObjectDisposedException(nameof(RpcRecord), "the record's buffer was already returned to the pool")).AsMemory(0, _length);

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null && _pool is not null && buffer.Length > 0)
            _pool.Return(buffer);
    }
}
