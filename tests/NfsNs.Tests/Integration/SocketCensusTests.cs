using System.Globalization;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// <see cref="SocketCensus"/> attributes each socket to the namespace it really lives in, so tests can check (not
/// assume) where a mount's sockets are. Other tests in this process open sockets at the same time: every assertion
/// looks only at sockets identified by inode or by endpoints this test made.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SocketCensusTests
{
    private const int Timeout = 60_000;
    private static readonly int Self = Environment.ProcessId;

    public static TheoryData<SocketCensusMethod> Methods =>
        [SocketCensusMethod.DuplicateSockets, SocketCensusMethod.ScanNamespaceTables, SocketCensusMethod.Automatic];

    [Theory(Timeout = Timeout)]
    [MemberData(nameof(Methods))]
    public async Task Each_socket_is_attributed_to_the_namespace_it_was_created_in(SocketCensusMethod method)
    {
        await Task.Yield();
        using var inside = TestNetworkNamespace.Create();
        using var initial = NetworkNamespace.Current();
        Assert.NotEqual(initial.Id, inside.Namespace.Id);

        using var listener = inside.Sockets.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), 4);
        var listening = (IPEndPoint)listener.LocalEndPoint!;
        using var client = await inside.Sockets.ConnectTcpAsync(listening, CancellationToken.None);
        using var accepted = await listener.AcceptAsync();
        using var datagram = inside.Namespace.CreateSocket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        datagram.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var outside = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        outside.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        outside.Listen(1);

        var census = SocketCensus.OfProcess(Self, method).ToDictionary(socket => socket.Inode);

        var clientEnd = (IPEndPoint)client.LocalEndPoint!;
        AssertSocket(census, listener, inside.Namespace, "tcp", listening, remote: null, isListening: true);
        AssertSocket(census, client, inside.Namespace, "tcp", clientEnd, listening, isListening: false);
        AssertSocket(census, accepted, inside.Namespace, "tcp", listening, clientEnd, isListening: false);
        AssertSocket(census, datagram, inside.Namespace, "udp", (IPEndPoint)datagram.LocalEndPoint!, remote: null, isListening: true);
        AssertSocket(census, outside, initial, "tcp", (IPEndPoint)outside.LocalEndPoint!, remote: null, isListening: true);
    }

    [Theory(Timeout = Timeout)]
    [MemberData(nameof(Methods))]
    public async Task Another_process_s_listeners_are_in_its_namespace(SocketCensusMethod method)
    {
        await using var ns = await TestNamespace.CreateAsync("nfsns-census");
        await using var rpcbind = await RpcbindDaemon.StartAsync(ns);
        using var handle = NetworkNamespace.Open(ns.Name);
        Assert.Equal(handle.Id.Inode, SocketCensus.NamespaceInodeOf(rpcbind.Pid));

        var census = SocketCensus.OfProcess(rpcbind.Pid, method);

        // rpcbind listens on port 111 over TCP and UDP (on the wildcard of each family); it has no other TCP/UDP sockets.
        Assert.Contains(census, s => s.IsTcp && s.Listening && s.Local.Port == RpcbindDaemon.Port);
        Assert.Contains(census, s => !s.IsTcp && s.Listening && s.Local.Port == RpcbindDaemon.Port);
        Assert.All(census, s => Assert.Equal(handle.Id.Inode, s.NamespaceInode));
    }

    [Fact(Timeout = Timeout)]
    public async Task Every_socket_of_a_mount_through_a_namespace_lives_in_it()
    {
        await using var host = await EmbeddedServerHost.StartAsync("nfsns-census");
        await using var mount = await host.MountAsync();
        await mount.GetAttributesAsync("/");
        ulong a = host.Handle.Id.Inode;
        ulong initial = SocketCensus.NamespaceInodeOf(Self);
        Assert.NotEqual(initial, a);
        var server = host.Server;
        var clientEnd = ToIPv4((IPEndPoint)(mount.Connection.LocalEndPoint ?? throw new InvalidOperationException("the mount is not connected")));

        var census = SocketCensus.OfProcess(Self);

        // The server runs in this process too: its listeners and its end of the mount's connection must be in A.
        foreach (var port in new[] { server.NfsEndPoint, server.MountEndPoint, server.PortmapEndPoint! })
            Assert.Contains(census, s => s.NamespaceInode == a && s.IsTcp && s.Listening && s.Local.Equals(port));
        var clientSide = census.Where(s => s.Local.Equals(clientEnd) && Equals(s.Remote, mount.NfsEndPoint)).ToList();
        var serverSide = census.Where(s => s.Local.Equals(server.NfsEndPoint) && Equals(s.Remote, clientEnd)).ToList();
        Assert.Single(clientSide, s => s.NamespaceInode == a);
        Assert.Single(serverSide, s => s.NamespaceInode == a);

        // Nothing of the mount is in the initial namespace, where no test may use the NFS and MOUNT ports (PREAMBLE).
        Assert.DoesNotContain(census, s => s.NamespaceInode == initial
            && (s.UsesPort(server.NfsEndPoint.Port) || s.UsesPort(server.MountEndPoint.Port) || s.Local.Equals(clientEnd)));
    }

    [Fact]
    public void A_process_that_does_not_exist_is_a_clear_error()
    {
        // PIDs never exceed pid_max (at most 2^22), so int.MaxValue names no process.
        var error = Assert.Throws<PeerException>(() => SocketCensus.OfProcess(int.MaxValue));
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => SocketCensus.OfProcess(0));
    }

    private static void AssertSocket(Dictionary<long, SocketInfo> census, Socket socket, NetworkNamespace expected,
        string protocol, IPEndPoint local, IPEndPoint? remote, bool isListening)
    {
        long inode = InodeOf(socket);
        Assert.True(census.TryGetValue(inode, out var found), $"socket:[{inode}] ({protocol} {local}) is missing from the census");
        Assert.Equal(new SocketInfo(inode, expected.Id.Inode, protocol, local, remote, isListening), found);
    }

    /// <summary>The socket's inode, from this process's descriptor link <c>socket:[N]</c>.</summary>
    private static long InodeOf(Socket socket)
    {
        string link = new FileInfo($"/proc/self/fd/{socket.SafeHandle.DangerousGetHandle()}").LinkTarget!;
        return long.Parse(link["socket:[".Length..^1], CultureInfo.InvariantCulture);
    }

    private static IPEndPoint ToIPv4(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
