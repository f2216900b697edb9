using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace NfsNs.Xdr;

/// <summary>
/// Encodes XDR (RFC 4506) into any <see cref="IBufferWriter{T}"/>: big-endian, every item padded to a multiple of
/// four bytes with zeros. The writer holds no state of its own (the buffer writer does), so it can be passed by value.
/// </summary>
public readonly struct XdrWriter(IBufferWriter<byte> output)
{
    public IBufferWriter<byte> Output => output;

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(output.GetSpan(4), value);
        output.Advance(4);
    }

    public void WriteInt32(int value) => WriteUInt32((uint)value);

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    public void WriteInt64(long value) => WriteUInt64((ulong)value);

    public void WriteBool(bool value) => WriteUInt32(value ? 1u : 0u);

    /// <summary>Fixed-length opaque: the bytes and their padding, no length.</summary>
    public void WriteFixedOpaque(ReadOnlySpan<byte> data)
    {
        int padded = Padded(data.Length);
        var span = output.GetSpan(padded);
        data.CopyTo(span);
        span.Slice(data.Length, padded - data.Length).Clear();
        output.Advance(padded);
    }

    /// <summary>Variable-length opaque: length, bytes, padding.</summary>
    public void WriteOpaque(ReadOnlySpan<byte> data)
    {
        WriteUInt32((uint)data.Length);
        WriteFixedOpaque(data);
    }

    /// <summary>String as UTF-8 bytes (escapes of <see cref="XdrText"/> as their original bytes) with a length prefix.</summary>
    public void WriteString(string value)
    {
        int length = XdrText.GetByteCount(value);
        WriteUInt32((uint)length);
        int padded = Padded(length);
        var span = output.GetSpan(padded);
        XdrText.Encode(value, span);
        span.Slice(length, padded - length).Clear();
        output.Advance(padded);
    }

    public static int Padded(int length) => (length + 3) & ~3;
}
