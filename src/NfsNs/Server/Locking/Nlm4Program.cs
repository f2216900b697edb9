using System.Collections.Frozen;
using NfsNs.Protocols.Nlm4;
using NfsNs.Rpc.Server;
using NfsNs.Server.FileSystem;
using NfsNs.Xdr;

namespace NfsNs.Server.Locking;

/// <summary>
/// The Network Lock Manager, version 4 (RFC 1813 appendix II; XNFS chapter 10), program 100021, over a
/// <see cref="LockManager"/>:
/// <list type="bullet">
/// <item>TEST, LOCK, CANCEL, UNLOCK, and their message variants TEST_MSG … UNLOCK_MSG, which reply void at once and
/// send the result to the caller's lock manager as TEST_RES … UNLOCK_RES;</item>
/// <item>SHARE / UNSHARE (DOS share reservations, whole-file), NM_LOCK (a LOCK without monitoring or waiting),
/// FREE_ALL (drop a host's locks);</item>
/// <item>GRANTED and GRANTED_MSG, which are for clients, answer NLM4_DENIED (this server waits for no lock); the *_RES
/// procedures are accepted and ignored (this server sends no *_MSG calls).</item>
/// </list>
/// File handles are checked as NFS calls check them: a handle of no export, a forged or stale one is NLM4_STALE_FH;
/// a client the export does not allow, or an object that is not a regular file, NLM4_FAILED (as Linux's nlm_fopen
/// maps such errors). Read-only exports take locks of both kinds: a lock changes no data, and clients coordinate
/// readers with exclusive locks too (flock emulation), so NLM4_ROFS is never answered.
/// </summary>
public sealed class Nlm4Program : ProcedureTableProgram
{
    private readonly FrozenDictionary<uint, NfsExport> _exports;
    private readonly LockManager _manager;
    private readonly Action<string>? _log;

    internal Nlm4Program(IEnumerable<NfsExport> exports, LockManager manager, Action<string>? log = null)
        : base(new RpcProgram(Nlm4.Program))
    {
        _exports = exports.ToFrozenDictionary(e => e.ExportId);
        _manager = manager;
        _log = log;
        const uint v = Nlm4.Version;
        Procedures.On(v, (uint)Nlm4Procedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask);
        WithMessage(Nlm4Procedure.Test, Nlm4Procedure.TestMsg, Nlm4Procedure.TestRes, Nlm4TestArgs.Read, TestAsync, nonIdempotent: false);
        WithMessage(Nlm4Procedure.Lock, Nlm4Procedure.LockMsg, Nlm4Procedure.LockRes, Nlm4LockArgs.Read,
            (call, args, ct) => LockAsync(call, args, monitored: true, ct), nonIdempotent: true);
        WithMessage(Nlm4Procedure.Cancel, Nlm4Procedure.CancelMsg, Nlm4Procedure.CancelRes, Nlm4CancelArgs.Read, CancelAsync, nonIdempotent: true);
        WithMessage(Nlm4Procedure.Unlock, Nlm4Procedure.UnlockMsg, Nlm4Procedure.UnlockRes, Nlm4UnlockArgs.Read, UnlockAsync, nonIdempotent: true);
        WithMessage(Nlm4Procedure.Granted, Nlm4Procedure.GrantedMsg, Nlm4Procedure.GrantedRes, Nlm4TestArgs.Read, Granted, nonIdempotent: false);
        Procedures
            .On(v, (uint)Nlm4Procedure.TestRes, Nlm4TestResult.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nlm4Procedure.LockRes, Nlm4Result.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nlm4Procedure.CancelRes, Nlm4Result.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nlm4Procedure.UnlockRes, Nlm4Result.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nlm4Procedure.GrantedRes, Nlm4Result.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Nlm4Procedure.Share, Nlm4ShareArgs.Read, (call, args, ct) => ShareAsync(call, args, share: true, ct), nonIdempotent: true)
            .On(v, (uint)Nlm4Procedure.Unshare, Nlm4ShareArgs.Read, (call, args, ct) => ShareAsync(call, args, share: false, ct), nonIdempotent: true)
            .On(v, (uint)Nlm4Procedure.NmLock, Nlm4LockArgs.Read, async (call, args, ct) =>
            {
                (await LockAsync(call, args, monitored: false, ct).ConfigureAwait(false)).Write(call.Results);
                return RpcReplyStatus.Success;
            }, nonIdempotent: true)
            .On(v, (uint)Nlm4Procedure.FreeAll, Nlm4Notify.Read, FreeAll, nonIdempotent: true);
    }

    /// <summary>Registers a synchronous procedure and its message variant, which sends the same result back as <paramref name="result"/>.</summary>
    private void WithMessage<TArgs, TResult>(Nlm4Procedure procedure, Nlm4Procedure message, Nlm4Procedure result, XdrDecoder<TArgs> read,
        Func<RpcCallContext, TArgs, CancellationToken, ValueTask<TResult>> run, bool nonIdempotent) where TResult : IXdrWritable
    {
        Procedures
            .On(Nlm4.Version, (uint)procedure, read, async (call, args, ct) =>
            {
                (await run(call, args, ct).ConfigureAwait(false)).Write(call.Results);
                return RpcReplyStatus.Success;
            }, nonIdempotent)
            .On(Nlm4.Version, (uint)message, read, async (call, args, ct) =>
            {
                var value = await run(call, args, ct).ConfigureAwait(false);
                _manager.SendResult(call.RemoteEndPoint.Address, result, value);
                return RpcReplyStatus.Success;
            }, nonIdempotent);
    }

    private static LockHost HostOf(RpcCallContext call, string callerName) => new(callerName, call.RemoteEndPoint.Address);

    /// <summary>The locked file of <paramref name="fh"/>, or the NLM status that refuses it.</summary>
    private async ValueTask<(Nlm4Status? Refused, LockedFile File)> ResolveAsync(RpcCallContext call, NetObj fh, CancellationToken cancellationToken)
    {
        if (fh.Length is 0 or > FileHandle.MaxLength || NfsExport.ExportIdOf(fh.Bytes) is not { } id || !_exports.TryGetValue(id, out var export))
            return (Nlm4Status.StaleFileHandle, default);
        if (!export.Allows(call.RemoteEndPoint.Address))
        {
            _log?.Invoke($"{call.Describe()}: NLM4_FAILED: client {call.RemoteEndPoint.Address} is not allowed to use export {export.Path}");
            return (Nlm4Status.Failed, default);
        }
        try
        {
            var caller = call.AuthSys is { } sys ? new CallerIdentity(sys.Uid, sys.Gid, sys.Gids) : Nfs3Program.Anonymous;
            var attributes = await export.FileSystem.GetAttributesAsync(caller, new FileHandle(fh.Bytes), cancellationToken).ConfigureAwait(false);
            if (attributes.Type != FileType.Regular) return (Nlm4Status.Failed, default);
            return (null, new LockedFile(export.ExportId, attributes.FileSystemId, attributes.FileId));
        }
        catch (FileSystemException e) when (e.Error is FileSystemError.Stale or FileSystemError.BadHandle or FileSystemError.NotFound)
        {
            return (Nlm4Status.StaleFileHandle, default);
        }
        catch (FileSystemException e)
        {
            _log?.Invoke($"{call.Describe()}: NLM4_FAILED: {e.Message}");
            return (Nlm4Status.Failed, default);
        }
    }

    private async ValueTask<Nlm4TestResult> TestAsync(RpcCallContext call, Nlm4TestArgs args, CancellationToken cancellationToken)
    {
        var (refused, file) = await ResolveAsync(call, args.Lock.FileHandle, cancellationToken).ConfigureAwait(false);
        if (refused is { } status) return new Nlm4TestResult(args.Cookie, status, null);
        var (result, holder) = _manager.Test(file, HostOf(call, args.Lock.CallerName), args.Exclusive, args.Lock);
        return new Nlm4TestResult(args.Cookie, result, holder is null ? null
            : new Nlm4Holder(holder.Exclusive, holder.Owner.Svid, holder.Owner.Handle, holder.Range.Start, holder.Range.Length));
    }

    private async ValueTask<Nlm4Result> LockAsync(RpcCallContext call, Nlm4LockArgs args, bool monitored, CancellationToken cancellationToken)
    {
        var (refused, file) = await ResolveAsync(call, args.Lock.FileHandle, cancellationToken).ConfigureAwait(false);
        return new Nlm4Result(args.Cookie, refused ?? _manager.Lock(file, HostOf(call, args.Lock.CallerName), args, monitored));
    }

    private async ValueTask<Nlm4Result> CancelAsync(RpcCallContext call, Nlm4CancelArgs args, CancellationToken cancellationToken)
    {
        var (refused, file) = await ResolveAsync(call, args.Lock.FileHandle, cancellationToken).ConfigureAwait(false);
        return new Nlm4Result(args.Cookie, refused ?? _manager.Cancel(file, HostOf(call, args.Lock.CallerName), args.Exclusive, args.Lock));
    }

    private async ValueTask<Nlm4Result> UnlockAsync(RpcCallContext call, Nlm4UnlockArgs args, CancellationToken cancellationToken)
    {
        var (refused, file) = await ResolveAsync(call, args.Lock.FileHandle, cancellationToken).ConfigureAwait(false);
        return new Nlm4Result(args.Cookie, refused ?? _manager.Unlock(file, HostOf(call, args.Lock.CallerName), args.Lock));
    }

    /// <summary>GRANTED is a client's procedure: this server has no blocked requests of its own to match it.</summary>
    private static ValueTask<Nlm4Result> Granted(RpcCallContext call, Nlm4TestArgs args, CancellationToken cancellationToken) =>
        new(new Nlm4Result(args.Cookie, Nlm4Status.Denied));

    private async ValueTask<RpcReplyStatus> ShareAsync(RpcCallContext call, Nlm4ShareArgs args, bool share, CancellationToken cancellationToken)
    {
        var (refused, file) = await ResolveAsync(call, args.FileHandle, cancellationToken).ConfigureAwait(false);
        var host = HostOf(call, args.CallerName);
        var status = refused ?? (share ? _manager.Share(file, host, args) : _manager.Unshare(file, host, args));
        new Nlm4ShareResult(args.Cookie, status, 0).Write(call.Results);
        return RpcReplyStatus.Success;
    }

    private ValueTask<RpcReplyStatus> FreeAll(RpcCallContext call, Nlm4Notify args, CancellationToken cancellationToken)
    {
        _manager.FreeAll(args.Name, call.RemoteEndPoint.Address);
        return RpcReplyStatus.SuccessTask;
    }
}
