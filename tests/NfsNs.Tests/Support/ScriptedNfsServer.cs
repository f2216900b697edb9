using System.Net.Sockets;
using NfsNs.Client;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

/// <summary>
/// A small NFSv3 + MOUNT v3 server over one <see cref="ScriptedRpcPeer"/> (both programs on one port, dispatched on
/// the call's program), serving an in-memory tree the test builds, so that <see cref="NfsMount"/> can mount it. Every
/// procedure can be intercepted with <see cref="Handle"/>: the handler sees each call first and answers it, drops it,
/// or returns null to let the generic code answer.
/// </summary>
/// <remarks>
/// The generic code answers MOUNT NULL/MNT/UMNT/EXPORT and NFS NULL, GETATTR, SETATTR (size), LOOKUP, READ, WRITE,
/// CREATE, READDIR, READDIRPLUS, FSINFO and COMMIT; anything else gets NFS3ERR_NOTSUPP. WRITEs keep UNSTABLE data
/// apart from what COMMIT made stable, and <see cref="Restart"/> forgets the unstable part and changes the write
/// verifier, as a server reboot does (RFC 1813 §3.3.7). Every call is logged (<see cref="Calls"/>) with the number of
/// the connection it came on. Handlers run one at a time, under the server's lock.
/// </remarks>
public sealed class ScriptedNfsServer : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly ScriptedRpcPeer _peer;
    private readonly object _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<NfsFileHandle, ScriptedNfsNode> _nodes = [];
    private readonly Dictionary<Nfs3Procedure, Func<ScriptedCall, ScriptedNfsReply?>> _handlers = [];
    private readonly List<ReceivedCall> _calls = [];
    private readonly List<Exception> _failures = [];
    private readonly List<Task> _connectionTasks = [];
    private readonly Task _acceptLoop;
    private ulong _nextFileId = 1;
    private int _connectionCount;

    private ScriptedNfsServer(ScriptedRpcPeer peer, string exportPath)
    {
        _peer = peer;
        ExportPath = exportPath;
        Root = NewNode(Nfs3FileType.Directory, "", parent: null);
        FsInfo = new FsInfoResult(null, ReadMax: 64 * 1024, ReadPreferred: 64 * 1024, ReadMultiple: 4096,
            WriteMax: 64 * 1024, WritePreferred: 64 * 1024, WriteMultiple: 4096, DirPreferred: 8192,
            MaxFileSize: ulong.MaxValue, TimeDelta: new NfsTime(0, 1), FsProperties.Homogeneous | FsProperties.CanSetTime);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Starts serving <paramref name="exportPath"/> (an empty directory) on a free 127.0.0.1 port.</summary>
    public static ScriptedNfsServer Start(string exportPath = "/export") => new(ScriptedRpcPeer.Listen(), exportPath);

    public int Port => _peer.Port;
    public string ExportPath { get; }
    public ScriptedNfsNode Root { get; }

    /// <summary>FSINFO's answer (its attributes are filled in with the root's).</summary>
    public FsInfoResult FsInfo { get; set; }

    /// <summary>Entries per READDIR/READDIRPLUS page, so small directories still take several pages.</summary>
    public int DirectoryPageSize { get; set; } = 100;

    /// <summary>writeverf3 of WRITE and COMMIT replies; <see cref="Restart"/> changes it.</summary>
    public ulong WriteVerifier { get; set; } = 0x5645524946000001;

    public ulong CookieVerifier { get; set; } = 0x434F4F4B49450001;

    /// <summary>Connections accepted so far (each numbered from 1 in <see cref="ReceivedCall.Connection"/>).</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>Exceptions the serving code or a handler threw (each answered with SYSTEM_ERR); tests assert it is empty.</summary>
    public IReadOnlyList<Exception> Failures
    {
        get { lock (_lock) return [.. _failures]; }
    }

    /// <summary>One call as it arrived, with the number of the connection that carried it.</summary>
    public sealed record ReceivedCall(int Connection, ScriptedCall Call);

    public IReadOnlyList<ReceivedCall> Calls
    {
        get { lock (_lock) return [.. _calls]; }
    }

    /// <summary>The NFS calls of one procedure, in arrival order.</summary>
    public IReadOnlyList<ReceivedCall> NfsCalls(Nfs3Procedure procedure) =>
        Calls.Where(c => c.Call.Program == Nfs3.Program && c.Call.Procedure == (uint)procedure).ToList();

    /// <summary>The NFS procedures received, in order (NULL excluded), to assert a conversation's shape.</summary>
    public IReadOnlyList<Nfs3Procedure> NfsProcedures =>
        Calls.Where(c => c.Call.Program == Nfs3.Program && c.Call.Procedure != (uint)Nfs3Procedure.Null)
            .Select(c => (Nfs3Procedure)c.Call.Procedure).ToList();

    /// <summary>Intercepts <paramref name="procedure"/>: the handler's reply is sent, null means "answer generically".</summary>
    public void Handle(Nfs3Procedure procedure, Func<ScriptedCall, ScriptedNfsReply?> handler)
    {
        lock (_lock) _handlers[procedure] = handler;
    }

    // ---- the tree ------------------------------------------------------------------------------------------

    public ScriptedNfsNode AddDirectory(string path) => Add(path, Nfs3FileType.Directory, content: null);

    public ScriptedNfsNode AddFile(string path, byte[]? content = null) => Add(path, Nfs3FileType.Regular, content ?? []);

    private ScriptedNfsNode Add(string path, Nfs3FileType type, byte[]? content)
    {
        lock (_lock)
        {
            var parent = Find(NfsPath.Parent(path)) ?? throw new ArgumentException($"no directory {NfsPath.Parent(path)} in the scripted tree", nameof(path));
            var node = NewNode(type, NfsPath.Name(path), parent);
            if (content is not null) node.SetContent(content);
            return node;
        }
    }

    /// <summary>The node at a path relative to the export root, or null.</summary>
    public ScriptedNfsNode? Find(string path)
    {
        lock (_lock)
        {
            var node = Root;
            foreach (string name in NfsPath.Components(path))
            {
                if (node.Child(name) is not { } child) return null;
                node = child;
            }
            return node;
        }
    }

    public ScriptedNfsNode? Find(NfsFileHandle handle)
    {
        lock (_lock) return _nodes.GetValueOrDefault(handle);
    }

    private ScriptedNfsNode NewNode(Nfs3FileType type, string name, ScriptedNfsNode? parent)
    {
        ulong id = _nextFileId++;
        var node = new ScriptedNfsNode(id, new NfsFileHandle(BitConverter.GetBytes(id ^ 0xF11E_0000_0000_0000)), type, name, parent);
        _nodes[node.Handle] = node;
        parent?.Children.Add(node);
        return node;
    }

    /// <summary>A server reboot: uncommitted WRITE data is lost and the write verifier changes.</summary>
    public void Restart()
    {
        lock (_lock)
        {
            WriteVerifier++;
            foreach (var node in _nodes.Values) node.DropUnstable();
        }
    }

    // ---- mounting ------------------------------------------------------------------------------------------

    /// <summary>Options that mount this server's export from the process's namespace, with quick timeouts and JUKEBOX retries.</summary>
    public NfsMountOptions MountOptions => new()
    {
        Host = "127.0.0.1",
        Path = ExportPath,
        MountPort = Port,
        NfsPort = Port,
        Timeout = TimeSpan.FromSeconds(3),
        Jukebox = new JukeboxPolicy { InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(50), MaxAttempts = 5 },
    };

    public Task<NfsMount> MountAsync(Func<NfsMountOptions, NfsMountOptions>? configure = null) =>
        NfsMount.MountAsync(configure is null ? MountOptions : configure(MountOptions)).WaitAsync(TimeSpan.FromSeconds(10));

    // ---- serving -------------------------------------------------------------------------------------------

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            ScriptedConnection? connection;
            try
            {
                connection = await _peer.TryAcceptAsync(PollInterval).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return;
            }
            if (connection is null) continue;
            int number = Interlocked.Increment(ref _connectionCount);
            lock (_lock) _connectionTasks.Add(Task.Run(() => ServeAsync(connection, number)));
        }
    }

    private async Task ServeAsync(ScriptedConnection connection, int number)
    {
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var call = await connection.TryReadCallAsync(PollInterval).ConfigureAwait(false);
                    if (call is null) continue;
                    ScriptedNfsReply reply;
                    lock (_lock)
                    {
                        _calls.Add(new ReceivedCall(number, call));
                        try
                        {
                            reply = Dispatch(call);
                        }
                        catch (Exception e)
                        {
                            _failures.Add(new InvalidOperationException($"scripted NFS server failed on {call}: {e.Message}", e));
                            reply = ScriptedNfsReply.RpcError(RpcAcceptStat.SystemErr);
                        }
                    }
                    await reply.SendAsync(connection, call).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is EndOfStreamException or ObjectDisposedException or SocketException)
            {
                // The client closed or reset the connection, or the server is shutting down.
            }
        }
    }

    private ScriptedNfsReply Dispatch(ScriptedCall call)
    {
        if (call.Program == Mount3.Program && call.Version == Mount3.Version) return AnswerMount(call);
        if (call.Program != Nfs3.Program) return ScriptedNfsReply.RpcError(RpcAcceptStat.ProgUnavail);
        if (call.Version != Nfs3.Version) return ScriptedNfsReply.RpcError(RpcAcceptStat.ProgMismatch);
        if (_handlers.TryGetValue((Nfs3Procedure)call.Procedure, out var handler) && handler(call) is { } custom) return custom;
        return Default(call);
    }

    private ScriptedNfsReply AnswerMount(ScriptedCall call)
    {
        switch ((Mount3Procedure)call.Procedure)
        {
            case Mount3Procedure.Null:
            case Mount3Procedure.Umnt:
                return ScriptedNfsReply.Results(_ => { });
            case Mount3Procedure.Mnt:
                string path = call.Arguments(DirPath.Read).Path;
                return NfsPath.Normalize(path) == NfsPath.Normalize(ExportPath)
                    ? ScriptedNfsReply.Results(w => MountResult.WriteReply(w, MountStatus.Ok, new MountResult(Root.Handle, [RpcAuthFlavor.Sys, RpcAuthFlavor.None])))
                    : ScriptedNfsReply.Results(w => MountResult.WriteReply(w, MountStatus.NoEnt, null));
            case Mount3Procedure.Export:
                return ScriptedNfsReply.Results(w => ExportEntry.WriteList(w, [new ExportEntry(ExportPath, ["*"])]));
            default:
                return ScriptedNfsReply.RpcError(RpcAcceptStat.ProcUnavail);
        }
    }

    /// <summary>The generic answer to an NFS call: what the server gives when no handler intervenes.</summary>
    public ScriptedNfsReply Default(ScriptedCall call)
    {
        lock (_lock)
        {
            switch ((Nfs3Procedure)call.Procedure)
            {
                case Nfs3Procedure.Null:
                    return ScriptedNfsReply.Results(_ => { });
                case Nfs3Procedure.GetAttr:
                    return Existing(call.Arguments(NfsFileHandle.Read), node => ScriptedNfsReply.Ok(node.Attributes));
                case Nfs3Procedure.SetAttr:
                    var setAttr = call.Arguments(SetAttrArgs.Read);
                    return Existing(setAttr.Object, node =>
                    {
                        if (setAttr.NewAttributes.Size is { } size) node.Truncate((long)size);
                        return ScriptedNfsReply.Ok(WccData.Empty);
                    });
                case Nfs3Procedure.Lookup:
                    return Lookup(call.Arguments(DirOpArgs.Read));
                case Nfs3Procedure.Read:
                    var read = call.Arguments(FileRangeArgs.Read);
                    return Read(read.File, read.Offset, read.Count);
                case Nfs3Procedure.Write:
                    return Write(call.Arguments(WriteArgs.Read));
                case Nfs3Procedure.Create:
                    return Create(call.Arguments(CreateArgs.Read));
                case Nfs3Procedure.ReadDir:
                    var readDir = call.Arguments(ReadDirArgs.Read);
                    return ReadDirectory(readDir.Dir, readDir.Cookie, (page, eof, dir) => new ReadDirResult(
                        page.Select(n => new DirEntry(n.FileId, n.Name, n.Cookie)).ToList(), CookieVerifier, eof, dir.Attributes));
                case Nfs3Procedure.ReadDirPlus:
                    var plus = call.Arguments(ReadDirPlusArgs.Read);
                    return ReadDirectory(plus.Dir, plus.Cookie, (page, eof, dir) => new ReadDirPlusResult(
                        page.Select(n => new DirEntryPlus(n.FileId, n.Name, n.Cookie, n.Attributes, n.Handle)).ToList(), CookieVerifier, eof, dir.Attributes));
                case Nfs3Procedure.FsInfo:
                    return ScriptedNfsReply.Ok(FsInfo with { Attributes = Root.Attributes });
                case Nfs3Procedure.Commit:
                    return Existing(call.Arguments(FileRangeArgs.Read).File, node =>
                    {
                        node.Commit();
                        return ScriptedNfsReply.Ok(new CommitResult(WriteVerifier, WccData.Empty));
                    });
                default:
                    return ScriptedNfsReply.Error(Nfs3Status.NotSupp);
            }
        }
    }

    private ScriptedNfsReply Existing(NfsFileHandle handle, Func<ScriptedNfsNode, ScriptedNfsReply> answer) =>
        _nodes.TryGetValue(handle, out var node) ? answer(node) : ScriptedNfsReply.Error(Nfs3Status.Stale);

    private ScriptedNfsReply Lookup(DirOpArgs args) => Existing(args.Dir, dir =>
    {
        if (dir.Type != Nfs3FileType.Directory) return ScriptedNfsReply.Error(Nfs3Status.NotDir);
        var found = args.Name switch
        {
            "." => dir,
            ".." => dir.Parent ?? dir,
            _ => dir.Child(args.Name),
        };
        return found is null
            ? ScriptedNfsReply.Error(Nfs3Status.NoEnt)
            : ScriptedNfsReply.Ok(new LookupResult(found.Handle, found.Attributes, dir.Attributes));
    });

    /// <summary>READ of up to <paramref name="count"/> bytes at <paramref name="offset"/>; EOF when the reply reaches the end.</summary>
    public ScriptedNfsReply Read(NfsFileHandle file, ulong offset, uint count)
    {
        lock (_lock)
        {
            return Existing(file, node =>
            {
                if (node.Type != Nfs3FileType.Regular) return ScriptedNfsReply.Error(node.Type == Nfs3FileType.Directory ? Nfs3Status.IsDir : Nfs3Status.Inval);
                byte[] content = node.Content;
                long start = (long)Math.Min(offset, (ulong)content.Length);
                int length = (int)Math.Min(count, content.Length - start);
                bool eof = start + length >= content.Length;
                return ScriptedNfsReply.Ok(new ReadResult(length, eof, node.Attributes) { Data = content.AsMemory((int)start, length) });
            });
        }
    }

    /// <summary>WRITE of <paramref name="args"/>' data, or only its first <paramref name="count"/> bytes (a short write).</summary>
    public ScriptedNfsReply Write(WriteArgs args, int? count = null)
    {
        lock (_lock)
        {
            return Existing(args.File, node =>
            {
                if (node.Type != Nfs3FileType.Regular) return ScriptedNfsReply.Error(Nfs3Status.Inval);
                var data = args.Data.Span[..Math.Min(count ?? args.Data.Length, args.Data.Length)];
                node.Write((long)args.Offset, data, stable: args.Stable != StableHow.Unstable);
                return ScriptedNfsReply.Ok(new WriteResult((uint)data.Length, args.Stable, WriteVerifier, WccData.Empty));
            });
        }
    }

    private ScriptedNfsReply Create(CreateArgs args) => Existing(args.Where.Dir, dir =>
    {
        if (dir.Type != Nfs3FileType.Directory) return ScriptedNfsReply.Error(Nfs3Status.NotDir);
        var node = dir.Child(args.Where.Name);
        if (node is not null)
        {
            if (args.Mode != CreateMode.Unchecked) return ScriptedNfsReply.Error(Nfs3Status.Exist);
        }
        else
        {
            node = NewNode(Nfs3FileType.Regular, args.Where.Name, dir);
            node.SetContent([]);
        }
        // RFC 1813 §3.3.8: UNCHECKED with a size truncates an existing file.
        if (args.Attributes?.Size is { } size) node.Truncate((long)size);
        return ScriptedNfsReply.Ok(new CreateResult(node.Handle, node.Attributes, WccData.Empty));
    });

    /// <summary>One page of a directory: entries after <paramref name="cookie"/> (a cookie is an entry's 1-based index).</summary>
    private ScriptedNfsReply ReadDirectory(NfsFileHandle handle, ulong cookie,
        Func<IReadOnlyList<ScriptedNfsNode>, bool, ScriptedNfsNode, IXdrWritable> result) => Existing(handle, dir =>
    {
        if (dir.Type != Nfs3FileType.Directory) return ScriptedNfsReply.Error(Nfs3Status.NotDir);
        if (cookie > (ulong)dir.Children.Count) return ScriptedNfsReply.Error(Nfs3Status.BadCookie);
        var page = dir.Children.Skip((int)cookie).Take(Math.Max(1, DirectoryPageSize)).ToList();
        bool eof = (int)cookie + page.Count >= dir.Children.Count;
        return ScriptedNfsReply.Ok(result(page, eof, dir));
    });

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _peer.DisposeAsync().ConfigureAwait(false);
        Task[] tasks;
        await _acceptLoop.ConfigureAwait(false);
        lock (_lock) tasks = [.. _connectionTasks];
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>A file or directory of a <see cref="ScriptedNfsServer"/>. Regular files keep their data and its stable part apart.</summary>
public sealed class ScriptedNfsNode
{
    private static readonly NfsTime FixedTime = new(1_700_000_000, 0);

    private readonly MemoryStream _data = new();
    private byte[] _stable = [];

    internal ScriptedNfsNode(ulong fileId, NfsFileHandle handle, Nfs3FileType type, string name, ScriptedNfsNode? parent)
    {
        FileId = fileId;
        Handle = handle;
        Type = type;
        Name = name;
        Parent = parent;
    }

    public ulong FileId { get; }
    public NfsFileHandle Handle { get; }
    public Nfs3FileType Type { get; }
    public string Name { get; }
    public ScriptedNfsNode? Parent { get; }
    public List<ScriptedNfsNode> Children { get; } = [];

    /// <summary>Its READDIR cookie: the 1-based index in its parent.</summary>
    public ulong Cookie => Parent is null ? 0 : (ulong)(Parent.Children.IndexOf(this) + 1);

    /// <summary>The current data, including UNSTABLE writes not yet committed.</summary>
    public byte[] Content => _data.ToArray();

    /// <summary>The data as it would survive a restart.</summary>
    public byte[] StableContent => [.. _stable];

    public ScriptedNfsNode? Child(string name) => Children.FirstOrDefault(c => c.Name == name);

    public Fattr3 Attributes => new(Type, Type == Nfs3FileType.Directory ? 0x1EDu : 0x1A4u, Type == Nfs3FileType.Directory ? 2u : 1u,
        Uid: 0, Gid: 0, Size: (ulong)_data.Length, Used: (ulong)_data.Length, Rdev: default, Fsid: 1, FileId: FileId,
        Atime: FixedTime, Mtime: FixedTime, Ctime: FixedTime);

    internal void SetContent(byte[] content)
    {
        _data.SetLength(0);
        _data.Write(content);
        _stable = [.. content];
    }

    internal void Write(long offset, ReadOnlySpan<byte> data, bool stable)
    {
        _data.Position = offset;
        _data.Write(data);
        if (stable) Commit();
    }

    internal void Truncate(long size)
    {
        _data.SetLength(size);
        Commit();
    }

    internal void Commit() => _stable = _data.ToArray();

    internal void DropUnstable() => SetContent(_stable);
}

/// <summary>What a <see cref="ScriptedNfsServer"/> sends for one call: NFS results, raw results, an RPC error, or nothing.</summary>
public sealed class ScriptedNfsReply
{
    private readonly Func<ScriptedConnection, ScriptedCall, Task> _send;

    private ScriptedNfsReply(Func<ScriptedConnection, ScriptedCall, Task> send) => _send = send;

    /// <summary>No reply at all: the call is lost as far as the client can tell.</summary>
    public static ScriptedNfsReply None { get; } = new((_, _) => Task.CompletedTask);

    /// <summary>NFS3_OK followed by <paramref name="body"/> (the procedure's resok).</summary>
    public static ScriptedNfsReply Ok(IXdrWritable body) => Results(w =>
    {
        Nfs3Reply.WriteStatus(w, Nfs3Status.Ok);
        body.Write(w);
    });

    /// <summary>An NFS error status with the procedure's failure arm carrying no attributes (RFC 1813 §3.3 XXX3resfail).</summary>
    public static ScriptedNfsReply Error(Nfs3Status status) => new((connection, call) => connection.ReplyAsync(call, w =>
    {
        Nfs3Reply.WriteStatus(w, status);
        WriteEmptyFailureArm(w, (Nfs3Procedure)call.Procedure);
    }));

    /// <summary>A successful RPC reply whose whole results <paramref name="write"/> encodes.</summary>
    public static ScriptedNfsReply Results(Action<XdrWriter> write) => new((connection, call) => connection.ReplyAsync(call, write));

    public static ScriptedNfsReply RpcError(RpcAcceptStat stat) =>
        new((connection, call) => connection.ReplyErrorAsync(call, stat, low: Nfs3.Version, high: Nfs3.Version));

    internal Task SendAsync(ScriptedConnection connection, ScriptedCall call) => _send(connection, call);

    private static void WriteEmptyFailureArm(XdrWriter writer, Nfs3Procedure procedure)
    {
        switch (procedure)
        {
            case Nfs3Procedure.GetAttr:
                break;
            case Nfs3Procedure.SetAttr or Nfs3Procedure.Write or Nfs3Procedure.Create or Nfs3Procedure.Mkdir
                or Nfs3Procedure.Symlink or Nfs3Procedure.Mknod or Nfs3Procedure.Remove or Nfs3Procedure.Rmdir or Nfs3Procedure.Commit:
                WccData.Empty.Write(writer);
                break;
            case Nfs3Procedure.Rename:
                WccData.Empty.Write(writer);
                WccData.Empty.Write(writer);
                break;
            case Nfs3Procedure.Link:
                Fattr3.WritePostOp(writer, null);
                WccData.Empty.Write(writer);
                break;
            default:
                Fattr3.WritePostOp(writer, null);
                break;
        }
    }
}

public static class ScriptedCallArguments
{
    /// <summary>Decodes the call's arguments with <paramref name="read"/>, which must consume them exactly.</summary>
    public static T Arguments<T>(this ScriptedCall call, XdrDecoder<T> read)
    {
        var reader = call.BodyReader();
        var value = read(ref reader);
        reader.EnsureFullyConsumed($"arguments of {call}");
        return value;
    }
}
