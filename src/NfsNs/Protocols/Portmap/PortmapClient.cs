using NfsNs.Rpc;
using NfsNs.Xdr;
using static NfsNs.Protocols.Portmap.PortmapProtocol;

namespace NfsNs.Protocols.Portmap;

/// <summary>Portmap version 2 (RFC 1833 §3) over a caller bound to program 100000 version 2.</summary>
public sealed class PortmapClient
{
    private readonly IRpcCaller _caller;

    public PortmapClient(IRpcCaller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        _caller = caller;
    }

    public string Describe() => _caller.Describe();

    /// <summary>PMAPPROC_NULL: is anyone there?</summary>
    public Task NullAsync(CancellationToken cancellationToken) =>
        _caller.CallAsync(PortmapProcedure.Null, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    /// <summary>
    /// PMAPPROC_GETPORT: the port <paramref name="program"/> <paramref name="version"/> is registered on for
    /// <paramref name="protocol"/> (<see cref="PortmapProtocol.IpProtocolTcp"/> or UDP); 0 when it is not registered.
    /// </summary>
    public Task<uint> GetPortAsync(uint program, uint version, uint protocol, CancellationToken cancellationToken) =>
        _caller.CallAsync(PortmapProcedure.GetPort, new PortmapMapping(program, version, protocol, 0),
            static (ref XdrReader reader) => reader.ReadUInt32(), cancellationToken);

    /// <summary>
    /// PMAPPROC_SET: registers <paramref name="mapping"/>; false when the program version is already registered for
    /// that protocol. rpcbind accepts it only from a loopback sender.
    /// </summary>
    public Task<bool> SetAsync(PortmapMapping mapping, CancellationToken cancellationToken) =>
        _caller.CallAsync(PortmapProcedure.Set, mapping, static (ref XdrReader reader) => reader.ReadBool(), cancellationToken);

    /// <summary>PMAPPROC_UNSET: removes every mapping of the program version (protocol and port are ignored, RFC 1833 §3.2).</summary>
    public Task<bool> UnsetAsync(uint program, uint version, CancellationToken cancellationToken) =>
        _caller.CallAsync(PortmapProcedure.Unset, new PortmapMapping(program, version, 0, 0),
            static (ref XdrReader reader) => reader.ReadBool(), cancellationToken);

    /// <summary>PMAPPROC_DUMP: every registration (at most <see cref="PortmapProtocol.MaxDumpEntries"/>).</summary>
    public Task<IReadOnlyList<PortmapMapping>> DumpAsync(CancellationToken cancellationToken) =>
        _caller.CallAsync(PortmapProcedure.Dump, XdrVoid.Value, ReadMappingList, cancellationToken);

    /// <summary>pmaplist is an XDR optional-data linked list: a "more follows" boolean before each mapping.</summary>
    private static IReadOnlyList<PortmapMapping> ReadMappingList(ref XdrReader reader)
    {
        var mappings = new List<PortmapMapping>();
        while (reader.ReadOptionalFlag())
        {
            if (mappings.Count == MaxDumpEntries)
                throw new XdrException($"portmap DUMP lists more than {MaxDumpEntries} mappings");
            mappings.Add(PortmapMapping.Read(ref reader));
        }
        return mappings;
    }
}

/// <summary>rpcbind versions 3 and 4 (RFC 1833 §2) over a caller bound to program 100000 version 3 or 4.</summary>
public sealed class RpcbindClient
{
    private readonly IRpcCaller _caller;

    public RpcbindClient(IRpcCaller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        _caller = caller;
    }

    public string Describe() => _caller.Describe();

    public Task NullAsync(CancellationToken cancellationToken) =>
        _caller.CallAsync(RpcbindProcedure.Null, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    /// <summary>
    /// RPCBPROC_SET: registers <paramref name="entry"/> (rpcbind replaces r_owner with the caller's identity); false
    /// when the program version is already registered for that netid. rpcbind accepts it only from a loopback sender.
    /// </summary>
    public Task<bool> SetAsync(RpcbindEntry entry, CancellationToken cancellationToken) =>
        _caller.CallAsync(RpcbindProcedure.Set, entry, static (ref XdrReader reader) => reader.ReadBool(), cancellationToken);

    /// <summary>
    /// RPCBPROC_UNSET: removes the registration of the program version for <see cref="RpcbindEntry.NetId"/>, or for
    /// every netid when it is empty (RFC 1833 §2.2.1); r_addr is ignored.
    /// </summary>
    public Task<bool> UnsetAsync(RpcbindEntry entry, CancellationToken cancellationToken) =>
        _caller.CallAsync(RpcbindProcedure.Unset, entry, static (ref XdrReader reader) => reader.ReadBool(), cancellationToken);

    /// <summary>
    /// RPCBPROC_GETADDR: the universal address (see <see cref="UniversalAddress"/>) of the program version named in
    /// <paramref name="query"/> for its netid; the empty string when it is not registered.
    /// </summary>
    public Task<string> GetAddrAsync(RpcbindEntry query, CancellationToken cancellationToken) =>
        _caller.CallAsync(RpcbindProcedure.GetAddr, query,
            static (ref XdrReader reader) => reader.ReadString(MaxUniversalAddressLength, "rpcbind universal address"),
            cancellationToken);
}
