using System.Buffers.Binary;

namespace NfsNs.Rpc;

/// <summary>
/// Record marking for stream transports (RFC 5531 §11): each record is sent as one or more fragments, each
/// preceded by a 4-byte big-endian marker whose high bit says "last fragment of the record" and whose low 31 bits
/// give the fragment's length.
/// </summary>
public static class RecordMarking
{
    public const int MarkerLength = 4;
    public const uint LastFragmentFlag = 0x8000_0000;
    public const int MaxFragmentLength = 0x7FFF_FFFF;

    public static void WriteMarker(Span<byte> destination, int fragmentLength, bool isLastFragment)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fragmentLength);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)fragmentLength | (isLastFragment ? LastFragmentFlag : 0));
    }

    public static (int FragmentLength, bool IsLastFragment) ReadMarker(ReadOnlySpan<byte> source)
    {
        uint marker = BinaryPrimitives.ReadUInt32BigEndian(source);
        return ((int)(marker & ~LastFragmentFlag), (marker & LastFragmentFlag) != 0);
    }

    /// <summary>
    /// Starts a single-fragment record in <paramref name="output"/>: reserves the marker's 4 bytes, to be filled by
    /// <see cref="CompleteSingleFragmentRecord"/> once the record's body is written after it.
    /// </summary>
    public static void BeginSingleFragmentRecord(PooledBufferWriter output)
    {
        if (output.WrittenCount != 0)
            throw new InvalidOperationException("a record must start at the beginning of its buffer");
        output.GetSpan(MarkerLength);
        output.Advance(MarkerLength);
    }

    /// <summary>Fills the marker reserved by <see cref="BeginSingleFragmentRecord"/> with the body's length.</summary>
    public static void CompleteSingleFragmentRecord(PooledBufferWriter output)
    {
        int bodyLength = output.WrittenCount - MarkerLength;
        if (bodyLength < 0)
            throw new InvalidOperationException("the record was not begun with BeginSingleFragmentRecord");
        WriteMarker(output.WrittenSpanForUpdate, bodyLength, isLastFragment: true);
    }
}
