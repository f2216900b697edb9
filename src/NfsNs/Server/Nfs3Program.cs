using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Security.Cryptography;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Server.FileSystem;
using NfsNs.Xdr;
using FsAttributes = NfsNs.Server.FileSystem.FileAttributes;
using Nfs3CreateMode = NfsNs.Protocols.Nfs3.CreateMode;

namespace NfsNs.Server;

/// <summary>
/// NFS version 3 (RFC 1813, program 100003) over the exports' <see cref="IFileSystem"/>s: all 22 procedures.
/// Each handler decodes its arguments with the codec's static Read, finds the export of its handle (refusing a client
/// that export does not allow), runs the file-system operation as the caller, and writes the NFS3_OK body; any
/// <see cref="FileSystemException"/> becomes the status of <see cref="StatusOf"/> and the procedure's failure arm
/// (<see cref="FailureArm"/>), filled with whatever attributes are still available.
/// </summary>
public sealed class Nfs3Program : ProcedureTableProgram
{
    /// <summary>rtmax/wtmax and rtpref/wtpref: 1 MiB, which with its headers fits the RPC record cap of both sides.</summary>
    public const int MaxTransferSize = 1024 * 1024;
    public const int PreferredDirectorySize = 64 * 1024;
    private const int TransferMultiple = 4096;

    /// <summary>The anonymous identity of AUTH_NONE callers (nobody/nogroup, as Linux nfsd's default anonuid).</summary>
    public static CallerIdentity Anonymous { get; } = new(65534, 65534, []);

    private readonly FrozenDictionary<uint, NfsExport> _exports;
    private readonly Action<string>? _log;

    public Nfs3Program(IEnumerable<NfsExport> exports, Action<string>? log = null) : base(new RpcProgram(Nfs3.Program))
    {
        _exports = exports.ToFrozenDictionary(e => e.ExportId);
        _log = log;
        WriteVerifier = NewWriteVerifier();
        const uint v = Nfs3.Version;
        Procedures
            .On(v, (uint)Nfs3Procedure.Null, XdrVoid.Read, (call, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nfs3Procedure.GetAttr, NfsFileHandle.Read, GetAttrAsync)
            .On(v, (uint)Nfs3Procedure.SetAttr, SetAttrArgs.Read, SetAttrAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Lookup, DirOpArgs.Read, LookupAsync)
            .On(v, (uint)Nfs3Procedure.Access, AccessArgs.Read, AccessAsync)
            .On(v, (uint)Nfs3Procedure.ReadLink, NfsFileHandle.Read, ReadLinkAsync)
            .On(v, (uint)Nfs3Procedure.Read, FileRangeArgs.Read, ReadAsync)
            // WRITE is idempotent in effect (the same bytes at the same offset) and its replies are large: not cached.
            .On(v, (uint)Nfs3Procedure.Write, WriteArgs.Read, WriteAsync)
            .On(v, (uint)Nfs3Procedure.Create, CreateArgs.Read, CreateAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Mkdir, MkdirArgs.Read, MkdirAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Symlink, SymlinkArgs.Read, SymlinkAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Mknod, MknodArgs.Read, MknodAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Remove, DirOpArgs.Read, RemoveAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Rmdir, DirOpArgs.Read, RmdirAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Rename, RenameArgs.Read, RenameAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.Link, LinkArgs.Read, LinkAsync, nonIdempotent: true)
            .On(v, (uint)Nfs3Procedure.ReadDir, ReadDirArgs.Read, ReadDirAsync)
            .On(v, (uint)Nfs3Procedure.ReadDirPlus, ReadDirPlusArgs.Read, ReadDirPlusAsync)
            .On(v, (uint)Nfs3Procedure.FsStat, NfsFileHandle.Read, FsStatAsync)
            .On(v, (uint)Nfs3Procedure.FsInfo, NfsFileHandle.Read, FsInfoAsync)
            .On(v, (uint)Nfs3Procedure.PathConf, NfsFileHandle.Read, PathConfAsync)
            .On(v, (uint)Nfs3Procedure.Commit, FileRangeArgs.Read, CommitAsync);
    }

    /// <summary>
    /// writeverf3 of this server instance (RFC 1813 §3.3.7): changes on every start, so clients resend uncommitted
    /// data. Boot time in nanoseconds XOR 64 random bits: two starts within one clock tick still differ.
    /// </summary>
    public ulong WriteVerifier { get; }

    private static ulong NewWriteVerifier()
    {
        ulong bootNanoseconds = (ulong)(DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        return bootNanoseconds ^ BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8));
    }

    // ---- errors ---------------------------------------------------------------------------------------------------

    /// <summary>The one table from the neutral file-system errors to nfsstat3 (RFC 1813 §2.6).</summary>
    private static readonly FrozenDictionary<FileSystemError, Nfs3Status> StatusTable = new Dictionary<FileSystemError, Nfs3Status>
    {
        [FileSystemError.NotFound] = Nfs3Status.NoEnt,
        [FileSystemError.Exists] = Nfs3Status.Exist,
        [FileSystemError.NotDirectory] = Nfs3Status.NotDir,
        [FileSystemError.IsDirectory] = Nfs3Status.IsDir,
        [FileSystemError.NotEmpty] = Nfs3Status.NotEmpty,
        [FileSystemError.AccessDenied] = Nfs3Status.Acces,
        [FileSystemError.NotPermitted] = Nfs3Status.Perm,
        [FileSystemError.ReadOnly] = Nfs3Status.RoFs,
        [FileSystemError.NoSpace] = Nfs3Status.NoSpc,
        [FileSystemError.QuotaExceeded] = Nfs3Status.DQuot,
        [FileSystemError.NameTooLong] = Nfs3Status.NameTooLong,
        [FileSystemError.CrossDevice] = Nfs3Status.XDev,
        [FileSystemError.Invalid] = Nfs3Status.Inval,
        [FileSystemError.Stale] = Nfs3Status.Stale,
        [FileSystemError.BadHandle] = Nfs3Status.BadHandle,
        [FileSystemError.TooManyLinks] = Nfs3Status.MLink,
        [FileSystemError.NotSupported] = Nfs3Status.NotSupp,
        [FileSystemError.Io] = Nfs3Status.Io,
        [FileSystemError.FileTooBig] = Nfs3Status.FBig,
        [FileSystemError.NotSync] = Nfs3Status.NotSync,
        [FileSystemError.BadCookie] = Nfs3Status.BadCookie,
        [FileSystemError.BadType] = Nfs3Status.BadType,
        // RFC 1813 has no ELOOP: a symlink met where a file or directory was needed is "not a directory"-like misuse.
        [FileSystemError.SymbolicLink] = Nfs3Status.Inval,
    }.ToFrozenDictionary();

    public static Nfs3Status StatusOf(FileSystemError error) =>
        StatusTable.TryGetValue(error, out var status) ? status : Nfs3Status.ServerFault;

    /// <summary>A status decided by the protocol layer itself (BADHANDLE of an unknown export, ACCES of a refused client, TOOSMALL).</summary>
    private sealed class NfsStatusException(Nfs3Status status, string message) : Exception(message)
    {
        public Nfs3Status Status { get; } = status;
    }

    // ---- the call skeleton -------------------------------------------------------------------------------------------

    /// <summary>What follows the status when a procedure fails (the resfail arms of RFC 1813 §3.3).</summary>
    private enum FailureArm
    {
        /// <summary>GETATTR: nothing.</summary>
        None,
        /// <summary>post_op_attr of the first object.</summary>
        PostOp,
        /// <summary>wcc_data of the first object.</summary>
        Wcc,
        /// <summary>RENAME: wcc_data of both directories.</summary>
        TwoWcc,
        /// <summary>LINK: post_op_attr of the file, wcc_data of the directory.</summary>
        PostOpThenWcc,
    }

    /// <summary>
    /// One NFS call in progress: the caller, the export, and the objects whose attributes a failure reply carries
    /// (the pre-op attributes are recorded by <see cref="PreOpAsync"/> before a mutation).
    /// </summary>
    private sealed class NfsCall(RpcCallContext rpc, CallerIdentity caller, NfsExport export, FileHandle first)
    {
        public RpcCallContext Rpc => rpc;
        public CallerIdentity Caller => caller;
        public NfsExport Export => export;
        public IFileSystem Fs => export.FileSystem;
        public XdrWriter Results => rpc.Results;
        public FileHandle First => first;
        public FileHandle? Second;
        public WccAttr? FirstBefore, SecondBefore;
    }

    private static CallerIdentity CallerOf(RpcCallContext rpc) => rpc.AuthSys is { } sys
        ? new CallerIdentity(sys.Uid, sys.Gid, sys.Gids)
        : Anonymous;

    /// <summary>Finds the export of <paramref name="handle"/> and checks that the calling address may use it.</summary>
    private NfsExport ExportOf(RpcCallContext rpc, FileHandle handle)
    {
        if (NfsExport.ExportIdOf(handle) is not { } id || !_exports.TryGetValue(id, out var export))
            throw new NfsStatusException(Nfs3Status.BadHandle, $"handle {handle} belongs to no export of this server");
        if (!export.Allows(rpc.RemoteEndPoint.Address))
            throw new NfsStatusException(Nfs3Status.Acces, $"client {rpc.RemoteEndPoint.Address} is not allowed to use export {export.Path}");
        return export;
    }

    private static FileHandle ToFileHandle(NfsFileHandle handle) =>
        handle.IsEmpty
            ? throw new NfsStatusException(Nfs3Status.BadHandle, "empty file handle")
            : new FileHandle(handle.Bytes);

    /// <summary>A second handle of a two-object procedure must be in the same export (else XDEV, RFC 1813 §3.3.14/15).</summary>
    private FileHandle SameExport(NfsCall call, NfsFileHandle handle)
    {
        var second = ToFileHandle(handle);
        if (ExportOf(call.Rpc, second) != call.Export)
            throw new NfsStatusException(Nfs3Status.XDev, "the two handles belong to different exports");
        call.Second = second;
        return second;
    }

    /// <summary>
    /// Runs <paramref name="body"/>, which writes NFS3_OK and its body only after every file-system call succeeded;
    /// on failure writes the status and the failure arm instead.
    /// </summary>
    private async ValueTask<RpcReplyStatus> RunAsync(RpcCallContext rpc, NfsFileHandle handle, FailureArm arm,
        Func<NfsCall, CancellationToken, ValueTask> body, CancellationToken cancellationToken)
    {
        NfsCall? call = null;
        Nfs3Status status;
        try
        {
            var first = ToFileHandle(handle);
            call = new NfsCall(rpc, CallerOf(rpc), ExportOf(rpc, first), first);
            await body(call, cancellationToken).ConfigureAwait(false);
            return RpcReplyStatus.Success;
        }
        catch (FileSystemException e)
        {
            status = StatusOf(e.Error);
            if (status is Nfs3Status.Io or Nfs3Status.ServerFault) _log?.Invoke($"{rpc.Describe()}: {e.Message}");
        }
        catch (NfsStatusException e)
        {
            status = e.Status;
            if (status != Nfs3Status.TooSmall) _log?.Invoke($"{rpc.Describe()}: {status.WireName()}: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException and not XdrException)
        {
            status = Nfs3Status.ServerFault;
            _log?.Invoke($"{rpc.Describe()}: {e.GetType().Name}: {e.Message}");
        }
        Nfs3Reply.WriteStatus(rpc.Results, status);
        await WriteFailureArmAsync(rpc.Results, call, arm, cancellationToken).ConfigureAwait(false);
        return RpcReplyStatus.Success;
    }

    private static async ValueTask WriteFailureArmAsync(XdrWriter writer, NfsCall? call, FailureArm arm, CancellationToken cancellationToken)
    {
        switch (arm)
        {
            case FailureArm.PostOp:
                Fattr3.WritePostOp(writer, await PostOpAsync(call, call?.First, cancellationToken).ConfigureAwait(false));
                break;
            case FailureArm.Wcc:
                (await WccAsync(call, call?.First, call?.FirstBefore, cancellationToken).ConfigureAwait(false)).Write(writer);
                break;
            case FailureArm.TwoWcc:
                (await WccAsync(call, call?.First, call?.FirstBefore, cancellationToken).ConfigureAwait(false)).Write(writer);
                (await WccAsync(call, call?.Second, call?.SecondBefore, cancellationToken).ConfigureAwait(false)).Write(writer);
                break;
            case FailureArm.PostOpThenWcc:
                Fattr3.WritePostOp(writer, await PostOpAsync(call, call?.First, cancellationToken).ConfigureAwait(false));
                (await WccAsync(call, call?.Second, call?.SecondBefore, cancellationToken).ConfigureAwait(false)).Write(writer);
                break;
        }
    }

    // ---- attributes ---------------------------------------------------------------------------------------------------

    /// <summary>post_op_attr: the object's attributes, or none when they cannot be had (the object is gone, …).</summary>
    private static async ValueTask<Fattr3?> PostOpAsync(NfsCall? call, FileHandle? handle, CancellationToken cancellationToken)
    {
        if (call is null || handle is null) return null;
        try
        {
            return ToFattr3(await call.Fs.GetAttributesAsync(call.Caller, handle, cancellationToken).ConfigureAwait(false));
        }
        catch (FileSystemException)
        {
            return null;
        }
    }

    private static async ValueTask<WccData> WccAsync(NfsCall? call, FileHandle? handle, WccAttr? before, CancellationToken cancellationToken) =>
        new(before, await PostOpAsync(call, handle, cancellationToken).ConfigureAwait(false));

    /// <summary>Records the pre-op attributes (wcc_attr) of the first and, if set, second object before a mutation.</summary>
    private static async ValueTask PreOpAsync(NfsCall call, CancellationToken cancellationToken)
    {
        call.FirstBefore = ToWccAttr(await PostOpAsync(call, call.First, cancellationToken).ConfigureAwait(false));
        if (call.Second is not null)
            call.SecondBefore = ToWccAttr(await PostOpAsync(call, call.Second, cancellationToken).ConfigureAwait(false));
    }

    private static WccAttr? ToWccAttr(Fattr3? attributes) =>
        attributes is null ? null : new WccAttr(attributes.Size, attributes.Mtime, attributes.Ctime);

    public static Fattr3 ToFattr3(FsAttributes a) => new(
        (Nfs3FileType)a.Type, a.Mode & 0xFFF, a.LinkCount, a.Uid, a.Gid, a.Size, a.UsedBytes,
        new SpecData(a.Device.Major, a.Device.Minor), a.FileSystemId, a.FileId,
        ToNfsTime(a.AccessTime), ToNfsTime(a.ModifyTime), ToNfsTime(a.ChangeTime));

    /// <summary>nfstime3 has unsigned 32-bit seconds: times before 1970 or after 2106 are clamped.</summary>
    private static NfsTime ToNfsTime(FileTime time) =>
        new((uint)Math.Clamp(time.Seconds, 0, uint.MaxValue), time.Nanoseconds);

    private static FileTime ToFileTime(NfsTime time) => new(time.Seconds, time.Nanoseconds);

    private static TimeChange ToTimeChange(SetTime time) => time.How switch
    {
        TimeHow.SetToServerTime => TimeChange.ServerTime,
        TimeHow.SetToClientTime => TimeChange.To(ToFileTime(time.Time)),
        _ => TimeChange.None,
    };

    private static AttributeChanges ToChanges(Sattr3? attributes) => attributes is null ? AttributeChanges.None : new()
    {
        Mode = attributes.Mode,
        Uid = attributes.Uid,
        Gid = attributes.Gid,
        Size = attributes.Size,
        AccessTime = ToTimeChange(attributes.Atime),
        ModifyTime = ToTimeChange(attributes.Mtime),
    };

    private static NfsFileHandle ToNfsHandle(FileHandle handle) => new(handle.Span);

    // ---- procedures -----------------------------------------------------------------------------------------------

    private ValueTask<RpcReplyStatus> GetAttrAsync(RpcCallContext rpc, NfsFileHandle handle, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.None, async (call, ct) =>
        {
            var attributes = await call.Fs.GetAttributesAsync(call.Caller, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            ToFattr3(attributes).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> SetAttrAsync(RpcCallContext rpc, SetAttrArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.Object, FailureArm.Wcc, async (call, ct) =>
        {
            await PreOpAsync(call, ct).ConfigureAwait(false);
            FileTime? guard = args.GuardCtime is { } time ? ToFileTime(time) : null;
            var after = await call.Fs.SetAttributesAsync(call.Caller, call.First, ToChanges(args.NewAttributes), guard, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new WccData(call.FirstBefore, ToFattr3(after)).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> LookupAsync(RpcCallContext rpc, DirOpArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.Dir, FailureArm.PostOp, async (call, ct) =>
        {
            var found = await call.Fs.LookupAsync(call.Caller, call.First, args.Name, ct).ConfigureAwait(false);
            var dir = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new LookupResult(ToNfsHandle(found.Handle), ToFattr3(found.Attributes), dir).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> AccessAsync(RpcCallContext rpc, AccessArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.Object, FailureArm.PostOp, async (call, ct) =>
        {
            // Bits this server does not know are ignored (RFC 1813 §3.3.4); AccessRights uses the ACCESS3 values.
            var wanted = (AccessRights)(uint)args.Access & AccessRights.All;
            var granted = await call.Fs.AccessAsync(call.Caller, call.First, wanted, ct).ConfigureAwait(false);
            var attributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new AccessResult((Access3)(uint)(granted & wanted), attributes).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> ReadLinkAsync(RpcCallContext rpc, NfsFileHandle handle, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.PostOp, async (call, ct) =>
        {
            string target = await call.Fs.ReadLinkAsync(call.Caller, call.First, ct).ConfigureAwait(false);
            var attributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new ReadLinkResult(target, attributes).Write(call.Results);
        }, ct);

    /// <summary>
    /// READ (§3.3.6) writes its payload once: the file system reads straight into the reply buffer behind room for
    /// the header (status, post_op_attr, count, eof, opaque length), which is filled in once count and eof are known.
    /// The attributes are taken before the read (a read changes neither size nor mtime).
    /// </summary>
    private ValueTask<RpcReplyStatus> ReadAsync(RpcCallContext rpc, FileRangeArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.File, FailureArm.PostOp, async (call, ct) =>
        {
            var attributes = ToFattr3(await call.Fs.GetAttributesAsync(call.Caller, call.First, ct).ConfigureAwait(false));
            var header = new ArrayBufferWriter<byte>(128);
            var headerWriter = new XdrWriter(header);
            Nfs3Reply.WriteStatus(headerWriter, Nfs3Status.Ok);
            Fattr3.WritePostOp(headerWriter, attributes);
            int prefix = header.WrittenCount + 12; // + count, eof, opaque length
            int wanted = (int)Math.Min(args.Count, MaxTransferSize);
            var output = call.Results.Output;
            var room = output.GetMemory(prefix + wanted + 3);
            var result = await call.Fs.ReadAsync(call.Caller, call.First, args.Offset, room.Slice(prefix, wanted), ct).ConfigureAwait(false);
            var span = room.Span;
            header.WrittenSpan.CopyTo(span);
            BinaryPrimitives.WriteUInt32BigEndian(span[header.WrittenCount..], (uint)result.Count);
            BinaryPrimitives.WriteUInt32BigEndian(span[(header.WrittenCount + 4)..], result.EndOfFile ? 1u : 0u);
            BinaryPrimitives.WriteUInt32BigEndian(span[(header.WrittenCount + 8)..], (uint)result.Count);
            int padded = XdrWriter.Padded(result.Count);
            span.Slice(prefix + result.Count, padded - result.Count).Clear();
            output.Advance(prefix + padded);
        }, ct);

    private ValueTask<RpcReplyStatus> WriteAsync(RpcCallContext rpc, WriteArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.File, FailureArm.Wcc, async (call, ct) =>
        {
            if (args.Data.Length > MaxTransferSize)
                throw new NfsStatusException(Nfs3Status.Inval, $"WRITE of {args.Data.Length} bytes exceeds wtmax {MaxTransferSize}");
            await PreOpAsync(call, ct).ConfigureAwait(false);
            var written = await call.Fs.WriteAsync(call.Caller, call.First, args.Offset, args.Data, (WriteStability)args.Stable, ct).ConfigureAwait(false);
            var wcc = await WccAsync(call, call.First, call.FirstBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new Protocols.Nfs3.WriteResult((uint)written.Count, (StableHow)written.Stability, WriteVerifier, wcc).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> CommitAsync(RpcCallContext rpc, FileRangeArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.File, FailureArm.Wcc, async (call, ct) =>
        {
            await PreOpAsync(call, ct).ConfigureAwait(false);
            await call.Fs.CommitAsync(call.Caller, call.First, args.Offset, args.Count, ct).ConfigureAwait(false);
            var wcc = await WccAsync(call, call.First, call.FirstBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new CommitResult(WriteVerifier, wcc).Write(call.Results);
        }, ct);

    /// <summary>CREATE, MKDIR, SYMLINK and MKNOD: make an object in a directory, reply CREATE3resok (§3.3.8).</summary>
    private ValueTask<RpcReplyStatus> MakeAsync(RpcCallContext rpc, DirOpArgs where,
        Func<NfsCall, CancellationToken, ValueTask<FileObject>> make, CancellationToken ct) =>
        RunAsync(rpc, where.Dir, FailureArm.Wcc, async (call, ct) =>
        {
            await PreOpAsync(call, ct).ConfigureAwait(false);
            var made = await make(call, ct).ConfigureAwait(false);
            var wcc = await WccAsync(call, call.First, call.FirstBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new CreateResult(ToNfsHandle(made.Handle), ToFattr3(made.Attributes), wcc).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> CreateAsync(RpcCallContext rpc, CreateArgs args, CancellationToken ct) =>
        MakeAsync(rpc, args.Where, (call, ct) => call.Fs.CreateAsync(call.Caller, call.First, args.Where.Name,
            (NfsNs.Server.FileSystem.CreateMode)args.Mode, ToChanges(args.Attributes), args.Verifier, ct), ct);

    private ValueTask<RpcReplyStatus> MkdirAsync(RpcCallContext rpc, MkdirArgs args, CancellationToken ct) =>
        MakeAsync(rpc, args.Where, (call, ct) =>
            call.Fs.MakeDirectoryAsync(call.Caller, call.First, args.Where.Name, ToChanges(args.Attributes), ct), ct);

    private ValueTask<RpcReplyStatus> SymlinkAsync(RpcCallContext rpc, SymlinkArgs args, CancellationToken ct) =>
        MakeAsync(rpc, args.Where, (call, ct) =>
            call.Fs.SymlinkAsync(call.Caller, call.First, args.Where.Name, args.Target, ToChanges(args.Attributes), ct), ct);

    private ValueTask<RpcReplyStatus> MknodAsync(RpcCallContext rpc, MknodArgs args, CancellationToken ct) =>
        MakeAsync(rpc, args.Where, (call, ct) => call.Fs.MakeNodeAsync(call.Caller, call.First, args.Where.Name,
            (FileType)args.Type, new DeviceNumber(args.Device.Major, args.Device.Minor), ToChanges(args.Attributes), ct), ct);

    /// <summary>REMOVE and RMDIR: the directory's wcc_data either way (§3.3.12, §3.3.13).</summary>
    private ValueTask<RpcReplyStatus> UnlinkAsync(RpcCallContext rpc, DirOpArgs args, bool directory, CancellationToken ct) =>
        RunAsync(rpc, args.Dir, FailureArm.Wcc, async (call, ct) =>
        {
            await PreOpAsync(call, ct).ConfigureAwait(false);
            if (directory) await call.Fs.RemoveDirectoryAsync(call.Caller, call.First, args.Name, ct).ConfigureAwait(false);
            else await call.Fs.RemoveAsync(call.Caller, call.First, args.Name, ct).ConfigureAwait(false);
            var wcc = await WccAsync(call, call.First, call.FirstBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            wcc.Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> RemoveAsync(RpcCallContext rpc, DirOpArgs args, CancellationToken ct) =>
        UnlinkAsync(rpc, args, directory: false, ct);

    private ValueTask<RpcReplyStatus> RmdirAsync(RpcCallContext rpc, DirOpArgs args, CancellationToken ct) =>
        UnlinkAsync(rpc, args, directory: true, ct);

    private ValueTask<RpcReplyStatus> RenameAsync(RpcCallContext rpc, RenameArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.From.Dir, FailureArm.TwoWcc, async (call, ct) =>
        {
            var toDirectory = SameExport(call, args.To.Dir);
            await PreOpAsync(call, ct).ConfigureAwait(false);
            await call.Fs.RenameAsync(call.Caller, call.First, args.From.Name, toDirectory, args.To.Name, ct).ConfigureAwait(false);
            var from = await WccAsync(call, call.First, call.FirstBefore, ct).ConfigureAwait(false);
            var to = await WccAsync(call, toDirectory, call.SecondBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new RenameResult(from, to).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> LinkAsync(RpcCallContext rpc, LinkArgs args, CancellationToken ct) =>
        RunAsync(rpc, args.File, FailureArm.PostOpThenWcc, async (call, ct) =>
        {
            var directory = SameExport(call, args.Link.Dir);
            await PreOpAsync(call, ct).ConfigureAwait(false);
            var file = await call.Fs.LinkAsync(call.Caller, call.First, directory, args.Link.Name, ct).ConfigureAwait(false);
            var wcc = await WccAsync(call, directory, call.SecondBefore, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new LinkResult(ToFattr3(file), wcc).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> ReadDirAsync(RpcCallContext rpc, ReadDirArgs args, CancellationToken ct) =>
        ListAsync(rpc, args.Dir, args.Cookie, args.CookieVerifier, dirCount: args.Count, maxCount: args.Count, plus: false, ct);

    private ValueTask<RpcReplyStatus> ReadDirPlusAsync(RpcCallContext rpc, ReadDirPlusArgs args, CancellationToken ct) =>
        ListAsync(rpc, args.Dir, args.Cookie, args.CookieVerifier, args.DirCount, args.MaxCount, plus: true, ct);

    /// <summary>
    /// READDIR and READDIRPLUS (§3.3.16, §3.3.17): entries are added while their encoded size fits — maxcount bounds the
    /// whole READDIR(PLUS)3resok, and for READDIRPLUS dircount bounds the entry3 part (fileid, name, cookie) alone.
    /// The listing stops before the first entry that would overflow (eof FALSE, the client continues from the last
    /// cookie); NFS3ERR_TOOSMALL only when not even one entry fits.
    /// </summary>
    private ValueTask<RpcReplyStatus> ListAsync(RpcCallContext rpc, NfsFileHandle handle, ulong cookie, ulong verifier,
        uint dirCount, uint maxCount, bool plus, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.PostOp, async (call, ct) =>
        {
            // How many entries to ask the file system for: what fits if every entry is small. For PLUS, an entry
            // with its attributes (fattr3 84 + flag 4) is at least 120 bytes (value-follows 4, fileid 8, 4-byte name
            // 8, cookie 8, attributes 88, absent handle 4); asking for more only makes the backend stat and hash
            // entries that are then dropped (READDIRPLUS cost 4-5x its due). A page that stops short is still a
            // correct page, not EOF.
            int smallestEntry = plus ? 120 : 24;
            int maxEntries = (int)Math.Clamp(Math.Min(maxCount, MaxTransferSize) / smallestEntry + 1, 2, 16384);
            var page = await call.Fs.ReadDirectoryAsync(call.Caller, call.First, cookie, verifier, maxEntries, plus, ct).ConfigureAwait(false);
            var dirAttributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);

            // status + post_op_attr + cookieverf3 + the list's final FALSE + eof.
            long replyBytes = 4 + (dirAttributes is null ? 4 : 88) + 8 + 4 + 4;
            long entryBytes = 0;
            var entries = new List<DirectoryEntry>(page.Entries.Count);
            foreach (var entry in page.Entries)
            {
                int nameBytes = 4 + XdrWriter.Padded(System.Text.Encoding.UTF8.GetByteCount(entry.Name));
                int dirPart = 8 + nameBytes + 8;
                int size = 4 + dirPart + (plus ? 4 + (entry.Object is null ? 4 : 84 + 4 + 4 + XdrWriter.Padded(entry.Object.Handle.Length)) : 0);
                if (replyBytes + size > maxCount || (plus && entryBytes + dirPart > dirCount)) break;
                replyBytes += size;
                entryBytes += dirPart;
                entries.Add(entry);
            }
            if (entries.Count == 0 && page.Entries.Count > 0)
                throw new NfsStatusException(Nfs3Status.TooSmall, $"maxcount {maxCount}/dircount {dirCount} holds no entry");
            bool eof = page.EndOfDirectory && entries.Count == page.Entries.Count;

            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            if (plus)
            {
                new ReadDirPlusResult([.. entries.Select(e => new DirEntryPlus(e.FileId, e.Name, e.Cookie,
                        e.Object is null ? null : ToFattr3(e.Object.Attributes),
                        e.Object is null ? null : ToNfsHandle(e.Object.Handle)))],
                    page.CookieVerifier, eof, dirAttributes).Write(call.Results);
            }
            else
            {
                new ReadDirResult([.. entries.Select(e => new DirEntry(e.FileId, e.Name, e.Cookie))],
                    page.CookieVerifier, eof, dirAttributes).Write(call.Results);
            }
        }, ct);

    private ValueTask<RpcReplyStatus> FsStatAsync(RpcCallContext rpc, NfsFileHandle handle, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.PostOp, async (call, ct) =>
        {
            var s = await call.Fs.GetStatisticsAsync(call.Caller, call.First, ct).ConfigureAwait(false);
            var attributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            // invarsec 0: the numbers may change at any time.
            new FsStatResult(attributes, s.TotalBytes, s.FreeBytes, s.AvailableBytes, s.TotalFiles, s.FreeFiles,
                s.AvailableFiles, InvariantSeconds: 0).Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> FsInfoAsync(RpcCallContext rpc, NfsFileHandle handle, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.PostOp, async (call, ct) =>
        {
            var limits = await call.Fs.GetLimitsAsync(call.Caller, call.First, ct).ConfigureAwait(false);
            var attributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            var properties = FsProperties.Homogeneous | FsProperties.CanSetTime
                | (limits.SupportsHardLinks ? FsProperties.Link : 0)
                | (limits.SupportsSymbolicLinks ? FsProperties.Symlink : 0);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new FsInfoResult(attributes, MaxTransferSize, MaxTransferSize, TransferMultiple, MaxTransferSize, MaxTransferSize,
                TransferMultiple, PreferredDirectorySize, limits.MaxFileSize, ToNfsTime(limits.TimeGranularity), properties)
                .Write(call.Results);
        }, ct);

    private ValueTask<RpcReplyStatus> PathConfAsync(RpcCallContext rpc, NfsFileHandle handle, CancellationToken ct) =>
        RunAsync(rpc, handle, FailureArm.PostOp, async (call, ct) =>
        {
            var limits = await call.Fs.GetLimitsAsync(call.Caller, call.First, ct).ConfigureAwait(false);
            var attributes = await PostOpAsync(call, call.First, ct).ConfigureAwait(false);
            Nfs3Reply.WriteStatus(call.Results, Nfs3Status.Ok);
            new PathConfResult(attributes, limits.MaxLinkCount, limits.MaxNameLength, limits.NoTruncation,
                limits.ChownRestricted, limits.CaseInsensitive, limits.CasePreserving).Write(call.Results);
        }, ct);
}
