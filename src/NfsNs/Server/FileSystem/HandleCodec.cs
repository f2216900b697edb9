using System.Buffers.Binary;
using System.Security.Cryptography;

namespace NfsNs.Server.FileSystem;

/// <summary>
/// Turns a backend's file identity into an authenticated opaque handle and back.
/// Layout: version (1) | export id (4, big-endian) | identity length (1) | identity | HMAC-SHA256 over everything
/// before it, truncated to <see cref="MacLength"/> bytes and keyed by the export's secret.
/// A handle that fails any check (length, version, export, MAC) is <see cref="FileSystemError.BadHandle"/>: clients
/// cannot forge handles to objects they never looked up, nor reuse handles of another export.
/// With the secret persisted (<see cref="LoadOrCreateSecret"/>) and a backend identity that survives restarts (the
/// local backend embeds the kernel's name_to_handle_at handle), handles stay valid across server restarts.
/// </summary>
public sealed class HandleCodec
{
    public const int MacLength = 12;
    public const int SecretLength = 32;
    private const byte Version = 1;
    private const int HeaderLength = 1 + 4 + 1;

    /// <summary>The longest identity that still fits a 64-byte NFSv3 handle.</summary>
    public const int MaxIdentityLength = FileHandle.MaxLength - HeaderLength - MacLength;

    private readonly byte[] _secret;

    public uint ExportId { get; }

    public HandleCodec(uint exportId, ReadOnlySpan<byte> secret)
    {
        if (secret.Length < 16)
            throw new ArgumentException($"the handle secret needs at least 16 bytes, got {secret.Length}", nameof(secret));
        ExportId = exportId;
        _secret = secret.ToArray();
    }

    /// <summary>A codec with a fresh random secret: handles die with the instance (fine for in-memory exports).</summary>
    public static HandleCodec CreateEphemeral(uint exportId) => new(exportId, RandomNumberGenerator.GetBytes(SecretLength));

    public FileHandle Encode(ReadOnlySpan<byte> identity)
    {
        if (identity.Length > MaxIdentityLength)
            throw new FileSystemException(FileSystemError.NotSupported,
                $"a file identity of {identity.Length} bytes does not fit a handle (at most {MaxIdentityLength})");
        Span<byte> handle = stackalloc byte[HeaderLength + identity.Length + MacLength];
        handle[0] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(handle[1..], ExportId);
        handle[5] = (byte)identity.Length;
        identity.CopyTo(handle[HeaderLength..]);
        ComputeMac(handle[..^MacLength], handle[^MacLength..]);
        return new FileHandle(handle);
    }

    /// <summary>The identity inside an authentic handle; <see cref="FileSystemError.BadHandle"/> otherwise.</summary>
    public ReadOnlySpan<byte> Decode(FileHandle handle)
    {
        ReadOnlySpan<byte> bytes = handle.Span;
        if (bytes.Length < HeaderLength + MacLength)
            throw BadHandle($"{bytes.Length} bytes is too short");
        if (bytes[0] != Version)
            throw BadHandle($"unknown handle version {bytes[0]}");
        int identityLength = bytes[5];
        if (bytes.Length != HeaderLength + identityLength + MacLength)
            throw BadHandle($"length {bytes.Length} does not match its identity length {identityLength}");
        Span<byte> expected = stackalloc byte[MacLength];
        ComputeMac(bytes[..^MacLength], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes[^MacLength..]))
            throw BadHandle("the MAC does not match (forged, tampered or from another export or secret)");
        // Checked after the MAC so the answer does not tell an attacker which export ids exist.
        uint exportId = BinaryPrimitives.ReadUInt32BigEndian(bytes[1..]);
        if (exportId != ExportId)
            throw BadHandle($"the handle belongs to export {exportId}, not {ExportId}");
        return bytes.Slice(HeaderLength, identityLength);
    }

    private void ComputeMac(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_secret, data, full);
        full[..destination.Length].CopyTo(destination);
    }

    private static FileSystemException BadHandle(string why) => new(FileSystemError.BadHandle, $"bad file handle: {why}");

    /// <summary>
    /// Reads the export's secret from <paramref name="path"/>, or creates it once with mode 0600 (created under a
    /// temporary name and linked into place, so concurrent starts agree on one secret). Keep the file to keep
    /// handles valid across restarts; deleting it invalidates every handle clients hold (they get BadHandle).
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static byte[] LoadOrCreateSecret(string path)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (File.Exists(path))
            {
                byte[] existing = File.ReadAllBytes(path);
                if (existing.Length < 16)
                    throw new InvalidDataException($"handle secret file {path} holds {existing.Length} bytes, expected {SecretLength}");
                return existing;
            }
            string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(RandomNumberGenerator.GetBytes(SecretLength));
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: use theirs.
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        return File.ReadAllBytes(path);
    }
}
