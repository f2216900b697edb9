using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;

namespace NfsNs.Server;

/// <summary>
/// MOUNT version 3 (RFC 1813 appendix I, program 100005): NULL, MNT, DUMP, UMNT, UMNTALL and EXPORT over a list of
/// exports. MNT of a path that is not exported is MNT3ERR_NOENT, from a client the export does not allow
/// MNT3ERR_ACCES; otherwise it answers the root handle with AUTH_SYS as the only flavour and records (client, path)
/// for DUMP until UMNT/UMNTALL. The record is informational, as in every implementation: NFS calls are checked
/// against the export's policy on their own.
/// </summary>
public sealed class Mount3Program : IRpcProgram
{
    private readonly RpcProgram _program = new(Mount3.Program);
    private readonly Dictionary<string, NfsExport> _exports;
    private readonly Action<string>? _log;
    private readonly Lock _lock = new();
    private readonly List<MountEntry> _mounts = [];

    public Mount3Program(IEnumerable<NfsExport> exports, Action<string>? log = null)
    {
        _exports = exports.ToDictionary(e => e.Path, StringComparer.Ordinal);
        _log = log;
        const uint v = Mount3.Version;
        _program
            .On(v, (uint)Mount3Procedure.Null, XdrVoid.Read, (_, _, _) => RpcReplyStatus.SuccessTask)
            .On(v, (uint)Mount3Procedure.Mnt, DirPath.Read, Mount)
            .On(v, (uint)Mount3Procedure.Dump, XdrVoid.Read, Dump)
            .On(v, (uint)Mount3Procedure.Umnt, DirPath.Read, Unmount)
            .On(v, (uint)Mount3Procedure.UmntAll, XdrVoid.Read, UnmountAll)
            .On(v, (uint)Mount3Procedure.Export, XdrVoid.Read, Export);
    }

    /// <summary>The clients that mounted and have not unmounted (what DUMP answers).</summary>
    public IReadOnlyList<MountEntry> Mounts
    {
        get { lock (_lock) return [.. _mounts]; }
    }

    public uint Program => Mount3.Program;
    public uint MinVersion => _program.MinVersion;
    public uint MaxVersion => _program.MaxVersion;
    public bool Accepts(RpcAuthFlavor flavor) => _program.Accepts(flavor);
    public bool IsNonIdempotent(uint version, uint procedure) => _program.IsNonIdempotent(version, procedure);
    public ValueTask<RpcReplyStatus> HandleAsync(RpcCallContext call, CancellationToken cancellationToken) =>
        _program.HandleAsync(call, cancellationToken);

    private static string HostOf(RpcCallContext call)
    {
        var address = call.RemoteEndPoint.Address;
        return (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    private static string? Normalize(string path)
    {
        try
        {
            return NfsExport.NormalizePath(path);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private ValueTask<RpcReplyStatus> Mount(RpcCallContext call, DirPath path, CancellationToken cancellationToken)
    {
        string host = HostOf(call);
        if (Normalize(path.Path) is not { } normalized || !_exports.TryGetValue(normalized, out var export))
        {
            _log?.Invoke($"MNT {path} from {host} refused: not exported (MNT3ERR_NOENT)");
            MountResult.WriteReply(call.Results, MountStatus.NoEnt, null);
            return RpcReplyStatus.SuccessTask;
        }
        if (!export.Allows(call.RemoteEndPoint.Address))
        {
            _log?.Invoke($"MNT {export.Path} from {host} refused: client not allowed (MNT3ERR_ACCES)");
            MountResult.WriteReply(call.Results, MountStatus.Acces, null);
            return RpcReplyStatus.SuccessTask;
        }
        lock (_lock)
        {
            var entry = new MountEntry(host, export.Path);
            if (!_mounts.Contains(entry)) _mounts.Add(entry);
        }
        _log?.Invoke($"MNT {export.Path} from {host}{(export.Options.ReadOnly ? " (read-only)" : "")}");
        MountResult.WriteReply(call.Results, MountStatus.Ok,
            new MountResult(new NfsFileHandle(export.FileSystem.RootHandle.Span), [RpcAuthFlavor.Sys]));
        return RpcReplyStatus.SuccessTask;
    }

    private ValueTask<RpcReplyStatus> Dump(RpcCallContext call, XdrVoid args, CancellationToken cancellationToken)
    {
        MountEntry.WriteList(call.Results, Mounts);
        return RpcReplyStatus.SuccessTask;
    }

    private ValueTask<RpcReplyStatus> Unmount(RpcCallContext call, DirPath path, CancellationToken cancellationToken)
    {
        string host = HostOf(call);
        string directory = Normalize(path.Path) ?? path.Path;
        bool removed;
        lock (_lock) removed = _mounts.Remove(new MountEntry(host, directory));
        if (removed) _log?.Invoke($"UMNT {directory} from {host}");
        return RpcReplyStatus.SuccessTask;
    }

    private ValueTask<RpcReplyStatus> UnmountAll(RpcCallContext call, XdrVoid args, CancellationToken cancellationToken)
    {
        string host = HostOf(call);
        int removed;
        lock (_lock) removed = _mounts.RemoveAll(m => m.Hostname == host);
        if (removed > 0) _log?.Invoke($"UMNTALL from {host} ({removed} mount{(removed == 1 ? "" : "s")})");
        return RpcReplyStatus.SuccessTask;
    }

    /// <summary>EXPORT: every export with the client networks it is open to; an empty group list means everyone.</summary>
    private ValueTask<RpcReplyStatus> Export(RpcCallContext call, XdrVoid args, CancellationToken cancellationToken)
    {
        ExportEntry.WriteList(call.Results, _exports.Values.Select(e =>
            new ExportEntry(e.Path, [.. e.Options.AllowedClients.Select(n => n.ToString())])));
        return RpcReplyStatus.SuccessTask;
    }
}
