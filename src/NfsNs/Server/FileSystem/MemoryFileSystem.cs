using System.Buffers.Binary;

namespace NfsNs.Server.FileSystem;

/// <summary>
/// A thread-safe in-memory <see cref="IFileSystem"/>, for tests and for programs that serve virtual content.
/// File data is stored in fixed-size chunks allocated on first write, so holes cost nothing (a 5 GiB sparse file
/// is a few chunks). Directory entries get increasing cookies when they are added; a listing resumes after any
/// cookie the directory issued, even after the directory changed. One lock serialises all operations.
/// </summary>
public sealed class MemoryFileSystem : IFileSystem
{
    private const int ChunkSize = 64 * 1024;
    private const ulong DotCookie = 1, DotDotCookie = 2, FirstEntryCookie = 3;
    private const uint MaxLinks = 65000;
    public const ulong MaxFileSize = long.MaxValue;

    private readonly object _gate = new();
    private readonly Dictionary<ulong, Node> _nodes = [];
    private readonly HandleCodec _codec;
    private readonly ulong _fileSystemId;
    private readonly ulong _capacityBytes;
    private readonly Node _root;
    private ulong _nextId = 1;

    public FileHandle RootHandle { get; }

    /// <param name="codec">Handle codec; by default an ephemeral one (handles die with the instance).</param>
    /// <param name="capacityBytes">What FSSTAT reports as the size; writes beyond it fail with NoSpace.</param>
    public MemoryFileSystem(HandleCodec? codec = null, ulong fileSystemId = 1, ulong capacityBytes = 1UL << 40,
        uint rootUid = 0, uint rootGid = 0, uint rootMode = 0x1ED /* 0755 */)
    {
        _codec = codec ?? HandleCodec.CreateEphemeral(exportId: 0);
        _fileSystemId = fileSystemId;
        _capacityBytes = capacityBytes;
        _root = NewNode(FileType.Directory, rootMode, rootUid, rootGid, parent: null);
        RootHandle = HandleOf(_root);
    }

    private sealed class Node(ulong id, FileType type)
    {
        public readonly ulong Id = id;
        public readonly FileType Type = type;
        public uint Mode, Uid, Gid, LinkCount;
        public DeviceNumber Device;
        public FileTime AccessTime, ModifyTime, ChangeTime;
        public ulong Size;
        public Dictionary<long, byte[]>? Chunks;
        public string? LinkTarget;
        public ulong? ExclusiveVerifier;
        // Directories only.
        public Node? Parent;
        public Dictionary<string, (ulong Cookie, Node Node)>? ByName;
        public SortedList<ulong, string>? ByCookie;
        public ulong NextCookie = FirstEntryCookie;
        public ulong Version;
    }

    private long _usedChunks;

    private Node NewNode(FileType type, uint mode, uint uid, uint gid, Node? parent)
    {
        var now = FileTime.Now;
        var node = new Node(_nextId++, type)
        {
            Mode = mode & 0xFFF, Uid = uid, Gid = gid,
            LinkCount = type == FileType.Directory ? 2u : 1u,
            AccessTime = now, ModifyTime = now, ChangeTime = now,
        };
        if (type == FileType.Directory)
        {
            node.Parent = parent ?? node;
            node.ByName = new(StringComparer.Ordinal);
            node.ByCookie = [];
        }
        if (type == FileType.Regular) node.Chunks = [];
        _nodes.Add(node.Id, node);
        return node;
    }

    private FileHandle HandleOf(Node node)
    {
        Span<byte> identity = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(identity, node.Id);
        return _codec.Encode(identity);
    }

    private Node Resolve(FileHandle handle)
    {
        ReadOnlySpan<byte> identity = _codec.Decode(handle);
        if (identity.Length != 8)
            throw new FileSystemException(FileSystemError.BadHandle, "handle identity is not a memory file id");
        ulong id = BinaryPrimitives.ReadUInt64BigEndian(identity);
        return _nodes.TryGetValue(id, out var node) ? node
            : throw new FileSystemException(FileSystemError.Stale, $"file {id} no longer exists");
    }

    private Node ResolveDirectory(FileHandle handle)
    {
        Node node = Resolve(handle);
        return node.Type == FileType.Directory ? node
            : throw new FileSystemException(FileSystemError.NotDirectory, $"file {node.Id} is not a directory");
    }

    private FileAttributes AttributesOf(Node n) => new(
        n.Type, n.Mode, n.LinkCount, n.Uid, n.Gid,
        n.Type == FileType.SymbolicLink ? (ulong)NfsNs.Xdr.XdrText.GetByteCount(n.LinkTarget!) : n.Size,
        (ulong)(n.Chunks?.Count ?? 0) * ChunkSize,
        n.Device, _fileSystemId, n.Id, n.AccessTime, n.ModifyTime, n.ChangeTime);

    private FileObject ObjectOf(Node node) => new(HandleOf(node), AttributesOf(node));

    private T Locked<T>(CancellationToken cancellationToken, Func<T> operation)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate) return operation();
    }

    private static void Touch(Node node, bool modified = true)
    {
        var now = FileTime.Now;
        if (modified) node.ModifyTime = now;
        node.ChangeTime = now;
        if (node.Type == FileType.Directory && modified) node.Version++;
    }

    public ValueTask<FileAttributes> GetAttributesAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () => AttributesOf(Resolve(file))));

    public ValueTask<FileAttributes> SetAttributesAsync(CallerIdentity caller, FileHandle file, AttributeChanges changes,
        FileTime? guardChangeTime, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        Node node = Resolve(file);
        if (guardChangeTime is FileTime guard && guard != node.ChangeTime)
            throw new FileSystemException(FileSystemError.NotSync, "the ctime guard does not match");
        Permissions.RequireSetAttributes(caller, AttributesOf(node), changes);
        if (changes.Size is ulong size)
        {
            if (node.Type != FileType.Regular)
                throw new FileSystemException(FileSystemError.Invalid, $"cannot set the size of a {node.Type}");
            Resize(node, size);
            node.ModifyTime = FileTime.Now;
        }
        if (changes.Mode is uint mode) node.Mode = Permissions.EffectiveNewMode(caller, mode, node.Gid);
        if (changes.Uid is uint uid) node.Uid = uid;
        if (changes.Gid is uint gid) node.Gid = gid;
        if (changes.Uid is not null || changes.Gid is not null) if (!caller.IsRoot) node.Mode &= ~(Permissions.SetUid | Permissions.SetGid);
        node.AccessTime = Apply(changes.AccessTime, node.AccessTime);
        node.ModifyTime = Apply(changes.ModifyTime, node.ModifyTime);
        node.ChangeTime = FileTime.Now;
        return AttributesOf(node);
    }));

    private static FileTime Apply(TimeChange change, FileTime current) => change.Kind switch
    {
        TimeChangeKind.ServerTime => FileTime.Now,
        TimeChangeKind.ClientTime => change.Time,
        _ => current,
    };

    public ValueTask<FileObject> LookupAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () =>
        {
            Node dir = ResolveDirectory(directory);
            Permissions.ValidateLookupName(name);
            Permissions.RequireLookup(caller, AttributesOf(dir));
            return ObjectOf(Child(dir, name));
        }));

    private static Node Child(Node dir, string name) => name switch
    {
        "." => dir,
        ".." => dir.Parent!,
        _ => dir.ByName!.TryGetValue(name, out var entry) ? entry.Node
            : throw new FileSystemException(FileSystemError.NotFound, $"'{name}' does not exist"),
    };

    public ValueTask<AccessRights> AccessAsync(CallerIdentity caller, FileHandle file, AccessRights requested, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () =>
        {
            Node node = Resolve(file);
            return Permissions.Grant(caller, node.Type, node.Mode, node.Uid, node.Gid) & requested;
        }));

    public ValueTask<string> ReadLinkAsync(CallerIdentity caller, FileHandle link, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () =>
        {
            Node node = Resolve(link);
            return node.LinkTarget ?? throw new FileSystemException(FileSystemError.Invalid, "not a symbolic link");
        }));

    public ValueTask<ReadResult> ReadAsync(CallerIdentity caller, FileHandle file, ulong offset, Memory<byte> destination,
        CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        Node node = Resolve(file);
        Permissions.RequireFileData(caller, AttributesOf(node), write: false);
        if (offset >= node.Size) return new ReadResult(0, true);
        int count = (int)Math.Min((ulong)destination.Length, node.Size - offset);
        Span<byte> target = destination.Span[..count];
        for (int done = 0; done < count;)
        {
            ulong position = offset + (ulong)done;
            long chunkIndex = (long)(position / ChunkSize);
            int inChunk = (int)(position % ChunkSize);
            int length = Math.Min(ChunkSize - inChunk, count - done);
            if (node.Chunks!.TryGetValue(chunkIndex, out byte[]? chunk))
                chunk.AsSpan(inChunk, length).CopyTo(target[done..]);
            else
                target.Slice(done, length).Clear();
            done += length;
        }
        return new ReadResult(count, offset + (ulong)count >= node.Size);
    }));

    public ValueTask<WriteResult> WriteAsync(CallerIdentity caller, FileHandle file, ulong offset, ReadOnlyMemory<byte> data,
        WriteStability stability, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        Node node = Resolve(file);
        Permissions.RequireFileData(caller, AttributesOf(node), write: true);
        if (offset > MaxFileSize || (ulong)data.Length > MaxFileSize - offset)
            throw new FileSystemException(FileSystemError.FileTooBig, $"a write at {offset} of {data.Length} bytes exceeds the maximum file size");
        ReadOnlySpan<byte> source = data.Span;
        for (int done = 0; done < source.Length;)
        {
            ulong position = offset + (ulong)done;
            long chunkIndex = (long)(position / ChunkSize);
            int inChunk = (int)(position % ChunkSize);
            int length = Math.Min(ChunkSize - inChunk, source.Length - done);
            if (!node.Chunks!.TryGetValue(chunkIndex, out byte[]? chunk))
            {
                if ((ulong)(_usedChunks + 1) * ChunkSize > _capacityBytes)
                    throw new FileSystemException(FileSystemError.NoSpace, "the memory file system is full");
                node.Chunks[chunkIndex] = chunk = new byte[ChunkSize];
                _usedChunks++;
            }
            source.Slice(done, length).CopyTo(chunk.AsSpan(inChunk));
            done += length;
        }
        node.Size = Math.Max(node.Size, offset + (ulong)data.Length);
        if (!caller.IsRoot) node.Mode &= ~(Permissions.SetUid | Permissions.SetGid);
        Touch(node);
        // Memory is as durable as this file system gets: every write is as stable as asked for.
        return new WriteResult(data.Length, WriteStability.FileSync);
    }));

    private void Resize(Node node, ulong size)
    {
        if (size > MaxFileSize)
            throw new FileSystemException(FileSystemError.FileTooBig, $"size {size} exceeds the maximum file size");
        if (size < node.Size)
        {
            long firstDropped = (long)((size + ChunkSize - 1) / ChunkSize);
            foreach (long index in node.Chunks!.Keys.Where(index => index >= firstDropped).ToList())
            {
                node.Chunks.Remove(index);
                _usedChunks--;
            }
            // Zero the tail of the partial last chunk so a later extension reads zeros, as ftruncate(2) promises.
            if (size % ChunkSize != 0 && node.Chunks.TryGetValue((long)(size / ChunkSize), out byte[]? last))
                last.AsSpan((int)(size % ChunkSize)).Clear();
        }
        node.Size = size;
    }

    public ValueTask CommitAsync(CallerIdentity caller, FileHandle file, ulong offset, uint count, CancellationToken cancellationToken)
    {
        Locked(cancellationToken, () => Resolve(file));
        return ValueTask.CompletedTask;
    }

    /// <summary>Checks the parent, validates the name and creates a node owned by the caller (mode from attributes).</summary>
    private Node AddNew(CallerIdentity caller, Node dir, string name, FileType type, AttributeChanges attributes, uint defaultMode)
    {
        Permissions.ValidateNewName(name);
        Permissions.RequireModifyDirectory(caller, AttributesOf(dir));
        if (dir.ByName!.ContainsKey(name))
            throw new FileSystemException(FileSystemError.Exists, $"'{name}' exists");
        if (type == FileType.Directory && dir.LinkCount >= MaxLinks)
            throw new FileSystemException(FileSystemError.TooManyLinks, "too many subdirectories");
        uint uid = caller.Uid, gid = Permissions.NewObjectGid(caller, AttributesOf(dir));
        if (caller.IsRoot)
        {
            uid = attributes.Uid ?? uid;
            gid = attributes.Gid ?? gid;
        }
        uint mode = attributes.Mode ?? defaultMode;
        if (type == FileType.Directory && (dir.Mode & Permissions.SetGid) != 0) mode |= Permissions.SetGid;
        Node node = NewNode(type, mode, uid, gid, dir);
        if (attributes.Size is ulong size && type == FileType.Regular) Resize(node, size);
        node.AccessTime = Apply(attributes.AccessTime, node.AccessTime);
        node.ModifyTime = Apply(attributes.ModifyTime, node.ModifyTime);
        AddEntry(dir, name, node);
        return node;
    }

    private static void AddEntry(Node dir, string name, Node node)
    {
        ulong cookie = dir.NextCookie++;
        dir.ByName!.Add(name, (cookie, node));
        dir.ByCookie!.Add(cookie, name);
        if (node.Type == FileType.Directory)
        {
            dir.LinkCount++;
            node.Parent = dir;
        }
        Touch(dir);
    }

    private void RemoveEntry(Node dir, string name, bool dropsLink)
    {
        var (cookie, node) = dir.ByName![name];
        dir.ByName.Remove(name);
        dir.ByCookie!.Remove(cookie);
        if (node.Type == FileType.Directory) dir.LinkCount--;
        Touch(dir);
        if (!dropsLink) return;
        node.LinkCount = node.Type == FileType.Directory ? 0 : node.LinkCount - 1;
        node.ChangeTime = FileTime.Now;
        if (node.LinkCount == 0)
        {
            _nodes.Remove(node.Id);
            _usedChunks -= node.Chunks?.Count ?? 0;
        }
    }

    public ValueTask<FileObject> CreateAsync(CallerIdentity caller, FileHandle directory, string name, CreateMode mode,
        AttributeChanges attributes, ulong verifier, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        Node dir = ResolveDirectory(directory);
        Permissions.ValidateNewName(name);
        if (dir.ByName!.TryGetValue(name, out var existing))
        {
            Node node = existing.Node;
            switch (mode)
            {
                case CreateMode.Exclusive when node.ExclusiveVerifier == verifier && node.Type == FileType.Regular:
                    return ObjectOf(node);
                case CreateMode.Unchecked when node.Type == FileType.Regular:
                    Permissions.RequireLookup(caller, AttributesOf(dir));
                    if (attributes.Size is ulong size)
                    {
                        Permissions.RequireFileData(caller, AttributesOf(node), write: true);
                        Resize(node, size);
                        Touch(node);
                    }
                    return ObjectOf(node);
                case CreateMode.Unchecked when node.Type == FileType.Directory:
                    throw new FileSystemException(FileSystemError.IsDirectory, $"'{name}' is a directory");
                default:
                    throw new FileSystemException(FileSystemError.Exists, $"'{name}' exists");
            }
        }
        AttributeChanges effective = mode == CreateMode.Exclusive ? AttributeChanges.None : attributes;
        Node created = AddNew(caller, dir, name, FileType.Regular, effective, defaultMode: 0x1A4 /* 0644 */);
        if (mode == CreateMode.Exclusive) created.ExclusiveVerifier = verifier;
        return ObjectOf(created);
    }));

    public ValueTask<FileObject> MakeDirectoryAsync(CallerIdentity caller, FileHandle directory, string name,
        AttributeChanges attributes, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
            ObjectOf(AddNew(caller, ResolveDirectory(directory), name, FileType.Directory, attributes, defaultMode: 0x1ED))));

    public ValueTask<FileObject> SymlinkAsync(CallerIdentity caller, FileHandle directory, string name, string target,
        AttributeChanges attributes, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        if (target.Length == 0 || target.Contains('\0'))
            throw new FileSystemException(FileSystemError.Invalid, "a symbolic link target is non-empty and has no NUL");
        Node node = AddNew(caller, ResolveDirectory(directory), name, FileType.SymbolicLink,
            attributes with { Mode = 0x1FF /* symlinks are always 0777 on Linux */ }, defaultMode: 0x1FF);
        node.LinkTarget = target;
        return ObjectOf(node);
    }));

    public ValueTask<FileObject> MakeNodeAsync(CallerIdentity caller, FileHandle directory, string name, FileType type,
        DeviceNumber device, AttributeChanges attributes, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        if (type is not (FileType.Fifo or FileType.Socket or FileType.BlockDevice or FileType.CharacterDevice))
            throw new FileSystemException(FileSystemError.BadType, $"MKNOD cannot create a {type}");
        if (type is FileType.BlockDevice or FileType.CharacterDevice && !caller.IsRoot)
            throw new FileSystemException(FileSystemError.NotPermitted, "only root creates device nodes");
        Node node = AddNew(caller, ResolveDirectory(directory), name, type, attributes, defaultMode: 0x1A4);
        node.Device = type is FileType.BlockDevice or FileType.CharacterDevice ? device : default;
        return ObjectOf(node);
    }));

    public ValueTask RemoveAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken)
    {
        Locked(cancellationToken, () =>
        {
            Node dir = ResolveDirectory(directory);
            Permissions.ValidateNewName(name);
            Node victim = Child(dir, name);
            if (victim.Type == FileType.Directory)
                throw new FileSystemException(FileSystemError.IsDirectory, $"'{name}' is a directory");
            Permissions.RequireModifyDirectory(caller, AttributesOf(dir));
            Permissions.RequireStickyOwnership(caller, AttributesOf(dir), AttributesOf(victim));
            RemoveEntry(dir, name, dropsLink: true);
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveDirectoryAsync(CallerIdentity caller, FileHandle directory, string name, CancellationToken cancellationToken)
    {
        Locked(cancellationToken, () =>
        {
            Node dir = ResolveDirectory(directory);
            if (name == ".") throw new FileSystemException(FileSystemError.Invalid, "cannot remove '.'");
            if (name == "..") throw new FileSystemException(FileSystemError.NotEmpty, "cannot remove '..'");
            Permissions.ValidateNewName(name);
            Node victim = Child(dir, name);
            if (victim.Type != FileType.Directory)
                throw new FileSystemException(FileSystemError.NotDirectory, $"'{name}' is not a directory");
            Permissions.RequireModifyDirectory(caller, AttributesOf(dir));
            Permissions.RequireStickyOwnership(caller, AttributesOf(dir), AttributesOf(victim));
            if (victim.ByName!.Count > 0)
                throw new FileSystemException(FileSystemError.NotEmpty, $"'{name}' is not empty");
            RemoveEntry(dir, name, dropsLink: true);
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask RenameAsync(CallerIdentity caller, FileHandle fromDirectory, string fromName, FileHandle toDirectory,
        string toName, CancellationToken cancellationToken)
    {
        Locked(cancellationToken, () =>
        {
            Node from = ResolveDirectory(fromDirectory), to = ResolveDirectory(toDirectory);
            if (fromName is "." or ".." || toName is "." or "..")
                throw new FileSystemException(FileSystemError.Invalid, "cannot rename '.' or '..'");
            Permissions.ValidateNewName(fromName);
            Permissions.ValidateNewName(toName);
            Node moving = Child(from, fromName);
            Permissions.RequireModifyDirectory(caller, AttributesOf(from));
            Permissions.RequireModifyDirectory(caller, AttributesOf(to));
            Permissions.RequireStickyOwnership(caller, AttributesOf(from), AttributesOf(moving));
            if (moving.Type == FileType.Directory)
            {
                for (Node? ancestor = to; ; ancestor = ancestor.Parent)
                {
                    if (ancestor == moving)
                        throw new FileSystemException(FileSystemError.Invalid, "cannot move a directory into itself");
                    if (ancestor!.Parent == ancestor) break;
                }
                // Its ".." entry changes, which needs write permission on the directory itself (rename(2)).
                if (from != to) Permissions.Require(caller, AttributesOf(moving), AccessRights.Modify, "move the directory");
            }
            if (to.ByName!.TryGetValue(toName, out var target))
            {
                if (target.Node == moving) return 0; // POSIX: two links to the same file, nothing happens.
                Permissions.RequireStickyOwnership(caller, AttributesOf(to), AttributesOf(target.Node));
                if (moving.Type == FileType.Directory && target.Node.Type != FileType.Directory)
                    throw new FileSystemException(FileSystemError.NotDirectory, $"'{toName}' is not a directory");
                if (moving.Type != FileType.Directory && target.Node.Type == FileType.Directory)
                    throw new FileSystemException(FileSystemError.IsDirectory, $"'{toName}' is a directory");
                if (target.Node.Type == FileType.Directory && target.Node.ByName!.Count > 0)
                    throw new FileSystemException(FileSystemError.NotEmpty, $"'{toName}' is not empty");
                RemoveEntry(to, toName, dropsLink: true);
            }
            RemoveEntry(from, fromName, dropsLink: false);
            AddEntry(to, toName, moving);
            Touch(moving, modified: false);
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask<FileAttributes> LinkAsync(CallerIdentity caller, FileHandle file, FileHandle toDirectory, string toName,
        CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        Node node = Resolve(file);
        Node dir = ResolveDirectory(toDirectory);
        if (node.Type == FileType.Directory)
            throw new FileSystemException(FileSystemError.NotPermitted, "cannot hard-link a directory");
        Permissions.ValidateNewName(toName);
        Permissions.RequireModifyDirectory(caller, AttributesOf(dir));
        if (dir.ByName!.ContainsKey(toName))
            throw new FileSystemException(FileSystemError.Exists, $"'{toName}' exists");
        if (node.LinkCount >= MaxLinks)
            throw new FileSystemException(FileSystemError.TooManyLinks, $"file has {node.LinkCount} links");
        AddEntry(dir, toName, node);
        node.LinkCount++;
        Touch(node, modified: false);
        return AttributesOf(node);
    }));

    public ValueTask<DirectoryPage> ReadDirectoryAsync(CallerIdentity caller, FileHandle directory, ulong cookie,
        ulong cookieVerifier, int maxEntries, bool withObjects, CancellationToken cancellationToken) => new(Locked(cancellationToken, () =>
    {
        if (maxEntries <= 0) throw new FileSystemException(FileSystemError.Invalid, "maxEntries must be positive");
        Node dir = ResolveDirectory(directory);
        Permissions.Require(caller, AttributesOf(dir), AccessRights.Read, "list the directory");
        if (cookie >= dir.NextCookie)
            throw new FileSystemException(FileSystemError.BadCookie, $"cookie {cookie} was never issued by this directory");
        var entries = new List<DirectoryEntry>();
        bool endOfDirectory = true;
        foreach (var (name, node, entryCookie) in EntriesAfter(dir, cookie))
        {
            if (entries.Count == maxEntries)
            {
                endOfDirectory = false;
                break;
            }
            entries.Add(new DirectoryEntry(name, node.Id, entryCookie, withObjects ? ObjectOf(node) : null));
        }
        return new DirectoryPage(entries, dir.Version, endOfDirectory);
    }));

    /// <summary>"." and ".." have fixed cookies 1 and 2; real entries keep the cookie they were given when added.</summary>
    private static IEnumerable<(string Name, Node Node, ulong Cookie)> EntriesAfter(Node dir, ulong cookie)
    {
        if (cookie < DotCookie) yield return (".", dir, DotCookie);
        if (cookie < DotDotCookie) yield return ("..", dir.Parent!, DotDotCookie);
        IList<ulong> cookies = dir.ByCookie!.Keys;
        for (int index = FirstGreater(cookies, cookie); index < cookies.Count; index++)
        {
            string name = dir.ByCookie.Values[index];
            yield return (name, dir.ByName![name].Node, cookies[index]);
        }
    }

    private static int FirstGreater(IList<ulong> sorted, ulong value)
    {
        int low = 0, high = sorted.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (sorted[middle] <= value) low = middle + 1; else high = middle;
        }
        return low;
    }

    public ValueTask<FileSystemStatistics> GetStatisticsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () =>
        {
            Resolve(file);
            ulong free = _capacityBytes - Math.Min(_capacityBytes, (ulong)_usedChunks * ChunkSize);
            ulong totalFiles = (ulong)_nodes.Count + 1_000_000;
            return new FileSystemStatistics(_capacityBytes, free, free, totalFiles, 1_000_000, 1_000_000);
        }));

    public ValueTask<FileSystemLimits> GetLimitsAsync(CallerIdentity caller, FileHandle file, CancellationToken cancellationToken) =>
        new(Locked(cancellationToken, () =>
        {
            Resolve(file);
            return new FileSystemLimits(MaxFileSize, Permissions.MaxNameBytes, MaxLinks, SupportsHardLinks: true,
                SupportsSymbolicLinks: true, TimeGranularity: new FileTime(0, 100), NoTruncation: true,
                ChownRestricted: true, CaseInsensitive: false, CasePreserving: true);
        }));
}
