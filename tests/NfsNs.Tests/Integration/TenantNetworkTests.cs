using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// <see cref="TenantNetwork"/> itself: two tenants with identical addresses and interface names side by side, the
/// server-to-client (callback) direction, nothing added to the initial namespace, and cleanup after dispose and after
/// a failed start. Traffic only ever goes to 10.0.0.2/10.0.0.3 and fd00::2/fd00::3 inside namespaces made here.
/// </summary>
[Trait("Category", "Integration")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TenantNetworkTests
{
    private const int Timeout = 120_000;

    private static string UniquePrefix(string what) => $"nfsns-{what}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    private static async Task<IReadOnlyList<string>> NamespacesStartingWithAsync(string prefix)
    {
        var list = (await ProcessRunner.RunAsync("ip", ["netns", "list"], ProcessRunner.DefaultTimeout)).EnsureSuccess();
        return list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0]).Where(name => name.StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
    }

    private static async Task<string> AddressesAsync(TestNamespace ns, string device) =>
        (await ProcessRunner.RunAsync("ip", ["-n", ns.Name, "-o", "addr", "show", "dev", device], ProcessRunner.DefaultTimeout))
            .EnsureSuccess().Stdout;

    [Fact(Timeout = Timeout)]
    public async Task Two_tenants_have_the_same_addresses_and_interface_names_side_by_side()
    {
        await using var first = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        await using var second = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        foreach (var tenant in new[] { first, second })
        {
            string client = await AddressesAsync(tenant.Client, TenantNetwork.ClientInterface);
            string server = await AddressesAsync(tenant.Server, TenantNetwork.ServerInterface);
            Assert.Contains("inet 10.0.0.2/24", client);
            Assert.Contains("inet6 fd00::2/64", client);
            Assert.Contains("inet 10.0.0.3/24", server);
            Assert.Contains("inet6 fd00::3/64", server);
            foreach (var (ns, device) in new[] { (tenant.Client, "lo"), (tenant.Client, TenantNetwork.ClientInterface),
                         (tenant.Server, "lo"), (tenant.Server, TenantNetwork.ServerInterface) })
                Assert.Contains(",UP,LOWER_UP>", (await ns.RunAsync("ip", "-o", "link", "show", device)).EnsureSuccess().Stdout);
        }
        Assert.NotEqual(first.Client.Name, second.Client.Name);
        Assert.NotEqual(first.Server.Name, second.Server.Name);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_initial_namespace_has_no_tenant_interface_and_no_route_through_one()
    {
        await using var tenant = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        // Only looked up, never sent to: what lies behind 10.0.0.3 outside the tenants is none of ours.
        var links = (await ProcessRunner.RunAsync("ip", ["-o", "link", "show"], ProcessRunner.DefaultTimeout)).EnsureSuccess();
        Assert.DoesNotContain(TenantNetwork.ClientInterface, links.Stdout);
        Assert.DoesNotContain(TenantNetwork.ServerInterface, links.Stdout);
        var addresses = (await ProcessRunner.RunAsync("ip", ["-o", "addr", "show"], ProcessRunner.DefaultTimeout)).EnsureSuccess();
        Assert.DoesNotContain($" {tenant.ServerAddress}/", addresses.Stdout);
        Assert.DoesNotContain($" {tenant.ClientAddress}/", addresses.Stdout);
        // "Network is unreachable" (no default route) is as good an answer as a route via the host's own uplink.
        var route = await ProcessRunner.RunAsync("ip", ["route", "get", tenant.ServerAddress.ToString()], ProcessRunner.DefaultTimeout);
        Assert.DoesNotContain("tenant-", route.Stdout);
        Assert.DoesNotContain(" dev lo ", route.Stdout); // 10.0.0.3 is not local to the initial namespace either

        // Inside the tenant, the same lookup goes over the veth.
        var inside = (await tenant.Client.RunAsync("ip", "route", "get", tenant.ServerAddress.ToString())).EnsureSuccess();
        Assert.Contains($"dev {TenantNetwork.ClientInterface}", inside.Stdout);
    }

    /// <summary>
    /// NLM_GRANTED and SM_NOTIFY go from the server host to the client host's address: a listener the client side
    /// binds to its own tenant address (port 0, like a callback service) must be reachable from the server side.
    /// </summary>
    [Theory(Timeout = Timeout)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_server_namespace_reaches_a_listener_bound_to_the_client_address(bool ipv6)
    {
        await using var tenant = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        using var clientNs = NetworkNamespace.Open(tenant.Client.Path);
        using var serverNs = NetworkNamespace.Open(tenant.Server.Path);
        var clientAddress = ipv6 ? tenant.ClientAddressV6! : tenant.ClientAddress;
        var serverAddress = ipv6 ? tenant.ServerAddressV6! : tenant.ServerAddress;

        using var listener = new NamespaceSocketFactory(clientNs).ListenTcp(new IPEndPoint(clientAddress, 0), backlog: 1);
        var listening = (IPEndPoint)listener.LocalEndPoint!;
        Assert.NotEqual(0, listening.Port);
        using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var accepting = listener.AcceptAsync(connectTimeout.Token).AsTask();
        using var caller = await new NamespaceSocketFactory(serverNs).ConnectTcpAsync(listening, connectTimeout.Token);
        using var accepted = await accepting;

        Assert.Equal(serverAddress, ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        await caller.SendAsync(new byte[] { 42 }, SocketFlags.None, connectTimeout.Token);
        var received = new byte[1];
        Assert.Equal(1, await accepted.ReceiveAsync(received, SocketFlags.None, connectTimeout.Token));
        Assert.Equal(42, received[0]);
    }

    [Fact(Timeout = Timeout)]
    public async Task Disposing_deletes_both_namespaces()
    {
        string prefix = UniquePrefix("tn");
        var tenant = await TenantNetwork.CreateAsync(prefix);
        Assert.Equal(2, (await NamespacesStartingWithAsync(prefix + "-client")).Count + (await NamespacesStartingWithAsync(prefix + "-server")).Count);
        await tenant.DisposeAsync();
        Assert.False(File.Exists(tenant.Client.Path));
        Assert.False(File.Exists(tenant.Server.Path));
        Assert.Empty(await NamespacesStartingWithAsync(prefix + "-client"));
        Assert.Empty(await NamespacesStartingWithAsync(prefix + "-server"));
        await tenant.DisposeAsync(); // a second dispose is harmless
    }

    [Fact(Timeout = Timeout)]
    public async Task A_link_the_kernel_refuses_fails_the_start_and_deletes_both_namespaces()
    {
        string prefix = UniquePrefix("tn");
        // Valid as a pair of addresses in one /64, but the kernel refuses a multicast address on an interface: the
        // failure comes after both namespaces and the veth exist.
        var multicast = new TenantNetworkOptions { ClientAddressV6 = IPAddress.Parse("ff02::2"), ServerAddressV6 = IPAddress.Parse("ff02::3") };
        var failure = await Assert.ThrowsAsync<PeerException>(() => TenantNetwork.CreateAsync(prefix, multicast));
        Assert.Contains("ff02::2", failure.Message);
        Assert.Empty(await NamespacesStartingWithAsync(prefix + "-client"));
        Assert.Empty(await NamespacesStartingWithAsync(prefix + "-server"));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_tenant_server_that_fails_to_start_leaves_no_namespace_and_no_process()
    {
        string label = $"f{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        // No time at all to become ready: rpcbind's or ganesha's readiness wait gives up at its first check.
        var impatient = new GaneshaOptions { EnableNlm = true, StartTimeout = TimeSpan.Zero };
        await Assert.ThrowsAsync<PeerException>(() => TenantServerHost.StartAsync(label, TenantServerKind.Ganesha, impatient));
        Assert.Empty(await NamespacesStartingWithAsync($"nfsns-t{label}-client"));
        Assert.Empty(await NamespacesStartingWithAsync($"nfsns-t{label}-server"));
    }

    [Fact(Timeout = Timeout)]
    public async Task Ganesha_bound_to_the_wildcard_answers_at_the_tenant_address_and_on_loopback()
    {
        await using var tenant = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        string export = Path.Combine(tenant.Server.StateDirectory, "export");
        Directory.CreateDirectory(export);
        await File.WriteAllTextAsync(Path.Combine(export, "wildcard.txt"), "any\n");
        await using (var ganesha = await GaneshaServer.StartAsync(tenant.Server, export, new GaneshaOptions { BindAddress = IPAddress.Any }))
        {
            Assert.Equal(GaneshaServer.Address, ganesha.ProbeAddress);
            var remote = (await Libnfs.CatAsync(tenant.Client, Libnfs.Url(tenant.ServerAddress, "wildcard.txt"))).EnsureSuccess();
            Assert.Equal("any\n", remote.Stdout);
            var local = (await Libnfs.CatAsync(tenant.Server, Libnfs.Url("wildcard.txt"))).EnsureSuccess();
            Assert.Equal("any\n", local.Stdout);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Ganesha_refuses_a_bind_address_that_is_not_IPv4()
    {
        await using var tenant = await TenantNetwork.CreateAsync(UniquePrefix("tn"));
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => GaneshaServer.StartAsync(tenant.Server,
            tenant.Server.StateDirectory, new GaneshaOptions { BindAddress = tenant.ServerAddressV6! }));
        Assert.Contains("IPv4", refused.Message);
    }

    public static TheoryData<string, TenantNetworkOptions> BadOptions => new()
    {
        { "IPv4", new TenantNetworkOptions { ClientAddress = IPAddress.Parse("fd00::2") } },
        { "one /24", new TenantNetworkOptions { ServerAddress = IPAddress.Parse("10.0.1.3") } },
        { "different addresses", new TenantNetworkOptions { ServerAddress = IPAddress.Parse("10.0.0.2") } },
        { "1-30", new TenantNetworkOptions { PrefixLength = 31 } },
        { "both IPv6 addresses or neither", new TenantNetworkOptions { ServerAddressV6 = null } },
        { "IPv6 address", new TenantNetworkOptions { ServerAddressV6 = IPAddress.Parse("10.0.0.3") } },
    };

    [Theory(Timeout = Timeout)]
    [MemberData(nameof(BadOptions))]
    public async Task Bad_options_are_refused_before_anything_is_created(string expected, TenantNetworkOptions options)
    {
        string prefix = UniquePrefix("tn");
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => TenantNetwork.CreateAsync(prefix, options));
        Assert.Contains(expected, refused.Message);
        Assert.Empty(await NamespacesStartingWithAsync(prefix));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_prefix_too_long_for_the_role_suffix_is_refused()
    {
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => TenantNetwork.CreateAsync(new string('t', TenantNetwork.MaxPrefixLength + 1)));
        Assert.Contains("longer than", refused.Message);
    }
}

/// <summary>
/// Two tenants, each reaching its own server at 10.0.0.3 through its own client namespace: this process's client
/// (<c>?netns=</c>) and libnfs inside the client namespaces each see their tenant's content, rpcbind at 10.0.0.3 lists
/// the tenant's services, and the server listens only on the server side. Runs against nfs-ganesha with NLM and
/// against the embedded server.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public abstract class TenantPairTests(TenantPairFixture pair)
{
    [Collection(GaneshaTenantPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Ganesha(GaneshaTenantPairFixture fixture) : TenantPairTests(fixture);

    [Collection(EmbeddedTenantPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Embedded(EmbeddedTenantPairFixture fixture) : TenantPairTests(fixture);

    private const int Timeout = 120_000;

    private TenantServerHost[] Tenants => [pair.A, pair.B];

    private static async Task<string> ReadTextAsync(NfsMount mount, string path)
    {
        await using var file = await mount.OpenReadAsync(path);
        using var reader = new StreamReader(file);
        return await reader.ReadToEndAsync();
    }

    [Fact(Timeout = Timeout)]
    public async Task Each_tenant_reads_its_own_marker_at_the_same_address()
    {
        Assert.NotEqual(pair.A.MarkerText, pair.B.MarkerText);
        Assert.Equal(pair.A.Url().Replace(pair.A.ClientNamespace.Name, pair.B.ClientNamespace.Name, StringComparison.Ordinal), pair.B.Url());
        foreach (var tenant in Tenants)
        {
            Assert.StartsWith("nfs://10.0.0.3/export?netns=", tenant.Url());
            await using var mount = await NfsMount.MountAsync(tenant.Url());
            Assert.Equal(tenant.MarkerText, await ReadTextAsync(mount, TenantServerHost.MarkerFile));
            Assert.Contains($"namespace {tenant.Label} ", tenant.MarkerText);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Libnfs_in_the_client_namespace_lists_and_reads_its_tenants_export()
    {
        foreach (var tenant in Tenants)
        {
            var ls = (await Libnfs.LsAsync(tenant.ClientNamespace, tenant.PeerUrl())).EnsureSuccess();
            Assert.Contains(TenantServerHost.MarkerFile, ls.Stdout);
            Assert.Contains(ServerPairContent.Subdirectory, ls.Stdout);
            var cat = (await Libnfs.CatAsync(tenant.ClientNamespace, tenant.PeerUrl(TenantServerHost.MarkerFile))).EnsureSuccess();
            Assert.Equal(tenant.MarkerText, cat.Stdout);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Rpcbind_at_the_server_address_lists_the_tenants_services_to_its_client_namespace()
    {
        foreach (var tenant in Tenants)
        {
            var rpcinfo = (await tenant.ClientNamespace.RunAsync("rpcinfo", "-p", tenant.ServerAddress.ToString())).EnsureSuccess();
            // rpcinfo -p prints "program vers proto port [service]" per portmap v2 mapping (RFC 1833 section 3).
            var mappings = rpcinfo.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(line => string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(4))).ToHashSet();
            Assert.Contains("100000 2 tcp 111", mappings);
            Assert.Contains("100003 3 tcp 2049", mappings);
            Assert.Contains("100005 3 tcp 20048", mappings);
            if (pair.Kind == TenantServerKind.Ganesha)
            {
                Assert.Contains($"100021 4 tcp {GaneshaServer.NlmPort}", mappings);
                Assert.Contains($"100024 1 tcp {GaneshaServer.StatdPort}", mappings);
                // Registered and answering NULL at the tenant address, as a lock client would call them.
                foreach (string programVersion in new[] { "100021 4", "100024 1" })
                {
                    var answer = await tenant.ClientNamespace.RunAsync("rpcinfo",
                        ["-T", "tcp", tenant.ServerAddress.ToString(), .. programVersion.Split(' ')], ProcessRunner.DefaultTimeout);
                    Assert.True(answer.Succeeded, answer.ToString());
                }
            }
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task The_server_listens_at_the_tenant_address_in_the_server_namespace_only()
    {
        foreach (var tenant in Tenants)
        {
            string[] listening = ["-H", "-t", "-l", "-n", "sport = :2049"];
            var server = (await tenant.ServerNamespace.RunAsync("ss", listening)).EnsureSuccess();
            // One listener, on the tenant address: ganesha binds an IPv6 socket to the v4-mapped address
            // ([::ffff:10.0.0.3]:2049), the embedded server an IPv4 one (10.0.0.3:2049).
            var line = Assert.Single(server.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Matches($@"\s(\[::ffff:)?{Regex.Escape(tenant.ServerAddress.ToString())}\]?:2049\s", line);
            var client = (await tenant.ClientNamespace.RunAsync("ss", listening)).EnsureSuccess();
            Assert.Equal("", client.Stdout.Trim());
        }
    }
}
