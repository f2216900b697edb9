using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NfsNs.Peers;

/// <summary>Addresses and names of a <see cref="TenantNetwork"/>; the defaults are the mission's tenant topology.</summary>
public sealed record TenantNetworkOptions
{
    public static TenantNetworkOptions Default { get; } = new();

    /// <summary>The client namespace's address on the tenant link.</summary>
    public IPAddress ClientAddress { get; init; } = IPAddress.Parse("10.0.0.2");

    /// <summary>The server namespace's address on the tenant link: every tenant reaches its own server here.</summary>
    public IPAddress ServerAddress { get; init; } = IPAddress.Parse("10.0.0.3");

    /// <summary>The IPv4 subnet's prefix length (both addresses must lie in it).</summary>
    public int PrefixLength { get; init; } = 24;

    /// <summary>
    /// Also give the link the IPv6 addresses below, without duplicate address detection (<c>nodad</c>), so they are
    /// usable at once instead of after DAD's probe delay (RFC 4862 section 5.4). Null addresses leave IPv6 out.
    /// </summary>
    public IPAddress? ClientAddressV6 { get; init; } = IPAddress.Parse("fd00::2");

    public IPAddress? ServerAddressV6 { get; init; } = IPAddress.Parse("fd00::3");

    public int PrefixLengthV6 { get; init; } = 64;

    internal void Validate()
    {
        RequireFamily(ClientAddress, AddressFamily.InterNetwork, nameof(ClientAddress));
        RequireFamily(ServerAddress, AddressFamily.InterNetwork, nameof(ServerAddress));
        if (PrefixLength is < 1 or > 30)
            throw new ArgumentException($"IPv4 prefix length {PrefixLength} must be 1-30 (a link needs two host addresses)", "options");
        if (!SameSubnet(ClientAddress, ServerAddress, PrefixLength) || ClientAddress.Equals(ServerAddress))
            throw new ArgumentException($"client {ClientAddress} and server {ServerAddress} must be different addresses in one /{PrefixLength}", "options");
        if ((ClientAddressV6 is null) != (ServerAddressV6 is null))
            throw new ArgumentException("give both IPv6 addresses or neither", "options");
        if (ClientAddressV6 is null || ServerAddressV6 is null) return;
        RequireFamily(ClientAddressV6, AddressFamily.InterNetworkV6, nameof(ClientAddressV6));
        RequireFamily(ServerAddressV6, AddressFamily.InterNetworkV6, nameof(ServerAddressV6));
        if (PrefixLengthV6 is < 1 or > 127)
            throw new ArgumentException($"IPv6 prefix length {PrefixLengthV6} must be 1-127", "options");
        if (!SameSubnet(ClientAddressV6, ServerAddressV6, PrefixLengthV6) || ClientAddressV6.Equals(ServerAddressV6))
            throw new ArgumentException($"client {ClientAddressV6} and server {ServerAddressV6} must be different addresses in one /{PrefixLengthV6}", "options");
    }

    private static void RequireFamily(IPAddress address, AddressFamily family, string name)
    {
        ArgumentNullException.ThrowIfNull(address, name);
        if (address.AddressFamily != family)
            throw new ArgumentException($"{name} {address} is not an {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address", "options");
    }

    private static bool SameSubnet(IPAddress a, IPAddress b, int prefixLength)
    {
        byte[] x = a.GetAddressBytes(), y = b.GetAddressBytes();
        for (int bit = 0; bit < prefixLength; bit++)
        {
            int mask = 0x80 >> (bit % 8);
            if ((x[bit / 8] & mask) != (y[bit / 8] & mask)) return false;
        }
        return true;
    }
}

/// <summary>
/// One tenant's network: a "client" and a "server" <see cref="TestNamespace"/> joined by a veth pair, the client end
/// at 10.0.0.2/24 and the server end at 10.0.0.3/24 (and fd00::2, fd00::3 /64) by default, loopback up in both. It
/// is the mission's real topology: every tenant reaches <em>its own</em> server at the same 10.0.0.3, and the server
/// can call back to the client's address (NLM_GRANTED, SM_NOTIFY go to the client host's rpcbind and lock manager).
/// <para>
/// Nothing is ever added to the initial namespace: the veth is created inside the client namespace with its peer
/// created directly in the server namespace, so the interface names (<see cref="ClientInterface"/>,
/// <see cref="ServerInterface"/>) are the same in every tenant without clashing, and the initial namespace has no
/// route to the tenant subnet. The kernel keeps addresses per namespace, so any number of tenants share them.
/// Disposing deletes both namespaces (the veth pair goes with them), as does a failed start.
/// </para>
/// </summary>
public sealed class TenantNetwork : IAsyncDisposable
{
    /// <summary>The veth end in the client namespace.</summary>
    public const string ClientInterface = "tenant-c";
    /// <summary>The veth end in the server namespace.</summary>
    public const string ServerInterface = "tenant-s";

    /// <summary><see cref="TestNamespace"/> prefixes are at most 32 characters; "-client"/"-server" is appended.</summary>
    public const int MaxPrefixLength = 25;

    private bool _disposed;

    private TenantNetwork(TestNamespace client, TestNamespace server, TenantNetworkOptions options)
    {
        Client = client;
        Server = server;
        Options = options;
    }

    /// <summary>The tenant's client side (where its NFS client and lock-callback services run).</summary>
    public TestNamespace Client { get; }
    /// <summary>The tenant's server side (where its NFS server, rpcbind and rpc.statd run).</summary>
    public TestNamespace Server { get; }
    public TenantNetworkOptions Options { get; }

    public IPAddress ClientAddress => Options.ClientAddress;
    public IPAddress ServerAddress => Options.ServerAddress;
    public IPAddress? ClientAddressV6 => Options.ClientAddressV6;
    public IPAddress? ServerAddressV6 => Options.ServerAddressV6;

    /// <summary>
    /// Creates <c>PREFIX-client-XXXXXX</c> and <c>PREFIX-server-XXXXXX</c> and the link between them; returns once both
    /// ends are up with their addresses. On any failure, whatever was created is deleted before the exception leaves.
    /// </summary>
    /// <param name="prefix">As for <see cref="TestNamespace.CreateAsync"/>, at most <see cref="MaxPrefixLength"/> characters (the role is appended).</param>
    public static async Task<TenantNetwork> CreateAsync(string prefix, TenantNetworkOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length > MaxPrefixLength)
            throw new ArgumentException($"tenant prefix '{prefix}' is longer than {MaxPrefixLength} characters", nameof(prefix));
        options ??= TenantNetworkOptions.Default;
        options.Validate();
        TestNamespace? client = null, server = null;
        try
        {
            client = await TestNamespace.CreateAsync($"{prefix}-client", cancellationToken);
            server = await TestNamespace.CreateAsync($"{prefix}-server", cancellationToken);
            var network = new TenantNetwork(client, server, options);
            await network.LinkAsync(cancellationToken);
            return network;
        }
        catch (Exception createFailure)
        {
            var failures = new List<Exception>();
            foreach (var created in new[] { server, client })
            {
                if (created is null) continue;
                try { await created.DisposeAsync(); }
                catch (Exception e) { failures.Add(e); }
            }
            if (failures.Count > 0)
                throw new AggregateException($"creating tenant network '{prefix}' failed, and deleting its namespaces failed too",
                    failures.Prepend(createFailure));
            throw;
        }
    }

    private async Task LinkAsync(CancellationToken cancellationToken)
    {
        // "peer ... netns" makes the kernel create the peer in the server namespace (RTM_NEWLINK with the peer's own
        // IFLA_NET_NS_FD), so neither end ever exists in the initial namespace.
        await IpAsync(cancellationToken, "-n", Client.Name, "link", "add", ClientInterface, "type", "veth",
            "peer", "name", ServerInterface, "netns", Server.Name);
        await AddAddressAsync(Client, ClientInterface, ClientAddress, Options.PrefixLength, cancellationToken);
        await AddAddressAsync(Server, ServerInterface, ServerAddress, Options.PrefixLength, cancellationToken);
        if (ClientAddressV6 is { } clientV6 && ServerAddressV6 is { } serverV6)
        {
            await AddAddressAsync(Client, ClientInterface, clientV6, Options.PrefixLengthV6, cancellationToken);
            await AddAddressAsync(Server, ServerInterface, serverV6, Options.PrefixLengthV6, cancellationToken);
        }
        await IpAsync(cancellationToken, "-n", Client.Name, "link", "set", ClientInterface, "up");
        await IpAsync(cancellationToken, "-n", Server.Name, "link", "set", ServerInterface, "up");
    }

    private static Task AddAddressAsync(TestNamespace ns, string device, IPAddress address, int prefixLength,
        CancellationToken cancellationToken)
    {
        string cidr = $"{address}/{prefixLength.ToString(CultureInfo.InvariantCulture)}";
        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? IpAsync(cancellationToken, "-n", ns.Name, "addr", "add", cidr, "dev", device, "nodad")
            : IpAsync(cancellationToken, "-n", ns.Name, "addr", "add", cidr, "dev", device);
    }

    private static async Task IpAsync(CancellationToken cancellationToken, params string[] arguments) =>
        (await ProcessRunner.RunAsync("ip", arguments, ProcessRunner.DefaultTimeout, cancellationToken)).EnsureSuccess();

    /// <summary>
    /// Deletes the server namespace, then the client namespace (the veth pair dies with the first). Both deletions
    /// are attempted; their failures (e.g. processes still inside, which their starters must stop first) are reported together.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        var failures = new List<Exception>();
        foreach (var ns in new[] { Server, Client })
        {
            try { await ns.DisposeAsync(); }
            catch (Exception e) { failures.Add(e); }
        }
        if (failures.Count == 1) throw failures[0];
        if (failures.Count > 1) throw new AggregateException($"deleting {this} failed", failures);
    }

    public override string ToString() =>
        $"tenant network {Client} ({ClientAddress}) <-> {Server} ({ServerAddress})";
}
