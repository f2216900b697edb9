namespace NfsNs.Server.FileSystem;

/// <summary>
/// An opaque file handle as it travels on the wire. Only the backend that issued it can interpret it (through its
/// <see cref="HandleCodec"/>); protocol handlers just copy the bytes. At most 64 bytes, the NFSv3 limit
/// (NFS3_FHSIZE, RFC 1813 section 2.4); NFSv4 allows 128, so one handle serves both.
/// </summary>
public sealed class FileHandle : IEquatable<FileHandle>
{
    public const int MaxLength = 64;

    private readonly byte[] _bytes;

    public FileHandle(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length is 0 or > MaxLength)
            throw new FileSystemException(FileSystemError.BadHandle, $"a file handle has 1..{MaxLength} bytes, not {bytes.Length}");
        _bytes = bytes.ToArray();
    }

    public ReadOnlySpan<byte> Span => _bytes;

    public ReadOnlyMemory<byte> Memory => _bytes;

    public int Length => _bytes.Length;

    public bool Equals(FileHandle? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as FileHandle);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    public override string ToString() => Convert.ToHexStringLower(_bytes);
}
