using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Server;
using NfsNs.Server.FileSystem;
using NfsNs.Tests.Support;
using CreateMode = NfsNs.Protocols.Nfs3.CreateMode;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The embedded server against stock peers (libnfs, showmount, rpcinfo, tshark) and the security cases of issue 3:
/// forged handles, escapes, squashing, read-only exports, refused client networks and oversized records.
/// </summary>
[Trait("Category", "Integration")]
public sealed class EmbeddedServerPeerTests
{
    /// <summary>A local-directory export of DIR under the namespace's state directory (removed with it).</summary>
    private static NfsExport LocalExport(TestNamespace ns, NfsExportOptions? options = null)
    {
        string directory = Path.Combine(ns.StateDirectory, "export");
        Directory.CreateDirectory(directory);
        var backend = new LocalFileSystem(directory, HandleCodec.CreateEphemeral(7));
        return new NfsExport("/export", backend, options ?? new NfsExportOptions { Squash = SquashMode.None });
    }

    private static string ExportDirectory(EmbeddedServerHost host) => ((LocalFileSystem)host.Exports[0].Backend).RootDirectory;

    private static string Url(string path = "") => $"nfs://127.0.0.1/export{path}";

    private static string HashOf(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    [Fact]
    public async Task Libnfs_lists_cats_and_copies_both_ways_1MiB_and_200MiB()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-libnfs", ns => [LocalExport(ns)]);
        string export = ExportDirectory(host);
        Directory.CreateDirectory(Path.Combine(export, "sub"));
        await File.WriteAllTextAsync(Path.Combine(export, "sub", "hello.txt"), "hello libnfs\n");

        var ls = (await Libnfs.LsAsync(host.Namespace, Url(), recursive: true)).EnsureSuccess();
        Assert.Contains("hello.txt", ls.Stdout);
        Assert.Contains("sub", ls.Stdout);
        Assert.Equal("hello libnfs\n", (await Libnfs.CatAsync(host.Namespace, Url("/sub/hello.txt"))).EnsureSuccess().Stdout);

        foreach (int mebibytes in new[] { 1, 200 })
        {
            string local = Path.Combine(host.Namespace.StateDirectory, $"up-{mebibytes}");
            await using (var file = File.Create(local))
            {
                var chunk = new byte[1 << 20];
                var random = new Random(mebibytes);
                for (int i = 0; i < mebibytes; i++)
                {
                    random.NextBytes(chunk);
                    await file.WriteAsync(chunk);
                }
            }
            (await Libnfs.CpAsync(host.Namespace, local, Url($"/up-{mebibytes}"), TimeSpan.FromMinutes(3))).EnsureSuccess();
            Assert.Equal(HashOf(local), HashOf(Path.Combine(export, $"up-{mebibytes}")));
            string back = Path.Combine(host.Namespace.StateDirectory, $"down-{mebibytes}");
            (await Libnfs.CpAsync(host.Namespace, Url($"/up-{mebibytes}"), back, TimeSpan.FromMinutes(3))).EnsureSuccess();
            Assert.Equal(HashOf(local), HashOf(back));
            File.Delete(local);
            File.Delete(back);
        }
    }

    [Fact]
    public async Task Showmount_and_rpcinfo_inside_the_namespace_list_what_is_served()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-show");
        var showmount = (await host.Namespace.RunAsync("showmount", "-e", "127.0.0.1")).EnsureSuccess();
        Assert.Contains("/export", showmount.Stdout);
        var rpcinfo = (await host.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.Matches(@"100003\s+3\s+tcp\s+2049\s+nfs", rpcinfo.Stdout);
        Assert.Matches(@"100005\s+3\s+tcp\s+20048\s+mountd", rpcinfo.Stdout);
        Assert.Matches(@"100000\s+2\s+tcp\s+111\s+portmapper", rpcinfo.Stdout);
    }

    [Fact]
    public async Task Tshark_sees_no_malformed_packet_in_a_libnfs_session()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-tshark", ns => [LocalExport(ns)]);
        await File.WriteAllBytesAsync(Path.Combine(ExportDirectory(host), "data"), RandomNumberGenerator.GetBytes(300_000));
        Directory.CreateDirectory(Path.Combine(ExportDirectory(host), "dir"));
        await using var capture = await TsharkCapture.StartAsync(host.Namespace, "port 2049 or port 20048 or port 111", rpcPorts: [20048]);
        (await Libnfs.LsAsync(host.Namespace, Url(), recursive: true)).EnsureSuccess();
        string copy = Path.Combine(host.Namespace.StateDirectory, "copy");
        (await Libnfs.CpAsync(host.Namespace, Url("/data"), copy)).EnsureSuccess();
        (await Libnfs.CpAsync(host.Namespace, copy, Url("/data2"))).EnsureSuccess();
        var summary = await capture.StopAsync();
        Assert.True(summary.IsWellFormed, $"malformed packets: {string.Join(", ", summary.MalformedPackets)}");
        Assert.True(summary.RpcCalls > 10 && summary.RpcReplies > 10, summary.ToString());
    }

    [Fact]
    public async Task Forged_and_tampered_handles_are_BADHANDLE()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-forge");
        await using var mount = await host.MountAsync();
        byte[] bytes = mount.RootHandle.Bytes.ToArray();

        byte[] tampered = (byte[])bytes.Clone();
        tampered[^1] ^= 1;
        byte[] otherExport = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(otherExport.AsSpan(1), 99);
        byte[] forgedIdentity = (byte[])bytes.Clone();
        forgedIdentity[6] ^= 0x40;
        foreach (var bad in new[] { tampered, otherExport, forgedIdentity, bytes[..10], new byte[] { 1 } })
        {
            var e = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.Nfs.GetAttrAsync(new NfsFileHandle(bad)));
            Assert.Equal(Nfs3Status.BadHandle, e.Status);
        }
        // The server is unharmed.
        await mount.Nfs.GetAttrAsync(mount.RootHandle);
    }

    [Fact]
    public async Task Dotdot_at_the_root_stays_and_symlinks_out_of_the_export_are_not_followed()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-escape", ns => [LocalExport(ns)]);
        File.CreateSymbolicLink(Path.Combine(ExportDirectory(host), "etc"), "/etc");
        await using var mount = await host.MountAsync();
        var nfs = mount.Nfs;

        var up = await nfs.LookupAsync(mount.RootHandle, "..");
        Assert.Equal((await nfs.GetAttrAsync(mount.RootHandle)).FileId, up.Attributes!.FileId);

        var link = await nfs.LookupAsync(mount.RootHandle, "etc");
        Assert.Equal(Nfs3FileType.Symlink, link.Attributes!.Type);
        Assert.Equal("/etc", await nfs.ReadLinkAsync(link.Handle));
        var through = await Assert.ThrowsAsync<Nfs3Exception>(() => nfs.LookupAsync(link.Handle, "passwd"));
        Assert.Equal(Nfs3Status.NotDir, through.Status);
        var read = await Assert.ThrowsAsync<Nfs3Exception>(() => nfs.ReadAsync(link.Handle, 0, 100, new byte[100]));
        Assert.NotEqual(Nfs3Status.Ok, read.Status);
    }

    [Fact]
    public async Task Root_squash_creates_files_as_65534()
    {
        var backend = new MemoryFileSystem(HandleCodec.CreateEphemeral(1), rootMode: 0x1FF /* 0777 */);
        await using var host = await EmbeddedServerHost.StartAsync("emb-squash",
            new NfsExport("/export", backend, new NfsExportOptions { Squash = SquashMode.Root }));
        await using var mount = await host.MountAsync(extra: "&uid=0&gid=0");
        await mount.Nfs.CreateAsync(mount.RootHandle, "mine", CreateMode.Unchecked, Sattr3.Empty);
        var attributes = await mount.GetAttributesAsync("mine");
        Assert.Equal((65534u, 65534u), (attributes.Uid, attributes.Gid));
    }

    [Fact]
    public async Task Read_only_export_answers_ROFS_and_ACCESS_grants_no_modification()
    {
        var backend = new MemoryFileSystem(HandleCodec.CreateEphemeral(1));
        await using var host = await EmbeddedServerHost.StartAsync("emb-ro",
            new NfsExport("/export", backend, new NfsExportOptions { ReadOnly = true, Squash = SquashMode.None }));
        await using var mount = await host.MountAsync();
        var mkdir = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.CreateDirectoryAsync("d"));
        Assert.Equal(Nfs3Status.RoFs, mkdir.Status);
        var create = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.Nfs.CreateAsync(mount.RootHandle, "f", CreateMode.Unchecked, Sattr3.Empty));
        Assert.Equal(Nfs3Status.RoFs, create.Status);
        var granted = await mount.AccessAsync("/", Access3.All);
        Assert.Equal(Access3.None, granted & (Access3.Modify | Access3.Extend | Access3.Delete));
    }

    [Fact]
    public async Task Client_outside_allow_gets_MNT3ERR_ACCES_and_NFS3ERR_ACCES_for_that_exports_handles()
    {
        var closed = EmbeddedServerHost.MemoryExport("/closed", new NfsExportOptions
        {
            Squash = SquashMode.None,
            AllowedClients = [IPNetwork.Parse("10.0.0.0/8")],
        }, exportId: 2);
        await using var host = await EmbeddedServerHost.StartAsync("emb-allow", EmbeddedServerHost.MemoryExport(), closed);
        var refused = await Assert.ThrowsAsync<Mount3Exception>(() => host.MountAsync("/closed"));
        Assert.Equal(MountStatus.Acces, refused.Status);
        var missing = await Assert.ThrowsAsync<Mount3Exception>(() => host.MountAsync("/nothing"));
        Assert.Equal(MountStatus.NoEnt, missing.Status);

        // A handle of the closed export, obtained elsewhere, is refused on the NFS side too.
        await using var open = await host.MountAsync();
        var e = await Assert.ThrowsAsync<Nfs3Exception>(() => open.Nfs.GetAttrAsync(new NfsFileHandle(closed.FileSystem.RootHandle.Span)));
        Assert.Equal(Nfs3Status.Acces, e.Status);
        Assert.Contains(host.Log, line => line.Contains("MNT /closed from 127.0.0.1 refused", StringComparison.Ordinal));
        Assert.Contains(host.Server.Mounts, m => m.Directory == "/export" && m.Hostname == "127.0.0.1");
    }

    [Fact]
    public async Task An_oversized_record_closes_only_its_own_connection()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-big-rec");
        await using var mount = await host.MountAsync();
        using var sockets = NetworkNamespace.Open(host.Namespace.Name);
        using var attacker = await new NamespaceSocketFactory(sockets).ConnectTcpAsync(new IPEndPoint(IPAddress.Loopback, 2049), CancellationToken.None);
        byte[] marker = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(marker, 0x8000_0000u | (512u << 20)); // a 512 MiB last fragment
        await attacker.SendAsync(marker);
        var buffer = new byte[16];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int received;
        try
        {
            received = await attacker.ReceiveAsync(buffer, timeout.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            received = 0;
        }
        Assert.Equal(0, received);
        // The other client carries on.
        await mount.Nfs.GetAttrAsync(mount.RootHandle);
    }
}
