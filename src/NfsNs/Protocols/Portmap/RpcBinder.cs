using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Rpc;
using static NfsNs.Protocols.Portmap.PortmapProtocol;

namespace NfsNs.Protocols.Portmap;

/// <summary>Finds the TCP port of an RPC program on a server by asking its rpcbind/portmapper.</summary>
public static class RpcBinder
{
    /// <summary>rpcbind answers at once or not at all: a soft, short timeout, and no more than a few calls in flight.</summary>
    public static RpcConnectionOptions DefaultOptions { get; } = new()
    {
        Hard = false,
        Timeout = TimeSpan.FromSeconds(5),
        Retransmits = 1,
        MaxInFlight = 4,
        MaxRecordSize = 256 * 1024,
    };

    private static readonly uint[] RpcbindVersionsToTry = [RpcbindVersion4, RpcbindVersion3];

    /// <summary>Asks rpcbind on port 111 of <paramref name="server"/>, connecting through <paramref name="sockets"/>.</summary>
    public static Task<int> GetPortAsync(ISocketFactory sockets, IPAddress server, uint program, uint version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(server);
        return GetPortAsync(sockets, new IPEndPoint(server, Port), program, version, null, cancellationToken);
    }

    /// <summary>
    /// Asks the rpcbind at <paramref name="rpcbind"/> for the TCP port of <paramref name="program"/>
    /// <paramref name="version"/>: rpcbind v4 GETADDR, then v3 GETADDR, then portmap v2 GETPORT, each next one only
    /// when the previous version is unknown to the server (PROG_MISMATCH or PROG_UNAVAIL). Never returns 0: an
    /// unregistered program throws <see cref="RpcProgramNotRegisteredException"/>.
    /// </summary>
    public static async Task<int> GetPortAsync(ISocketFactory sockets, IPEndPoint rpcbind, uint program, uint version,
        RpcConnectionOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        ArgumentNullException.ThrowIfNull(rpcbind);
        if (rpcbind.Port == 0) throw new ArgumentException("rpcbind's port must not be 0", nameof(rpcbind));
        await using var connection = new RpcConnection(sockets, rpcbind, options ?? DefaultOptions);
        string @namespace = sockets.Namespace?.ToString() ?? "(unnamed)";
        RpcProgramNotRegisteredException NotRegistered(string answer) =>
            new(program, version, rpcbind.Address, @namespace, answer);

        string netId = rpcbind.AddressFamily == AddressFamily.InterNetworkV6 ? NetIdTcp6 : NetIdTcp;
        // r_addr tells a multi-homed rpcbind which of its addresses we reached it on; r_owner is not used by GETADDR.
        var query = new RpcbindEntry(program, version, netId, UniversalAddress.Format(rpcbind), "");
        foreach (uint rpcbindVersion in RpcbindVersionsToTry)
        {
            var client = new RpcbindClient(new RpcProgramClient(connection, Program, rpcbindVersion, RpcCredentials.None));
            string address;
            try
            {
                address = await client.GetAddrAsync(query, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcAcceptedException e) when (e.Stat is RpcAcceptStat.ProgMismatch or RpcAcceptStat.ProgUnavail)
            {
                continue;
            }
            if (address.Length == 0)
                throw NotRegistered("rpcbind answered with an empty address");
            if (!UniversalAddress.TryParse(address, out var endPoint))
                throw new RpcProtocolException(
                    $"rpcbind v{rpcbindVersion} at {connection.Describe()} answered GETADDR for {RpcPrograms.Describe(program, version)} with '{address}', which is not a universal address");
            if (endPoint.Port == 0)
                throw NotRegistered("rpcbind answered port 0");
            return endPoint.Port;
        }

        var portmap = new PortmapClient(new RpcProgramClient(connection, Program, PortmapVersion, RpcCredentials.None));
        uint port = await portmap.GetPortAsync(program, version, IpProtocolTcp, cancellationToken).ConfigureAwait(false);
        if (port == 0)
            throw NotRegistered("rpcbind answered port 0");
        if (port > ushort.MaxValue)
            throw new RpcProtocolException(
                $"portmap at {connection.Describe()} answered GETPORT for {RpcPrograms.Describe(program, version)} with {port}, which is not a TCP port");
        return (int)port;
    }
}
