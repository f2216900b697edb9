using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Server.FileSystem;
using NfsNs.Xdr;

namespace NfsNs.Server;

/// <summary>
/// MOUNT version 3 (RFC 1813 appendix I, program 100005): NULL, MNT, DUMP, UMNT, UMNTALL and EXPORT over a list of
/// exports. MNT of a path that is not exported is MNT3ERR_NOENT, from a client the export does not allow
/// MNT3ERR_ACCES; otherwise it answers the root handle with AUTH_SYS as the only flavour and records (client, path)
/// for DUMP until UMNT/UMNTALL. The record is informational, as in every implementation: NFS calls are checked
/// against the export's policy on their own.
/// </summary>
public sealed class Mount3Program : ProcedureTableProgram
{
    private readonly Dictionary<string, NfsExport> _exports;
    private readonly Action<string>? _log;
    private readonly Lock _lock = new();
    private readonly List<MountEntry> _mounts = [];

    public Mount3Program(IEnumerable<NfsExport> exports, Action<string>? log = null) : base(new RpcProgram(Mount3.Program))
    {
        _exports = exports.ToDictionary(e => e.Path, StringComparer.Ordinal);
        _log = log;
        const uint v = Mount3.Version;
        Procedures
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

    /// <summary>The export <paramref name="path"/> is in (itself or a directory below it) and the components below it.</summary>
    private (NfsExport Export, string[] Below)? Resolve(string path)
    {
        for (string prefix = path; ; prefix = prefix[..Math.Max(prefix.LastIndexOf('/'), 1)])
        {
            if (_exports.TryGetValue(prefix, out var export))
                return (export, path[prefix.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries));
            if (prefix == "/") return null;
        }
    }

    /// <summary>
    /// MNT of an export or of a directory below it (as Linux nfsd allows; libnfs mounts the directory of the file it
    /// opens). The components below the export are looked up as the caller, so permissions apply as for LOOKUP.
    /// </summary>
    private async ValueTask<RpcReplyStatus> Mount(RpcCallContext call, DirPath path, CancellationToken cancellationToken)
    {
        string host = HostOf(call);
        if (Normalize(path.Path) is not { } normalized || Resolve(normalized) is not var (export, below))
            return Refuse(MountStatus.NoEnt, "not exported");
        if (!export.Allows(call.RemoteEndPoint.Address))
            return Refuse(MountStatus.Acces, "client not allowed");
        var handle = export.FileSystem.RootHandle;
        try
        {
            var caller = call.AuthSys is { } sys ? new CallerIdentity(sys.Uid, sys.Gid, sys.Gids) : Nfs3Program.Anonymous;
            foreach (string name in below)
            {
                var found = await export.FileSystem.LookupAsync(caller, handle, name, cancellationToken).ConfigureAwait(false);
                if (found.Attributes.Type != FileType.Directory) return Refuse(MountStatus.NotDir, "not a directory");
                handle = found.Handle;
            }
        }
        catch (FileSystemException e)
        {
            var status = Nfs3Program.StatusOf(e.Error) switch
            {
                Nfs3Status.NoEnt => MountStatus.NoEnt,
                Nfs3Status.NotDir => MountStatus.NotDir,
                Nfs3Status.Acces or Nfs3Status.Perm => MountStatus.Acces,
                Nfs3Status.NameTooLong => MountStatus.NameTooLong,
                _ => MountStatus.Io,
            };
            return Refuse(status, e.Message);
        }
        lock (_lock)
        {
            var entry = new MountEntry(host, normalized);
            if (!_mounts.Contains(entry)) _mounts.Add(entry);
        }
        _log?.Invoke($"MNT {normalized} from {host}{(export.Options.ReadOnly ? " (read-only)" : "")}");
        MountResult.WriteReply(call.Results, MountStatus.Ok, new MountResult(new NfsFileHandle(handle.Span), [RpcAuthFlavor.Sys]));
        return RpcReplyStatus.Success;

        RpcReplyStatus Refuse(MountStatus status, string why)
        {
            _log?.Invoke($"MNT {path} from {host} refused: {why} ({status.WireName()})");
            MountResult.WriteReply(call.Results, status, null);
            return RpcReplyStatus.Success;
        }
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
