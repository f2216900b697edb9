using NfsNs.Protocols.Nsm;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;

namespace NfsNs.Server.Locking;

/// <summary>
/// The server's status monitor as seen on the wire (XNFS chapter 11, program 100024 version 1). What matters is
/// SM_NOTIFY: a client whose status monitor says it restarted loses its locks (<see cref="LockManager.HandleRebootNotification"/>).
/// The rest answers what a local caller may ask, without making this a general-purpose statd:
/// <list type="bullet">
/// <item>SM_STAT: stat_succ and our state number (the number is no secret: SM_NOTIFY announces it);</item>
/// <item>SM_MON: stat_fail — this monitor watches hosts only for its own in-process lock manager, so a call-back
/// that nobody would ever make is refused rather than promised;</item>
/// <item>SM_UNMON and SM_UNMON_ALL: our state, changing nothing (nobody else can have registered anything);</item>
/// <item>SM_SIMU_CRASH: PROC_UNAVAIL (a restart of the server is the way to test recovery).</item>
/// </list>
/// </summary>
public sealed class NsmProgram : ProcedureTableProgram
{
    private readonly LockManager _manager;
    private readonly Action<string>? _log;

    internal NsmProgram(LockManager manager, Action<string>? log = null) : base(new RpcProgram(Nsm.Program))
    {
        _manager = manager;
        _log = log;
        const uint v = Nsm.Version;
        Procedures
            .On(v, (uint)NsmProcedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)NsmProcedure.Stat, SmName.Read, (call, _, _) => Reply(call, new SmStatResult(NsmResult.Success, _manager.State)))
            .On(v, (uint)NsmProcedure.Mon, Mon.Read, Monitor)
            .On(v, (uint)NsmProcedure.Unmon, MonId.Read, (call, _, _) => Reply(call, new SmStat(_manager.State)))
            .On(v, (uint)NsmProcedure.UnmonAll, MyId.Read, (call, _, _) => Reply(call, new SmStat(_manager.State)))
            .On(v, (uint)NsmProcedure.Notify, StatChange.Read, Notify);
    }

    private static ValueTask<RpcReplyStatus> Reply<T>(RpcCallContext call, T result) where T : IXdrWritable
    {
        result.Write(call.Results);
        return RpcReplyStatus.SuccessTask;
    }

    private ValueTask<RpcReplyStatus> Monitor(RpcCallContext call, Mon args, CancellationToken cancellationToken)
    {
        _log?.Invoke($"NSM: refused SM_MON of {args.Id.MonName} for {args.Id.MyId.MyName} from {call.RemoteEndPoint}: " +
            "this status monitor serves only the server's own lock manager");
        return Reply(call, new SmStatResult(NsmResult.Failure, _manager.State));
    }

    private ValueTask<RpcReplyStatus> Notify(RpcCallContext call, StatChange args, CancellationToken cancellationToken)
    {
        _manager.HandleRebootNotification(call.RemoteEndPoint.Address, args.MonName, args.State);
        return RpcReplyStatus.SuccessTask;
    }
}
