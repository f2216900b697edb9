using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace NfsNs.Xdr;

/// <summary>
/// Decodes XDR (RFC 4506) from one complete record held in memory. Every read is bounds-checked, and every
/// variable-length item is read against a caller-supplied maximum, so a hostile length can neither overrun the
/// record nor make us allocate more than the item's declared limit.
/// </summary>
/// <remarks>
/// The reader works on <see cref="ReadOnlyMemory{T}"/> rather than a span so that bulk opaque data (READ payloads)
/// can be handed out as a slice of the record's buffer instead of a copy (<see cref="ReadOpaqueMemory"/>). The
/// record's owner decides when that buffer is returned; slices must not outlive it.
/// </remarks>
public ref struct XdrReader
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    public XdrReader(ReadOnlyMemory<byte> record)
    {
        _memory = record;
        _span = record.Span;
        _position = 0;
    }

    public readonly int Position => _position;
    public readonly int Remaining => _span.Length - _position;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if ((uint)count > (uint)(_span.Length - _position))
            throw new XdrException($"truncated XDR: {what} needs {count} bytes at offset {_position}, {Remaining} left");
        var slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4, "uint32"));
    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4, "int32"));
    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8, "uint64"));
    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8, "int64"));

    /// <summary>RFC 4506 §4.4: a boolean is an enum whose only legal values are 0 and 1.</summary>
    public bool ReadBool()
    {
        uint value = ReadUInt32();
        return value switch
        {
            0 => false,
            1 => true,
            _ => throw new XdrException($"invalid XDR boolean {value} at offset {_position - 4}"),
        };
    }

    /// <summary>Reads a length prefix and checks it against <paramref name="maxLength"/> before anything is taken.</summary>
    public int ReadLength(int maxLength, string what)
    {
        uint length = ReadUInt32();
        if (length > (uint)maxLength)
            throw new XdrException($"{what} length {length} exceeds its maximum of {maxLength}");
        return (int)length;
    }

    /// <summary>Fixed-length opaque (RFC 4506 §4.9): <paramref name="length"/> bytes plus padding to 4.</summary>
    public ReadOnlySpan<byte> ReadFixedOpaque(int length)
    {
        var data = Take(length, "fixed opaque");
        SkipPadding(length);
        return data;
    }

    /// <summary>Variable-length opaque (RFC 4506 §4.10) as a span over the record.</summary>
    public ReadOnlySpan<byte> ReadOpaque(int maxLength, string what = "opaque")
    {
        int length = ReadLength(maxLength, what);
        var data = Take(length, what);
        SkipPadding(length);
        return data;
    }

    /// <summary>Variable-length opaque as a slice of the record's memory: no copy. Valid while the record is.</summary>
    public ReadOnlyMemory<byte> ReadOpaqueMemory(int maxLength, string what = "opaque")
    {
        int length = ReadLength(maxLength, what);
        int start = _position;
        Take(length, what);
        SkipPadding(length);
        return _memory.Slice(start, length);
    }

    /// <summary>Variable-length opaque copied into a new array (for small items kept beyond the record: handles, verifiers).</summary>
    public byte[] ReadOpaqueArray(int maxLength, string what = "opaque") => ReadOpaque(maxLength, what).ToArray();

    /// <summary>String (RFC 4506 §4.11). Bytes that are not UTF-8 survive as escapes (<see cref="XdrText"/>).</summary>
    public string ReadString(int maxLength, string what = "string") => XdrText.Decode(ReadOpaque(maxLength, what));

    /// <summary>Optional data (RFC 4506 §4.19): a boolean "present" flag.</summary>
    public bool ReadOptionalFlag() => ReadBool();

    public void Skip(int count) => Take(count, "skipped data");

    private void SkipPadding(int length)
    {
        int pad = (4 - (length & 3)) & 3;
        if (pad == 0) return;
        // RFC 4506 §3: residual bytes are zero. Senders that pad with garbage are tolerated, as every
        // common implementation does; only the bounds matter for safety.
        Take(pad, "padding");
    }

    /// <summary>Throws unless every byte of the record was consumed (trailing garbage after a complete body).</summary>
    public readonly void EnsureFullyConsumed(string what)
    {
        if (Remaining != 0)
            throw new XdrException($"{Remaining} unexpected bytes after {what}");
    }
}
