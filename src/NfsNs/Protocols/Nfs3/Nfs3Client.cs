using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Nfs3;

/// <summary>
/// Typed stubs for the NFSv3 procedures (RFC 1813 §3.3) over an <see cref="IRpcCaller"/> bound to program
/// <see cref="Nfs3.Program"/> version <see cref="Nfs3.Version"/>. Each method returns the NFS3_OK body and throws
/// <see cref="Nfs3Exception"/> for any other status (with the failure arm in <see cref="Nfs3Exception.FailureDetails"/>);
/// malformed replies throw <see cref="XdrException"/>, transport failures <see cref="RpcException"/>.
/// NFS3ERR_JUKEBOX is retried here, per <see cref="JukeboxPolicy"/>, with the same arguments.
/// </summary>
public sealed class Nfs3Client(IRpcCaller caller, JukeboxPolicy? jukebox = null)
{
    private readonly IRpcCaller _caller = caller ?? throw new ArgumentNullException(nameof(caller));
    private readonly JukeboxPolicy _jukebox = jukebox ?? JukeboxPolicy.Default;

    public IRpcCaller Caller => _caller;
    public JukeboxPolicy Jukebox => _jukebox;

    /// <summary>What a procedure's failure arm carries (RFC 1813 §3.3, the XXX3resfail of each procedure).</summary>
    private enum FailureArm { Void, PostOpAttr, Wcc, SameAsOk }

    private readonly record struct Reply<T>(Nfs3Status Status, T? Value, object? FailureDetails) : IRpcResultStatus
    {
        public bool IsError => Status != Nfs3Status.Ok;
    }

    /// <summary>NULL (§3.3.0): does nothing; it has no status and so nothing to retry.</summary>
    public Task NullAsync(CancellationToken cancellationToken = default) =>
        _caller.CallAsync((uint)Nfs3Procedure.Null, XdrVoid.Value, static (ref XdrReader reader) =>
        {
            reader.EnsureFullyConsumed("NULL reply");
            return XdrVoid.Value;
        }, cancellationToken);

    public Task<Fattr3> GetAttrAsync(NfsFileHandle handle, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.GetAttr, handle, Fattr3.Read, FailureArm.Void, cancellationToken);

    /// <param name="guardCtime">If given, the server applies the change only while the object's ctime is this (else NOT_SYNC).</param>
    public Task<WccData> SetAttrAsync(NfsFileHandle handle, Sattr3 attributes, NfsTime? guardCtime = null, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.SetAttr, new SetAttrArgs(handle, attributes, guardCtime), WccData.Read, FailureArm.SameAsOk, cancellationToken);

    public Task<LookupResult> LookupAsync(NfsFileHandle dir, string name, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Lookup, new DirOpArgs(dir, name), LookupResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public Task<AccessResult> AccessAsync(NfsFileHandle handle, Access3 access, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Access, new AccessArgs(handle, access), AccessResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public async Task<string> ReadLinkAsync(NfsFileHandle symlink, CancellationToken cancellationToken = default) =>
        (await CallAsync(Nfs3Procedure.ReadLink, symlink, ReadLinkResult.Read, FailureArm.PostOpAttr, cancellationToken).ConfigureAwait(false)).Target;

    /// <summary>
    /// READ (§3.3.6): the payload is copied from the reply's buffer straight into <paramref name="destination"/>,
    /// which must hold <paramref name="count"/> bytes; the result's <c>Data</c> is the filled part of it.
    /// </summary>
    public Task<ReadResult> ReadAsync(NfsFileHandle file, ulong offset, uint count, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (destination.Length < count)
            throw new ArgumentException($"the destination holds {destination.Length} bytes, fewer than the {count} requested", nameof(destination));
        return CallAsync(Nfs3Procedure.Read, new FileRangeArgs(file, offset, count),
            (ref XdrReader reader) => ReadResult.Read(ref reader, destination, count), FailureArm.PostOpAttr, cancellationToken);
    }

    /// <summary>WRITE (§3.3.7). The server may write less than all of <paramref name="data"/>: check <c>Count</c>.</summary>
    public async Task<WriteResult> WriteAsync(NfsFileHandle file, ulong offset, ReadOnlyMemory<byte> data, StableHow stable, CancellationToken cancellationToken = default)
    {
        var result = await CallAsync(Nfs3Procedure.Write, new WriteArgs(file, offset, stable, data), WriteResult.Read, FailureArm.Wcc, cancellationToken)
            .ConfigureAwait(false);
        if (result.Count > data.Length)
            throw new XdrException($"WRITE reply says {result.Count} bytes were written of the {data.Length} sent");
        return result;
    }

    /// <param name="attributes">Initial attributes for UNCHECKED and GUARDED; ignored for EXCLUSIVE.</param>
    /// <param name="exclusiveVerifier">The createverf3 for EXCLUSIVE; ignored otherwise.</param>
    public Task<CreateResult> CreateAsync(NfsFileHandle dir, string name, CreateMode mode, Sattr3? attributes, ulong exclusiveVerifier = 0, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Create, new CreateArgs(new DirOpArgs(dir, name), mode, attributes, exclusiveVerifier), CreateResult.Read, FailureArm.Wcc, cancellationToken);

    public Task<CreateResult> MkdirAsync(NfsFileHandle dir, string name, Sattr3 attributes, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Mkdir, new MkdirArgs(new DirOpArgs(dir, name), attributes), CreateResult.Read, FailureArm.Wcc, cancellationToken);

    public Task<CreateResult> SymlinkAsync(NfsFileHandle dir, string name, string target, Sattr3 attributes, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Symlink, new SymlinkArgs(new DirOpArgs(dir, name), attributes, target), CreateResult.Read, FailureArm.Wcc, cancellationToken);

    /// <param name="device">Major and minor numbers, sent for character and block devices only.</param>
    public Task<CreateResult> MknodAsync(NfsFileHandle dir, string name, Nfs3FileType type, Sattr3 attributes, SpecData device = default, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Mknod, new MknodArgs(new DirOpArgs(dir, name), type, attributes, device), CreateResult.Read, FailureArm.Wcc, cancellationToken);

    public Task<WccData> RemoveAsync(NfsFileHandle dir, string name, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Remove, new DirOpArgs(dir, name), WccData.Read, FailureArm.SameAsOk, cancellationToken);

    public Task<WccData> RmdirAsync(NfsFileHandle dir, string name, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Rmdir, new DirOpArgs(dir, name), WccData.Read, FailureArm.SameAsOk, cancellationToken);

    public Task<RenameResult> RenameAsync(NfsFileHandle fromDir, string fromName, NfsFileHandle toDir, string toName, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Rename, new RenameArgs(new DirOpArgs(fromDir, fromName), new DirOpArgs(toDir, toName)), RenameResult.Read, FailureArm.SameAsOk, cancellationToken);

    public Task<LinkResult> LinkAsync(NfsFileHandle file, NfsFileHandle dir, string name, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Link, new LinkArgs(file, new DirOpArgs(dir, name)), LinkResult.Read, FailureArm.SameAsOk, cancellationToken);

    /// <param name="cookie">0 to start, else the cookie of the last entry received.</param>
    /// <param name="cookieVerifier">0 to start, else the verifier of the previous reply.</param>
    public Task<ReadDirResult> ReadDirAsync(NfsFileHandle dir, ulong cookie, ulong cookieVerifier, uint count, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.ReadDir, new ReadDirArgs(dir, cookie, cookieVerifier, count), ReadDirResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public Task<ReadDirPlusResult> ReadDirPlusAsync(NfsFileHandle dir, ulong cookie, ulong cookieVerifier, uint dirCount, uint maxCount, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.ReadDirPlus, new ReadDirPlusArgs(dir, cookie, cookieVerifier, dirCount, maxCount), ReadDirPlusResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public Task<FsStatResult> FsStatAsync(NfsFileHandle root, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.FsStat, root, FsStatResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public Task<FsInfoResult> FsInfoAsync(NfsFileHandle root, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.FsInfo, root, FsInfoResult.Read, FailureArm.PostOpAttr, cancellationToken);

    public Task<PathConfResult> PathConfAsync(NfsFileHandle handle, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.PathConf, handle, PathConfResult.Read, FailureArm.PostOpAttr, cancellationToken);

    /// <param name="count">Bytes from <paramref name="offset"/> to commit; 0 means to the end of the file.</param>
    public Task<CommitResult> CommitAsync(NfsFileHandle file, ulong offset, uint count, CancellationToken cancellationToken = default) =>
        CallAsync(Nfs3Procedure.Commit, new FileRangeArgs(file, offset, count), CommitResult.Read, FailureArm.Wcc, cancellationToken);

    /// <summary>
    /// The one path every procedure with a status takes: call, decode the status-switched reply, retry JUKEBOX
    /// per the policy (re-sending the same arguments; a JUKEBOX reply means the call was not performed), and turn
    /// any other failure into an <see cref="Nfs3Exception"/>.
    /// </summary>
    private async Task<T> CallAsync<TArgs, T>(Nfs3Procedure procedure, TArgs args, XdrDecoder<T> readOk, FailureArm failureArm, CancellationToken cancellationToken)
        where TArgs : IXdrWritable
    {
        XdrDecoder<Reply<T>> decode = (ref XdrReader reader) => DecodeReply(ref reader, procedure, readOk, failureArm);
        for (int attempt = 1; ; attempt++)
        {
            var reply = await _caller.CallAsync((uint)procedure, args, decode, cancellationToken).ConfigureAwait(false);
            if (reply.Status == Nfs3Status.Ok)
                return reply.Value!;
            if (reply.Status != Nfs3Status.Jukebox || attempt >= _jukebox.MaxAttempts)
                throw new Nfs3Exception(procedure, reply.Status, failureDetails: reply.FailureDetails);
            await Task.Delay(_jukebox.DelayAfter(attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    private static Reply<T> DecodeReply<T>(ref XdrReader reader, Nfs3Procedure procedure, XdrDecoder<T> readOk, FailureArm failureArm)
    {
        var status = Nfs3Reply.ReadStatus(ref reader);
        Reply<T> reply;
        if (status == Nfs3Status.Ok)
        {
            reply = new Reply<T>(status, readOk(ref reader), null);
        }
        else
        {
            object? details = failureArm switch
            {
                FailureArm.PostOpAttr => Fattr3.ReadPostOp(ref reader),
                FailureArm.Wcc => WccData.Read(ref reader),
                FailureArm.SameAsOk => readOk(ref reader),
                _ => null,
            };
            reply = new Reply<T>(status, default, details);
        }
        reader.EnsureFullyConsumed($"{Nfs3Exception.ProcedureName(procedure)} reply");
        return reply;
    }
}
