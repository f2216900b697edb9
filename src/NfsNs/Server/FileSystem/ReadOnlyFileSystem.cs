namespace NfsNs.Server.FileSystem;

/// <summary>
/// A read-only export: every mutation fails with <see cref="FileSystemError.ReadOnly"/> (NFS3ERR_ROFS) for every
/// caller, root included, and ACCESS never grants Modify, Extend or Delete.
/// </summary>
public sealed class ReadOnlyFileSystem(IFileSystem inner) : DelegatingFileSystem(inner)
{
    private static FileSystemException ReadOnly(string operation) =>
        new(FileSystemError.ReadOnly, $"{operation} on a read-only export");

    public override async ValueTask<AccessRights> AccessAsync(CallerIdentity caller, FileHandle file, AccessRights requested,
        CancellationToken cancellationToken) =>
        await Inner.AccessAsync(caller, file, requested, cancellationToken).ConfigureAwait(false)
            & ~(AccessRights.Modify | AccessRights.Extend | AccessRights.Delete);

    public override ValueTask<FileAttributes> SetAttributesAsync(CallerIdentity caller, FileHandle file, AttributeChanges changes,
        FileTime? guardChangeTime, CancellationToken cancellationToken) => throw ReadOnly("SETATTR");

    public override ValueTask<WriteResult> WriteAsync(CallerIdentity caller, FileHandle file, ulong offset, ReadOnlyMemory<byte> data,
        WriteStability stability, CancellationToken cancellationToken) => throw ReadOnly("WRITE");

    public override ValueTask CommitAsync(CallerIdentity caller, FileHandle file, ulong offset, uint count,
        CancellationToken cancellationToken) => throw ReadOnly("COMMIT");

    public override ValueTask<FileObject> CreateAsync(CallerIdentity caller, FileHandle directory, string name, CreateMode mode,
        AttributeChanges attributes, ulong verifier, CancellationToken cancellationToken) => throw ReadOnly("CREATE");

    public override ValueTask<FileObject> MakeDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        AttributeChanges attributes, CancellationToken cancellationToken) => throw ReadOnly("MKDIR");

    public override ValueTask<FileObject> SymlinkAsync(CallerIdentity caller, FileHandle directory, string name, string target,
        AttributeChanges attributes, CancellationToken cancellationToken) => throw ReadOnly("SYMLINK");

    public override ValueTask<FileObject> MakeNodeAsync(CallerIdentity caller, FileHandle directory, string name, FileType type,
        DeviceNumber device, AttributeChanges attributes, CancellationToken cancellationToken) => throw ReadOnly("MKNOD");

    public override ValueTask RemoveAsync(CallerIdentity caller, FileHandle directory, string name,
        CancellationToken cancellationToken) => throw ReadOnly("REMOVE");

    public override ValueTask RemoveDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        CancellationToken cancellationToken) => throw ReadOnly("RMDIR");

    public override ValueTask RenameAsync(CallerIdentity caller, FileHandle fromDirectory, string fromName, FileHandle toDirectory,
        string toName, CancellationToken cancellationToken) => throw ReadOnly("RENAME");

    public override ValueTask<FileAttributes> LinkAsync(CallerIdentity caller, FileHandle file, FileHandle toDirectory, string toName,
        CancellationToken cancellationToken) => throw ReadOnly("LINK");
}
