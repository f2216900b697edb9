using System.Net;
using NfsNs.Namespaces;
using NfsNs.Rpc;
using static NfsNs.Protocols.Portmap.PortmapProtocol;

namespace NfsNs.Protocols.Portmap;

/// <summary>One program version a server offers at <see cref="EndPoint"/> over <see cref="Transport"/> (TCP unless said).</summary>
public readonly record struct RpcService(uint Program, uint Version, IPEndPoint EndPoint, RpcTransport Transport = RpcTransport.Tcp)
{
    /// <summary>The rpcbind netid (RFC 5665 §4): "tcp", "tcp6", "udp" or "udp6".</summary>
    public string NetId => RpcbindRegistry.NetIdOf(EndPoint, Transport == RpcTransport.Udp);

    /// <summary>The portmap v2 prot field: IPPROTO_TCP or IPPROTO_UDP.</summary>
    public uint IpProtocol => Transport == RpcTransport.Udp ? IpProtocolUdp : IpProtocolTcp;
}

/// <summary>Registering with an rpcbind failed: it is unreachable, refused SET, or kept someone else's entry.</summary>
public sealed class RpcbindRegistrationException(string message, Exception? inner = null) : RpcException(message, inner);

/// <summary>
/// TCP and UDP services registered with an existing rpcbind (RFC 1833) reached through a socket factory — so with the
/// rpcbind of that factory's network namespace, never through the Unix socket <c>/run/rpcbind.sock</c>, which is
/// a file shared by every network namespace that shares the mount namespace. Disposing unregisters them.
/// <para>
/// rpcbind 1.2.6 accepts SET and UNSET over TCP from 127.0.0.1 with any source port (it checks only that the
/// sender is on loopback) and records the owner as "unknown"; UNSET from the same kind of sender may remove such
/// entries again. rpcbind v4 SET with netid "tcp"/"udp" is also what its portmap v2 GETPORT answers from for
/// IPPROTO_TCP/IPPROTO_UDP (one entry serves both), so one SET per service suffices; a portmapper without v3/v4 gets
/// PMAPPROC_SET instead. The SET itself always travels over TCP, whatever transport the service is for.
/// </para>
/// </summary>
public sealed class RpcbindRegistration : IAsyncDisposable
{
    private static readonly uint[] RpcbindVersionsToTry = [RpcbindVersion4, RpcbindVersion3];

    private readonly ISocketFactory _sockets;
    private readonly RpcConnectionOptions _options;
    private readonly uint? _rpcbindVersion;
    private bool _unregistered;

    private RpcbindRegistration(ISocketFactory sockets, IPEndPoint rpcbind, IReadOnlyList<RpcService> services, uint? rpcbindVersion, RpcConnectionOptions options)
    {
        _sockets = sockets;
        Rpcbind = rpcbind;
        Services = services;
        _rpcbindVersion = rpcbindVersion;
        _options = options;
    }

    public IPEndPoint Rpcbind { get; }
    public IReadOnlyList<RpcService> Services { get; }

    /// <summary>"rpcbind v4" or "portmap v2": what the registration was made with.</summary>
    public string Protocol => _rpcbindVersion is { } v ? $"rpcbind v{v}" : $"portmap v{PortmapVersion}";

    /// <summary>
    /// Registers every service with the rpcbind at <paramref name="rpcbind"/> (usually 127.0.0.1:111), replacing an
    /// earlier registration of the same program version — as rpc.mountd and nfsd do at start — so that one left by
    /// a crashed run does not block us. Either every service ends up registered or none.
    /// </summary>
    public static async Task<RpcbindRegistration> RegisterAsync(ISocketFactory sockets, IPEndPoint rpcbind, IReadOnlyList<RpcService> services,
        RpcConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        ArgumentNullException.ThrowIfNull(rpcbind);
        ArgumentNullException.ThrowIfNull(services);
        if (rpcbind.Port == 0) throw new ArgumentException("rpcbind's port must not be 0", nameof(rpcbind));
        options ??= RpcBinder.DefaultOptions;
        string where = $"rpcbind at {rpcbind} in namespace {sockets.Namespace?.ToString() ?? "(unnamed)"}";

        await using var connection = new RpcConnection(sockets, rpcbind, options);
        uint? version;
        try
        {
            version = await FindVersionAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new RpcbindRegistrationException($"cannot register with the {where}: {e.Message}", e);
        }

        var registration = new RpcbindRegistration(sockets, rpcbind, services, version, options);
        var done = new List<RpcService>();
        try
        {
            // Every UNSET before any SET: portmap v2's UNSET removes a program version for every protocol at once
            // (RFC 1833 §3.2), so unsetting the UDP entry of a service would otherwise take its TCP entry just SET.
            foreach (var service in services)
                await Unset(connection, version, service, cancellationToken).ConfigureAwait(false);
            foreach (var service in services)
            {
                bool set = version is { } v
                    ? await new RpcbindClient(new RpcProgramClient(connection, Program, v, RpcCredentials.None))
                        .SetAsync(EntryFor(service, withAddress: true), cancellationToken).ConfigureAwait(false)
                    : await Portmap(connection).SetAsync(
                        new PortmapMapping(service.Program, service.Version, service.IpProtocol, (uint)service.EndPoint.Port), cancellationToken).ConfigureAwait(false);
                if (!set)
                    throw new RpcbindRegistrationException(
                        $"the {where} refused to register {RpcPrograms.Describe(service.Program, service.Version)} at {service.NetId} {service.EndPoint}: " +
                        "another owner holds that registration and UNSET did not remove it");
                done.Add(service);
            }
            return registration;
        }
        catch (Exception e) when (e is RpcException and not RpcbindRegistrationException)
        {
            await UnsetQuietly(connection, version, done).ConfigureAwait(false);
            string hint = e is RpcDeniedException { RejectStat: RpcRejectStat.AuthError }
                ? " (rpcbind takes SET only from loopback senders; is the address not a loopback address, or does it need -i?)"
                : "";
            throw new RpcbindRegistrationException($"cannot register with the {where}: {e.Message}{hint}", e);
        }
        catch
        {
            await UnsetQuietly(connection, version, done).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Removes the registrations (once); errors are thrown, a second call does nothing.</summary>
    public async Task UnregisterAsync(CancellationToken cancellationToken = default)
    {
        if (_unregistered) return;
        _unregistered = true;
        await using var connection = new RpcConnection(_sockets, Rpcbind, _options);
        foreach (var service in Services)
            await Unset(connection, _rpcbindVersion, service, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await UnregisterAsync().ConfigureAwait(false);

    /// <summary>rpcbind v4, else v3, else null for a portmap v2-only peer (PROG_MISMATCH/PROG_UNAVAIL on NULL).</summary>
    private static async Task<uint?> FindVersionAsync(RpcConnection connection, CancellationToken cancellationToken)
    {
        foreach (uint version in RpcbindVersionsToTry)
        {
            try
            {
                await new RpcbindClient(new RpcProgramClient(connection, Program, version, RpcCredentials.None))
                    .NullAsync(cancellationToken).ConfigureAwait(false);
                return version;
            }
            catch (RpcAcceptedException e) when (e.Stat is RpcAcceptStat.ProgMismatch or RpcAcceptStat.ProgUnavail)
            {
            }
        }
        await Portmap(connection).NullAsync(cancellationToken).ConfigureAwait(false);
        return null;
    }

    private static PortmapClient Portmap(RpcConnection connection) =>
        new(new RpcProgramClient(connection, Program, PortmapVersion, RpcCredentials.None));

    private static RpcbindEntry EntryFor(RpcService service, bool withAddress) => new(
        service.Program, service.Version, service.NetId,
        withAddress ? UniversalAddress.Format(service.EndPoint) : "",
        // rpcbind overwrites r_owner with the caller's identity; this only names us to one that does not.
        "nfsns");

    /// <summary>The result of UNSET is ignored: false only means there was nothing of ours to remove.</summary>
    private static async Task Unset(RpcConnection connection, uint? version, RpcService service, CancellationToken cancellationToken)
    {
        if (version is { } v)
            await new RpcbindClient(new RpcProgramClient(connection, Program, v, RpcCredentials.None))
                .UnsetAsync(EntryFor(service, withAddress: false), cancellationToken).ConfigureAwait(false);
        else
            await Portmap(connection).UnsetAsync(service.Program, service.Version, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Rolls back a half-done registration; the original error is what the caller needs to see.</summary>
    private static async Task UnsetQuietly(RpcConnection connection, uint? version, IReadOnlyList<RpcService> services)
    {
        foreach (var service in services)
        {
            try
            {
                await Unset(connection, version, service, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RpcException)
            {
                // Already failing; rpcbind keeps at worst an entry pointing at a port nobody listens on.
            }
        }
    }

    public override string ToString() =>
        $"{string.Join(", ", Services.Select(s => $"{RpcPrograms.Describe(s.Program, s.Version)} at {s.NetId} {s.EndPoint}"))} registered with rpcbind at {Rpcbind} ({Protocol})";
}
