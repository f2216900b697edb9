namespace NfsNs.Server.FileSystem;

/// <summary>
/// Forwards every operation to an inner file system after <see cref="MapCaller"/>; export policies (read-only,
/// squashing) derive from it and override only what they change.
/// </summary>
public abstract class DelegatingFileSystem(IFileSystem inner) : IFileSystem
{
    protected IFileSystem Inner { get; } = inner;

    protected virtual CallerIdentity MapCaller(CallerIdentity caller) => caller;

    public virtual FileHandle RootHandle => Inner.RootHandle;

    public virtual ValueTask<FileAttributes> GetAttributesAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        Inner.GetAttributesAsync(MapCaller(caller), file, cancellationToken);

    public virtual ValueTask<FileAttributes> SetAttributesAsync(CallerIdentity caller, FileHandle file, AttributeChanges changes,
        FileTime? guardChangeTime, CancellationToken cancellationToken) =>
        Inner.SetAttributesAsync(MapCaller(caller), file, changes, guardChangeTime, cancellationToken);

    public virtual ValueTask<FileObject> LookupAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken) =>
        Inner.LookupAsync(MapCaller(caller), directory, name, cancellationToken);

    public virtual ValueTask<AccessRights> AccessAsync(CallerIdentity caller, FileHandle file, AccessRights requested, CancellationToken cancellationToken) =>
        Inner.AccessAsync(MapCaller(caller), file, requested, cancellationToken);

    public virtual ValueTask<string> ReadLinkAsync(CallerIdentity caller, FileHandle link, CancellationToken cancellationToken) =>
        Inner.ReadLinkAsync(MapCaller(caller), link, cancellationToken);

    public virtual ValueTask<ReadResult> ReadAsync(CallerIdentity caller, FileHandle file, ulong offset, Memory<byte> destination,
        CancellationToken cancellationToken) =>
        Inner.ReadAsync(MapCaller(caller), file, offset, destination, cancellationToken);

    public virtual ValueTask<WriteResult> WriteAsync(CallerIdentity caller, FileHandle file, ulong offset, ReadOnlyMemory<byte> data,
        WriteStability stability, CancellationToken cancellationToken) =>
        Inner.WriteAsync(MapCaller(caller), file, offset, data, stability, cancellationToken);

    public virtual ValueTask CommitAsync(CallerIdentity caller, FileHandle file, ulong offset, uint count, CancellationToken cancellationToken) =>
        Inner.CommitAsync(MapCaller(caller), file, offset, count, cancellationToken);

    public virtual ValueTask<FileObject> CreateAsync(CallerIdentity caller, FileHandle directory, string name, CreateMode mode,
        AttributeChanges attributes, ulong verifier, CancellationToken cancellationToken) =>
        Inner.CreateAsync(MapCaller(caller), directory, name, mode, attributes, verifier, cancellationToken);

    public virtual ValueTask<FileObject> MakeDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        AttributeChanges attributes, CancellationToken cancellationToken) =>
        Inner.MakeDirectoryAsync(MapCaller(caller), directory, name, attributes, cancellationToken);

    public virtual ValueTask<FileObject> SymlinkAsync(CallerIdentity caller, FileHandle directory, string name, string target,
        AttributeChanges attributes, CancellationToken cancellationToken) =>
        Inner.SymlinkAsync(MapCaller(caller), directory, name, target, attributes, cancellationToken);

    public virtual ValueTask<FileObject> MakeNodeAsync(CallerIdentity caller, FileHandle directory, string name, FileType type,
        DeviceNumber device, AttributeChanges attributes, CancellationToken cancellationToken) =>
        Inner.MakeNodeAsync(MapCaller(caller), directory, name, type, device, attributes, cancellationToken);

    public virtual ValueTask RemoveAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken) =>
        Inner.RemoveAsync(MapCaller(caller), directory, name, cancellationToken);

    public virtual ValueTask RemoveDirectoryAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken) =>
        Inner.RemoveDirectoryAsync(MapCaller(caller), directory, name, cancellationToken);

    public virtual ValueTask RenameAsync(CallerIdentity caller, FileHandle fromDirectory, string fromName, FileHandle toDirectory,
        string toName, CancellationToken cancellationToken) =>
        Inner.RenameAsync(MapCaller(caller), fromDirectory, fromName, toDirectory, toName, cancellationToken);

    public virtual ValueTask<FileAttributes> LinkAsync(CallerIdentity caller, FileHandle file, FileHandle toDirectory, string toName,
        CancellationToken cancellationToken) =>
        Inner.LinkAsync(MapCaller(caller), file, toDirectory, toName, cancellationToken);

    public virtual ValueTask<DirectoryPage> ReadDirectoryAsync(CallerIdentity caller, FileHandle directory, ulong cookie,
        ulong cookieVerifier, int maxEntries, bool withObjects, CancellationToken cancellationToken) =>
        Inner.ReadDirectoryAsync(MapCaller(caller), directory, cookie, cookieVerifier, maxEntries, withObjects, cancellationToken);

    public virtual ValueTask<FileSystemStatistics> GetStatisticsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        Inner.GetStatisticsAsync(MapCaller(caller), file, cancellationToken);

    public virtual ValueTask<FileSystemLimits> GetLimitsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        Inner.GetLimitsAsync(MapCaller(caller), file, cancellationToken);
}
