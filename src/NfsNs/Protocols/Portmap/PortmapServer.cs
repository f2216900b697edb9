using System.Net;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;
using static NfsNs.Protocols.Portmap.PortmapProtocol;

namespace NfsNs.Protocols.Portmap;

/// <summary>
/// An embedded portmapper/rpcbind (program 100000): portmap v2 (RFC 1833 §3: NULL, SET, UNSET, GETPORT, DUMP) and
/// rpcbind v3/v4 (RFC 1833 §2: NULL, SET, UNSET, GETADDR, DUMP, GETTIME; v4 GETVERSADDR) over a
/// <see cref="RpcbindRegistry"/>, so that stock clients (rpcinfo, libnfs, our <see cref="RpcBinder"/>) find MOUNT,
/// NFS and NLM. CALLIT, the address translation procedures and v4 GETADDRLIST/GETSTAT answer PROC_UNAVAIL.
/// </summary>
/// <remarks>SET and UNSET change the table only for loopback callers, as rpcbind does; others get FALSE.</remarks>
public sealed class PortmapServer : ProcedureTableProgram
{

    private readonly Action<string>? _log;

    public PortmapServer(RpcbindRegistry? registry = null, Action<string>? log = null) : base(new RpcProgram(PortmapProtocol.Program))
    {
        Registry = registry ?? new RpcbindRegistry();
        _log = log;
        Procedures
            .On(PortmapVersion, PortmapProcedure.Null, Null)
            .On(PortmapVersion, PortmapProcedure.Set, PortmapMapping.Read, PortmapSet, nonIdempotent: true)
            .On(PortmapVersion, PortmapProcedure.Unset, PortmapMapping.Read, PortmapUnset, nonIdempotent: true)
            .On(PortmapVersion, PortmapProcedure.GetPort, PortmapMapping.Read, PortmapGetPort)
            .On(PortmapVersion, PortmapProcedure.Dump, PortmapDump);
        for (uint version = RpcbindVersion3; version <= RpcbindVersion4; version++)
        {
            Procedures
                .On(version, RpcbindProcedure.Null, Null)
                .On(version, RpcbindProcedure.Set, RpcbindEntry.Read, RpcbindSet, nonIdempotent: true)
                .On(version, RpcbindProcedure.Unset, RpcbindEntry.Read, RpcbindUnset, nonIdempotent: true)
                .On(version, RpcbindProcedure.GetAddr, RpcbindEntry.Read, RpcbindGetAddr)
                .On(version, RpcbindProcedure.Dump, RpcbindDump)
                .On(version, RpcbindProcedure.GetTime, GetTime);
        }
        // Exact-version lookup: the same as our GETADDR (rpcbind's GETADDR may fall back to another version of the
        // program, which only moves the PROG_MISMATCH from rpcbind to the service).
        Procedures.On(RpcbindVersion4, RpcbindProcedure.GetVersAddr, RpcbindEntry.Read, RpcbindGetAddr);
    }

    public RpcbindRegistry Registry { get; }

    private static ValueTask<RpcReplyStatus> Null(RpcCallContext call, CancellationToken cancellationToken)
    {
        call.DecodeArguments(XdrVoid.Read);
        return RpcReplyStatus.SuccessTask;
    }

    private static ValueTask<RpcReplyStatus> Reply(RpcCallContext call, bool value)
    {
        call.Results.WriteBool(value);
        return RpcReplyStatus.SuccessTask;
    }

    /// <summary>rpcbind records who registered: "superuser" for uid 0, else the uid (or "unknown" without AUTH_SYS).</summary>
    private static string OwnerOf(RpcCallContext call) => call.AuthSys switch
    {
        { Uid: 0 } => "superuser",
        { } sys => sys.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture),
        null => "unknown",
    };

    private ValueTask<RpcReplyStatus> PortmapSet(RpcCallContext call, PortmapMapping mapping, CancellationToken cancellationToken)
    {
        string? netId = mapping.Protocol switch { IpProtocolTcp => NetIdTcp, IpProtocolUdp => NetIdUdp, _ => null };
        if (!call.IsLoopbackCaller || netId is null || mapping.Port > ushort.MaxValue)
            return Reply(call, false);
        var address = UniversalAddress.Format(new IPEndPoint(IPAddress.Any, (int)mapping.Port));
        return Reply(call, Registry.Set(new RpcbindEntry(mapping.Program, mapping.Version, netId, address, OwnerOf(call))));
    }

    /// <summary>PMAPPROC_UNSET ignores prot and port: every netid of (prog, vers) goes (RFC 1833 §3.2).</summary>
    private ValueTask<RpcReplyStatus> PortmapUnset(RpcCallContext call, PortmapMapping mapping, CancellationToken cancellationToken) =>
        Reply(call, Unset(call, mapping.Program, mapping.Version, null));

    /// <summary>UNSET from a client: loopback callers only, and never the server's own registrations.</summary>
    private bool Unset(RpcCallContext call, uint program, uint version, string? netId)
    {
        if (!call.IsLoopbackCaller)
        {
            _log?.Invoke($"portmap: refused UNSET of {program} v{version} from {call.RemoteEndPoint}: not a loopback caller");
            return false;
        }
        bool removed = Registry.UnsetFromNetwork(program, version, netId, out bool refused);
        if (refused)
            _log?.Invoke($"portmap: refused UNSET of {program} v{version} from {call.RemoteEndPoint}: registered by this server itself");
        return removed;
    }

    private ValueTask<RpcReplyStatus> PortmapGetPort(RpcCallContext call, PortmapMapping query, CancellationToken cancellationToken)
    {
        uint port = 0;
        foreach (var mapping in Registry.Mappings)
        {
            if (mapping.Program == query.Program && mapping.Version == query.Version && mapping.Protocol == query.Protocol)
            {
                port = mapping.Port;
                break;
            }
        }
        call.Results.WriteUInt32(port);
        return RpcReplyStatus.SuccessTask;
    }

    /// <summary>pmaplist: an XDR optional-data list, a TRUE before each mapping and a FALSE at the end.</summary>
    private ValueTask<RpcReplyStatus> PortmapDump(RpcCallContext call, CancellationToken cancellationToken)
    {
        call.DecodeArguments(XdrVoid.Read);
        foreach (var mapping in Registry.Mappings)
        {
            call.Results.WriteBool(true);
            mapping.Write(call.Results);
        }
        call.Results.WriteBool(false);
        return RpcReplyStatus.SuccessTask;
    }

    private ValueTask<RpcReplyStatus> RpcbindSet(RpcCallContext call, RpcbindEntry entry, CancellationToken cancellationToken) =>
        Reply(call, call.IsLoopbackCaller && Registry.Set(entry with { Owner = OwnerOf(call) }));

    private ValueTask<RpcReplyStatus> RpcbindUnset(RpcCallContext call, RpcbindEntry entry, CancellationToken cancellationToken) =>
        Reply(call, Unset(call, entry.Program, entry.Version, entry.NetId));

    /// <summary>
    /// RPCBPROC_GETADDR: the universal address of (prog, vers, netid), or the empty string. A wildcard registration
    /// is answered with the address the caller reached us on, which is where the service listens too.
    /// </summary>
    private ValueTask<RpcReplyStatus> RpcbindGetAddr(RpcCallContext call, RpcbindEntry query, CancellationToken cancellationToken)
    {
        // An empty netid means "the transport this call came on" (rpcbind's rpcbproc_getaddr does so; libnfs relies on it).
        string netId = string.IsNullOrEmpty(query.NetId) ? RpcbindRegistry.NetIdOf(call.LocalEndPoint, call.Transport == RpcTransport.Udp) : query.NetId;
        string address = Registry.FindAddress(query.Program, query.Version, netId) ?? "";
        if (UniversalAddress.TryParse(address, out var endPoint) && IsWildcard(endPoint.Address) &&
            endPoint.AddressFamily == call.LocalEndPoint.AddressFamily)
            address = UniversalAddress.Format(new IPEndPoint(call.LocalEndPoint.Address, endPoint.Port));
        call.Results.WriteString(address);
        return RpcReplyStatus.SuccessTask;
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>rpcblist_ptr: an XDR optional-data list of rpcb entries.</summary>
    private ValueTask<RpcReplyStatus> RpcbindDump(RpcCallContext call, CancellationToken cancellationToken)
    {
        call.DecodeArguments(XdrVoid.Read);
        foreach (var entry in Registry.Entries)
        {
            call.Results.WriteBool(true);
            entry.Write(call.Results);
        }
        call.Results.WriteBool(false);
        return RpcReplyStatus.SuccessTask;
    }

    /// <summary>RPCBPROC_GETTIME: seconds since the epoch, as an unsigned 32-bit value.</summary>
    private static ValueTask<RpcReplyStatus> GetTime(RpcCallContext call, CancellationToken cancellationToken)
    {
        call.DecodeArguments(XdrVoid.Read);
        call.Results.WriteUInt32((uint)DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        return RpcReplyStatus.SuccessTask;
    }
}
