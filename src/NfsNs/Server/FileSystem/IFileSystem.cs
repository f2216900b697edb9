namespace NfsNs.Server.FileSystem;

/// <summary>
/// The storage behind an export, for every protocol version (NFSv3 now, NFSv4.1 later): objects are named by opaque
/// <see cref="FileHandle"/>s, every call carries the caller's identity so the backend checks permissions as the
/// caller, and every failure is a <see cref="FileSystemException"/> with a protocol-neutral
/// <see cref="FileSystemError"/>. Names are single path components; "." and ".." are only meaningful to
/// <see cref="LookupAsync"/>, where ".." of the root is the root itself.
/// </summary>
public interface IFileSystem
{
    /// <summary>The handle of the export's root directory.</summary>
    FileHandle RootHandle { get; }

    ValueTask<FileAttributes> GetAttributesAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken);

    /// <summary>
    /// Applies <paramref name="changes"/>. With <paramref name="guardChangeTime"/> set, fails with
    /// <see cref="FileSystemError.NotSync"/> unless the object's ctime equals it (RFC 1813 section 3.3.2).
    /// </summary>
    ValueTask<FileAttributes> SetAttributesAsync(CallerIdentity caller, FileHandle file, AttributeChanges changes,
        FileTime? guardChangeTime, CancellationToken cancellationToken);

    ValueTask<FileObject> LookupAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken);

    /// <summary>The subset of <paramref name="requested"/> the caller is granted.</summary>
    ValueTask<AccessRights> AccessAsync(CallerIdentity caller, FileHandle file, AccessRights requested, CancellationToken cancellationToken);

    ValueTask<string> ReadLinkAsync(CallerIdentity caller, FileHandle link, CancellationToken cancellationToken);

    /// <summary>Reads up to destination.Length bytes; EndOfFile is true exactly when the read reached the end.</summary>
    ValueTask<ReadResult> ReadAsync(CallerIdentity caller, FileHandle file, ulong offset, Memory<byte> destination,
        CancellationToken cancellationToken);

    ValueTask<WriteResult> WriteAsync(CallerIdentity caller, FileHandle file, ulong offset, ReadOnlyMemory<byte> data,
        WriteStability stability, CancellationToken cancellationToken);

    /// <summary>Makes earlier unstable writes in the range durable; count 0 means to the end of the file.</summary>
    ValueTask CommitAsync(CallerIdentity caller, FileHandle file, ulong offset, uint count, CancellationToken cancellationToken);

    /// <summary>
    /// Creates a regular file. Unchecked truncates an existing file when attributes set a size; Guarded fails with
    /// Exists; Exclusive stores <paramref name="verifier"/> so a retry with the same verifier returns the same file
    /// and a different one fails with Exists (RFC 1813 section 3.3.8). Exclusive ignores <paramref name="attributes"/>.
    /// </summary>
    ValueTask<FileObject> CreateAsync(CallerIdentity caller, FileHandle directory, string name, CreateMode mode,
        AttributeChanges attributes, ulong verifier, CancellationToken cancellationToken);

    ValueTask<FileObject> MakeDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        AttributeChanges attributes, CancellationToken cancellationToken);

    ValueTask<FileObject> SymlinkAsync(CallerIdentity caller, FileHandle directory, string name, string target,
        AttributeChanges attributes, CancellationToken cancellationToken);

    /// <summary>Creates a FIFO, socket or device node; BadType for other types, NotSupported where impossible.</summary>
    ValueTask<FileObject> MakeNodeAsync(CallerIdentity caller, FileHandle directory, string name, FileType type,
        DeviceNumber device, AttributeChanges attributes, CancellationToken cancellationToken);

    /// <summary>Removes a non-directory entry.</summary>
    ValueTask RemoveAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken);

    ValueTask RemoveDirectoryAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken);

    /// <summary>POSIX rename(2): replaces a target of a compatible type (an empty directory by a directory).</summary>
    ValueTask RenameAsync(CallerIdentity caller, FileHandle fromDirectory, string fromName, FileHandle toDirectory,
        string toName, CancellationToken cancellationToken);

    ValueTask<FileAttributes> LinkAsync(CallerIdentity caller, FileHandle file, FileHandle toDirectory, string toName,
        CancellationToken cancellationToken);

    /// <summary>
    /// Lists up to <paramref name="maxEntries"/> entries (including "." and "..") after <paramref name="cookie"/>
    /// (0 = from the start). With <paramref name="withObjects"/> entries carry handles and attributes (READDIRPLUS).
    /// </summary>
    ValueTask<DirectoryPage> ReadDirectoryAsync(CallerIdentity caller, FileHandle directory, ulong cookie,
        ulong cookieVerifier, int maxEntries, bool withObjects, CancellationToken cancellationToken);

    ValueTask<FileSystemStatistics> GetStatisticsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken);

    ValueTask<FileSystemLimits> GetLimitsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken);
}
