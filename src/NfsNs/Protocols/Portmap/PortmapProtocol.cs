using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Portmap;

/// <summary>The numbers of portmap v2 (RFC 1833 §3) and rpcbind v3/v4 (RFC 1833 §2), program 100000.</summary>
public static class PortmapProtocol
{
    public const uint Program = RpcPrograms.Portmapper;
    public const int Port = 111;

    public const uint PortmapVersion = 2;
    public const uint RpcbindVersion3 = 3;
    public const uint RpcbindVersion4 = 4;

    /// <summary>RFC 1833 §3: PMAPPROC_*.</summary>
    public static class PortmapProcedure
    {
        public const uint Null = 0;
        public const uint Set = 1;
        public const uint Unset = 2;
        public const uint GetPort = 3;
        public const uint Dump = 4;
        public const uint CallIt = 5;
    }

    /// <summary>RFC 1833 §2.2.1: RPCBPROC_* (the same numbers in v3 and v4 for what we use).</summary>
    public static class RpcbindProcedure
    {
        public const uint Null = 0;
        public const uint Set = 1;
        public const uint Unset = 2;
        public const uint GetAddr = 3;
        public const uint Dump = 4;
        public const uint CallIt = 5;
        public const uint GetTime = 6;
        /// <summary>Version 4 only.</summary>
        public const uint GetVersAddr = 9;
    }

    /// <summary>The prot field of a portmap mapping: IP protocol numbers.</summary>
    public const uint IpProtocolTcp = 6;
    public const uint IpProtocolUdp = 17;

    /// <summary>rpcbind netids (RFC 5665 §4).</summary>
    public const string NetIdTcp = "tcp";
    public const string NetIdTcp6 = "tcp6";
    public const string NetIdUdp = "udp";
    public const string NetIdUdp6 = "udp6";

    /// <summary>Bounds for what rpcbind sends back; no legitimate value comes near them.</summary>
    public const int MaxUniversalAddressLength = 256;
    public const int MaxNetIdLength = 64;
    public const int MaxOwnerLength = 1024;
    public const int MaxDumpEntries = 4096;
}

/// <summary>RFC 1833 §3: struct mapping (prog, vers, prot, port).</summary>
public readonly record struct PortmapMapping(uint Program, uint Version, uint Protocol, uint Port) : IXdrWritable
{
    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32(Program);
        writer.WriteUInt32(Version);
        writer.WriteUInt32(Protocol);
        writer.WriteUInt32(Port);
    }

    public static PortmapMapping Read(ref XdrReader reader) =>
        new(reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32());
}

/// <summary>RFC 1833 §2.1: struct rpcb (r_prog, r_vers, r_netid, r_addr, r_owner).</summary>
public readonly record struct RpcbindEntry(uint Program, uint Version, string NetId, string Address, string Owner) : IXdrWritable
{
    public void Write(XdrWriter writer)
    {
        writer.WriteUInt32(Program);
        writer.WriteUInt32(Version);
        writer.WriteString(NetId);
        writer.WriteString(Address);
        writer.WriteString(Owner);
    }

    public static RpcbindEntry Read(ref XdrReader reader) => new(
        reader.ReadUInt32(),
        reader.ReadUInt32(),
        reader.ReadString(PortmapProtocol.MaxNetIdLength, "rpcbind netid"),
        reader.ReadString(PortmapProtocol.MaxUniversalAddressLength, "rpcbind universal address"),
        reader.ReadString(PortmapProtocol.MaxOwnerLength, "rpcbind owner"));
}
