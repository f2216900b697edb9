using System.Net;
using System.Net.Sockets;
using static NfsNs.Protocols.Portmap.PortmapProtocol;

namespace NfsNs.Protocols.Portmap;

/// <summary>
/// The registration table of an embedded rpcbind: which program version listens where, per netid (RFC 1833 §2.1,
/// struct rpcb). Portmap v2 sees the "tcp" and "udp" entries as (prog, vers, prot, port) mappings.
/// </summary>
public sealed class RpcbindRegistry
{
    public const string DefaultOwner = "nfsns";

    private readonly Lock _lock = new();
    private readonly List<RpcbindEntry> _entries = [];

    public IReadOnlyList<RpcbindEntry> Entries
    {
        get { lock (_lock) return [.. _entries]; }
    }

    /// <summary>The netid of a TCP or UDP endpoint: "tcp", "tcp6", "udp" or "udp6" (RFC 5665 §4).</summary>
    public static string NetIdOf(IPEndPoint endPoint, bool udp = false)
    {
        bool v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6 && !endPoint.Address.IsIPv4MappedToIPv6;
        return (udp, v6) switch
        {
            (false, false) => NetIdTcp,
            (false, true) => NetIdTcp6,
            (true, false) => NetIdUdp,
            (true, true) => NetIdUdp6,
        };
    }

    /// <summary>
    /// Registers (or re-registers: a restarted service replaces its old entry) <paramref name="program"/>
    /// <paramref name="version"/> at <paramref name="endPoint"/>. A wildcard address (0.0.0.0, ::) is answered to
    /// GETADDR as the address the caller reached rpcbind on.
    /// </summary>
    public void Register(uint program, uint version, IPEndPoint endPoint, bool udp = false, string owner = DefaultOwner)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var entry = new RpcbindEntry(program, version, NetIdOf(endPoint, udp), UniversalAddress.Format(endPoint), owner);
        lock (_lock)
        {
            _entries.RemoveAll(e => SameKey(e, entry.Program, entry.Version, entry.NetId));
            _entries.Add(entry);
        }
    }

    /// <summary>
    /// Registers the portmapper itself (versions 2, 3 and 4) at an endpoint it listens on, as rpcbind does; once for
    /// TCP and once with <paramref name="udp"/> for UDP when it answers on both (rpcinfo -p then lists both).
    /// </summary>
    public void RegisterPortmapper(IPEndPoint endPoint, bool udp = false)
    {
        for (uint version = PortmapVersion; version <= RpcbindVersion4; version++)
            Register(Program, version, endPoint, udp);
    }

    /// <summary>RPCBPROC_SET: adds <paramref name="entry"/> unless (prog, vers, netid) is registered already.</summary>
    public bool Set(RpcbindEntry entry)
    {
        if (!UniversalAddress.TryParse(entry.Address, out _)) return false;
        lock (_lock)
        {
            if (_entries.Exists(e => SameKey(e, entry.Program, entry.Version, entry.NetId))) return false;
            _entries.Add(entry);
            return true;
        }
    }

    /// <summary>RPCBPROC_UNSET: removes (prog, vers) for <paramref name="netId"/>, or for every netid when it is empty.</summary>
    public bool Unset(uint program, uint version, string? netId)
    {
        lock (_lock)
            return _entries.RemoveAll(e => Matches(e, program, version, netId)) > 0;
    }

    /// <summary>
    /// UNSET asked over the network: removes only what was SET over the network. The registrations this process made
    /// for its own services (<see cref="DefaultOwner"/>) cannot be taken away by a client — otherwise any process in
    /// the namespace could make NFS and MOUNT unfindable for everyone. <paramref name="refused"/> says that happened.
    /// </summary>
    public bool UnsetFromNetwork(uint program, uint version, string? netId, out bool refused)
    {
        lock (_lock)
        {
            refused = _entries.Exists(e => Matches(e, program, version, netId) && e.Owner == DefaultOwner);
            return !refused && _entries.RemoveAll(e => Matches(e, program, version, netId)) > 0;
        }
    }

    private static bool Matches(RpcbindEntry e, uint program, uint version, string? netId) =>
        e.Program == program && e.Version == version && (string.IsNullOrEmpty(netId) || e.NetId == netId);

    /// <summary>The registered universal address of (prog, vers, netid), or null.</summary>
    public string? FindAddress(uint program, uint version, string netId)
    {
        lock (_lock)
            return _entries.Find(e => SameKey(e, program, version, netId)).Address is { Length: > 0 } address ? address : null;
    }

    /// <summary>The portmap v2 view: "tcp" and "udp" entries as (prog, vers, prot, port).</summary>
    public IReadOnlyList<PortmapMapping> Mappings
    {
        get
        {
            var mappings = new List<PortmapMapping>();
            foreach (var entry in Entries)
            {
                if (ProtocolOf(entry.NetId) is { } protocol && UniversalAddress.TryParse(entry.Address, out var endPoint))
                    mappings.Add(new PortmapMapping(entry.Program, entry.Version, protocol, (uint)endPoint.Port));
            }
            return mappings;
        }
    }

    /// <summary>The IP protocol portmap v2 uses for an IPv4 netid; null for netids portmap cannot express.</summary>
    public static uint? ProtocolOf(string netId) => netId switch
    {
        NetIdTcp => IpProtocolTcp,
        NetIdUdp => IpProtocolUdp,
        _ => null,
    };

    private static bool SameKey(RpcbindEntry entry, uint program, uint version, string netId) =>
        entry.Program == program && entry.Version == version && entry.NetId == netId;
}
