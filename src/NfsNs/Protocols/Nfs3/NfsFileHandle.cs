using NfsNs.Xdr;

namespace NfsNs.Protocols.Nfs3;

/// <summary>
/// nfs_fh3 (RFC 1813 §2.5): an opaque handle of at most <see cref="Nfs3.MaxFileHandleSize"/> bytes, compared by
/// content. MOUNT v3's fhandle3 has the same encoding and limit. The bytes are copied in and never exposed
/// mutably, so a handle is a safe dictionary key.
/// </summary>
public readonly struct NfsFileHandle : IEquatable<NfsFileHandle>, IXdrWritable
{
    private readonly byte[]? _bytes;

    public NfsFileHandle(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > Nfs3.MaxFileHandleSize)
            throw new ArgumentException(
                $"an NFSv3 file handle is at most {Nfs3.MaxFileHandleSize} bytes, got {bytes.Length}", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    // Takes ownership of an array the caller has just created and checked.
    private NfsFileHandle(byte[] owned) => _bytes = owned;

    public ReadOnlySpan<byte> Bytes => _bytes;
    public int Length => _bytes?.Length ?? 0;
    public bool IsEmpty => Length == 0;

    /// <summary>Parses the hexadecimal form that <see cref="ToString"/> prints.</summary>
    public static NfsFileHandle Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new FormatException($"a file handle is written as an even number of hexadecimal digits, got \"{hex}\"");
        }
        return new NfsFileHandle(bytes.AsSpan());
    }

    public static NfsFileHandle Read(ref XdrReader reader) =>
        new(reader.ReadOpaqueArray(Nfs3.MaxFileHandleSize, "nfs_fh3"));

    public void Write(XdrWriter writer) => writer.WriteOpaque(Bytes);

    /// <summary>post_op_fh3 (RFC 1813 §2.6): a handle that may be absent.</summary>
    public static NfsFileHandle? ReadOptional(ref XdrReader reader) =>
        reader.ReadOptionalFlag() ? Read(ref reader) : null;

    public static void WriteOptional(XdrWriter writer, NfsFileHandle? handle)
    {
        writer.WriteBool(handle.HasValue);
        handle?.Write(writer);
    }

    public bool Equals(NfsFileHandle other) => Bytes.SequenceEqual(other.Bytes);
    public override bool Equals(object? obj) => obj is NfsFileHandle other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes);
        return hash.ToHashCode();
    }

    public static bool operator ==(NfsFileHandle left, NfsFileHandle right) => left.Equals(right);
    public static bool operator !=(NfsFileHandle left, NfsFileHandle right) => !left.Equals(right);

    /// <summary>Lower-case hexadecimal, as exportfs and nfs-utils print handles.</summary>
    public override string ToString() => Convert.ToHexStringLower(Bytes);
}
