using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The client against a pair of servers: two namespaces A and B, each with a server at 127.0.0.1:2049 (the mission's
/// acceptance setup), and the client-side cases of shared/cases that a real server can show. Runs once against
/// nfs-ganesha and once against the embedded server (<see cref="Ganesha"/>, <see cref="Embedded"/>).
/// </summary>
public abstract class NfsClientTests(IServerPairFixture pair)
{
    [Collection(GaneshaPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Ganesha(GaneshaPairFixture fixture) : NfsClientTests(fixture)
    {
        protected override bool AdvertisesHugeTransferSizes => true;
    }

    [Collection(EmbeddedPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Embedded(EmbeddedPairFixture fixture) : NfsClientTests(fixture);

    /// <summary>Whether the server's FSINFO rtmax/wtmax is far above the client's 1 MiB cap (ganesha: 64 MiB), so clamping shows.</summary>
    protected virtual bool AdvertisesHugeTransferSizes => false;

    private static string Url(IServerSide side, string path = "/export", string extra = "") =>
        $"nfs://127.0.0.1{path}?netns={side.Namespace.Name}{extra}";

    private static Task<NfsMount> MountAsync(IServerSide side, string extra = "") => NfsMount.MountAsync(Url(side, extra: extra));

    private static async Task<string> ReadTextAsync(NfsMount mount, string path)
    {
        await using var file = await mount.OpenReadAsync(path);
        using var reader = new StreamReader(file);
        return await reader.ReadToEndAsync();
    }

    private static async Task WriteBytesAsync(NfsMount mount, string path, byte[] data)
    {
        await using var file = await mount.OpenWriteAsync(path);
        await file.WriteAsync(data);
    }

    private static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    // ---- namespace scenarios (shared/cases/namespaces.md) --------------------------------------------------

    [Fact]
    public async Task N1_same_address_two_servers_each_mount_sees_its_own_and_writes_stay_home()
    {
        // Nothing listens on 127.0.0.1:2049 in the initial namespace, so a namespace-blind client would fail here.
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => probe.ConnectAsync(IPAddress.Loopback, 2049));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
        await using var a = await MountAsync(pair.A);
        await using var b = await MountAsync(pair.B);
        Assert.Equal(pair.A.HelloText, await ReadTextAsync(a, ServerPairContent.HelloFile));
        Assert.Equal(pair.B.HelloText, await ReadTextAsync(b, ServerPairContent.HelloFile));
        Assert.NotEqual(a.Namespace.Id, b.Namespace.Id);

        string name = UniqueName("n1");
        await WriteBytesAsync(a, name, Encoding.UTF8.GetBytes("only on A"));
        Assert.True(File.Exists(Path.Combine(pair.A.ExportDirectory, name)));
        Assert.False(File.Exists(Path.Combine(pair.B.ExportDirectory, name)));
        await Assert.ThrowsAsync<Nfs3Exception>(() => b.GetAttributesAsync(name));
        await a.RemoveFileAsync(name);
    }

    [Fact]
    public async Task N2_mount_keeps_working_after_the_namespace_name_is_deleted_reconnect_included()
    {
        var side = await pair.StartSideAsync("N2");
        try
        {
            await using var mount = await MountAsync(side);
            var idBefore = mount.Namespace.Id;
            var deleted = await ProcessRunner.RunAsync("ip", ["netns", "del", side.Namespace.Name], TimeSpan.FromSeconds(10));
            Assert.Equal(0, deleted.ExitCode);
            Assert.False(File.Exists(side.Namespace.Path));

            Assert.Equal(side.HelloText, await ReadTextAsync(mount, ServerPairContent.HelloFile));
            long connectsBefore = mount.Connection.Stats.Connects;
            mount.Connection.DropConnectionForTesting();
            Assert.Equal(side.HelloText, await ReadTextAsync(mount, ServerPairContent.HelloFile));
            Assert.True(mount.Connection.Stats.Connects > connectsBefore, "the mount should have reconnected");
            Assert.Equal(idBefore, mount.Namespace.Id);
        }
        finally
        {
            await pair.StopSideAsync(side);
        }
    }

    [Fact]
    public async Task N3_caller_moves_but_the_mount_stays_in_the_namespace_it_captured()
    {
        using var nsA = NetworkNamespace.Open(pair.A.Namespace.Path);
        using var nsB = NetworkNamespace.Open(pair.B.Namespace.Path);
        // A thread that is in A captures "my current namespace" at mount time.
        var mount = nsA.RunInside(() => NfsMount.MountAsync(new NfsMountOptions { Host = "127.0.0.1", Path = "/export" }).GetAwaiter().GetResult());
        await using (mount)
        {
            Assert.Equal(nsA.Id, mount.Namespace.Id);
            // Used from here (the initial namespace) and from a thread that now sits in B: still A's server.
            Assert.Equal(pair.A.HelloText, await ReadTextAsync(mount, ServerPairContent.HelloFile));
            string fromB = nsB.RunInside(() => ReadTextAsync(mount, ServerPairContent.HelloFile).GetAwaiter().GetResult());
            Assert.Equal(pair.A.HelloText, fromB);
            // A reconnect started from B's thread still opens its socket in A.
            mount.Connection.DropConnectionForTesting();
            string afterReconnect = nsB.RunInside(() => ReadTextAsync(mount, ServerPairContent.HelloFile).GetAwaiter().GetResult());
            Assert.Equal(pair.A.HelloText, afterReconnect);
        }
    }

    [Fact]
    public async Task N4_copy_survives_a_server_restart_and_no_traffic_leaks_into_the_other_namespace()
    {
        var side = await pair.StartSideAsync("N4");
        try
        {
            var data = RandomNumberGenerator.GetBytes(96 << 20);
            await File.WriteAllBytesAsync(Path.Combine(side.ExportDirectory, "big.bin"), data);
            await using var captureB = await TsharkCapture.StartAsync(pair.B.Namespace);
            await using var mount = await MountAsync(side, "&timeo=20&retrans=5");
            await using var file = await mount.OpenReadAsync("big.bin");
            var copy = new MemoryStream();
            var buffer = new byte[1 << 20];
            bool restarted = false;
            int n;
            while ((n = await file.ReadAsync(buffer)) > 0)
            {
                copy.Write(buffer, 0, n);
                if (!restarted && copy.Length >= 16 << 20)
                {
                    await side.RestartAsync();
                    restarted = true;
                }
            }
            Assert.True(restarted);
            Assert.True(mount.Connection.Stats.Reconnects >= 1, "the restart should have forced a reconnect");
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(copy.ToArray()));
            var summary = await captureB.StopAsync();
            Assert.True(summary.IsWellFormed);
            Assert.Equal(0, summary.RpcPackets);
        }
        finally
        {
            await pair.StopSideAsync(side);
        }
    }

    [Fact]
    public async Task N5_rpcbind_MOUNT_and_NFS_of_a_mount_through_A_happen_only_in_A()
    {
        const string filter = "port 111 or port 20048 or port 2049";
        int[] rpcPorts = [20048];
        await using var captureA = await TsharkCapture.StartAsync(pair.A.Namespace, filter, rpcPorts: rpcPorts);
        await using var captureB = await TsharkCapture.StartAsync(pair.B.Namespace, filter, rpcPorts: rpcPorts);
        // No nfsport/mountport: the mount asks rpcbind for both, then MOUNTs, then talks NFS, and UMNTs at the end.
        await using (var mount = await MountAsync(pair.A))
            Assert.Equal(pair.A.HelloText, await ReadTextAsync(mount, ServerPairContent.HelloFile));
        Assert.True((await captureA.StopAsync()).IsWellFormed);
        Assert.True((await captureB.StopAsync()).IsWellFormed);
        var inA = await captureA.ListRpcAsync();
        var inB = await captureB.ListRpcAsync();
        Assert.Contains(inA, p => p.Program == "100000"); // rpcbind / portmap
        Assert.Contains(inA, p => p.Program == "100005"); // MOUNT
        Assert.Contains(inA, p => p.Program == "100003"); // NFS
        Assert.Empty(inB);
    }

    [Fact]
    public async Task N7_missing_namespace_fails_at_once_naming_it()
    {
        string name = $"nfsns-missing-{Guid.NewGuid():N}"[..22];
        var started = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<NamespaceException>(() => NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={name}"));
        Assert.Equal(NamespaceFailure.DoesNotExist, e.Reason);
        Assert.Contains(name, e.Message);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5));
        var notNet = Assert.Throws<NamespaceException>(() => NetworkNamespace.Open("/proc/self/ns/uts"));
        Assert.Equal(NamespaceFailure.NotANetworkNamespace, notNet.Reason);
    }

    [Fact]
    public async Task N7_a_namespace_the_process_may_not_enter_fails_with_the_reason()
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll");
        Assert.True(File.Exists(cli), cli);
        var result = await ProcessRunner.RunAsync("env",
            ["DOTNET_CLI_HOME=/tmp", "HOME=/tmp", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "dotnet", cli, "ls", Url(pair.A)],
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, result.ExitCode);
        string error = result.Stderr.Trim();
        Assert.Contains(pair.A.Namespace.Name, error);
        Assert.Contains("permission denied", error);
        Assert.Single(error.Split('\n'));
    }

    // ---- data (shared/cases/nfs3.md) -----------------------------------------------------------------------

    [Fact]
    public async Task R1_offsets_past_4_GiB_are_64_bit_everywhere()
    {
        string name = UniqueName("r1");
        string local = Path.Combine(pair.A.ExportDirectory, name);
        const long size = 5L << 30;
        using (var f = new FileStream(local, FileMode.CreateNew))
        {
            f.SetLength(size);
            f.Position = (4L << 30) + 1;
            f.Write("past-4GiB"u8);
            f.Position = size - 10;
            f.Write("near-end!!"u8);
        }
        try
        {
            await using var mount = await MountAsync(pair.A);
            var attributes = await mount.GetAttributesAsync(name);
            Assert.Equal(5368709120UL, attributes.Size);
            await using var file = await mount.OpenReadAsync(name);
            var buffer = new byte[10];
            file.Position = (4L << 30) + 1;
            await file.ReadExactlyAsync(buffer.AsMemory(0, 9));
            Assert.Equal("past-4GiB", Encoding.ASCII.GetString(buffer, 0, 9));
            file.Position = size - 10;
            await file.ReadExactlyAsync(buffer);
            Assert.Equal("near-end!!", Encoding.ASCII.GetString(buffer));
            Assert.Equal(0, await file.ReadAsync(buffer));
        }
        finally
        {
            File.Delete(local);
        }
    }

    [Fact]
    public async Task R2_eof_flag_and_counts_are_exact()
    {
        string name = UniqueName("r2");
        var data = RandomNumberGenerator.GetBytes(100 * 1024);
        await File.WriteAllBytesAsync(Path.Combine(pair.A.ExportDirectory, name), data);
        await using var mount = await MountAsync(pair.A);
        var handle = await mount.LookupAsync(name);
        var buffer = new byte[40 * 1024];
        async Task Check(int offsetKiB, int countKiB, int expected)
        {
            var result = await mount.Nfs.ReadAsync(handle, (ulong)offsetKiB * 1024, (uint)countKiB * 1024, buffer);
            Assert.Equal(expected, result.Count);
            Assert.True(result.Eof, $"READ({offsetKiB} KiB, {countKiB} KiB) should report EOF");
            Assert.Equal(data.AsSpan(Math.Min(offsetKiB * 1024, data.Length), expected).ToArray(), buffer.AsSpan(0, expected).ToArray());
        }
        await Check(90, 40, 10 * 1024);
        await Check(60, 40, 40 * 1024);
        await Check(100, 4, 0);
        await mount.RemoveFileAsync(name);
    }

    [Fact]
    public async Task R3_R4_reads_around_the_transfer_size_and_the_client_clamps_huge_server_limits()
    {
        await using var mount = await MountAsync(pair.A);
        if (AdvertisesHugeTransferSizes)
            Assert.True(mount.FsInfo.ReadMax >= 64u << 20, $"the server advertises rtmax {mount.FsInfo.ReadMax}");
        // The client uses the server's limit, capped at 1 MiB.
        Assert.Equal(Math.Min(mount.FsInfo.ReadMax, 1u << 20), (uint)mount.ReadSize);
        Assert.Equal(Math.Min(mount.FsInfo.WriteMax, 1u << 20), (uint)mount.WriteSize);
        int rsize = mount.ReadSize;
        string name = UniqueName("r3");
        var data = RandomNumberGenerator.GetBytes(5 * rsize + 100);
        await File.WriteAllBytesAsync(Path.Combine(pair.A.ExportDirectory, name), data);
        await using var file = await mount.OpenReadAsync(name);
        int position = 0;
        foreach (int count in new[] { rsize, rsize + 1, 3 * rsize + 7 })
        {
            var buffer = new byte[count];
            await file.ReadExactlyAsync(buffer);
            Assert.Equal(data.AsSpan(position, count).ToArray(), buffer);
            position += count;
            Assert.Equal(position, file.Position);
        }
        await mount.RemoveFileAsync(name);
    }

    [Fact]
    public async Task W1_unstable_writes_are_committed_and_read_back_identically_also_by_libnfs()
    {
        await using var mount = await MountAsync(pair.A);
        string name = UniqueName("w1");
        var data = RandomNumberGenerator.GetBytes((40 << 20) + 12345);
        await WriteBytesAsync(mount, name, data);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(pair.A.ExportDirectory, name)));
        string copy = $"/dev/shm/{name}";
        try
        {
            var cp = await Libnfs.CpAsync(pair.A.Namespace, $"nfs://127.0.0.1/export/{name}", copy);
            Assert.True(cp.Succeeded, cp.ToString());
            Assert.Equal(data, await File.ReadAllBytesAsync(copy));
        }
        finally
        {
            File.Delete(copy);
        }
        await mount.RemoveFileAsync(name);
    }

    // ---- directories ----------------------------------------------------------------------------------------

    [Fact]
    public async Task D3_large_directory_listed_with_small_pages_by_READDIR_and_READDIRPLUS()
    {
        string dir = UniqueName("d3");
        string local = Path.Combine(pair.A.ExportDirectory, dir);
        Directory.CreateDirectory(local);
        for (int i = 0; i < 2500; i++) File.WriteAllBytes(Path.Combine(local, $"file-{i:D4}"), []);
        try
        {
            using var ns = NetworkNamespace.Open(pair.A.Namespace.Path);
            await using var mount = await NfsMount.MountAsync(NfsMountOptions.FromUrl(NfsUrl.Parse(Url(pair.A)), ns) with
            {
                DirCount = 4096,
                DirMaxCount = 4096,
            });
            var plus = new List<string>();
            await foreach (var entry in mount.ListAsync(dir)) plus.Add(entry.Name);
            AssertListing(plus);

            var handle = await mount.LookupAsync(dir);
            var plain = new List<string>();
            ulong cookie = 0, verifier = 0;
            for (int page = 0; page < 10_000; page++)
            {
                var result = await mount.Nfs.ReadDirAsync(handle, cookie, verifier, 4096);
                plain.AddRange(result.Entries.Select(e => e.Name));
                if (result.Eof) break;
                cookie = result.Entries[^1].Cookie;
                verifier = result.CookieVerifier;
            }
            AssertListing(plain);
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }

        static void AssertListing(List<string> names)
        {
            Assert.Equal(names.Count, names.Distinct().Count());
            Assert.Contains(".", names);
            Assert.Contains("..", names);
            Assert.Equal(2500, names.Count(n => n.StartsWith("file-", StringComparison.Ordinal)));
            Assert.Equal(2502, names.Count);
        }
    }

    [Fact]
    public async Task D4_resuming_at_a_cookie_continues_with_the_next_entry()
    {
        string dir = UniqueName("d4");
        string local = Path.Combine(pair.A.ExportDirectory, dir);
        Directory.CreateDirectory(local);
        for (int i = 0; i < 130; i++) File.WriteAllBytes(Path.Combine(local, $"e{i:D3}"), []);
        try
        {
            await using var mount = await MountAsync(pair.A);
            var handle = await mount.LookupAsync(dir);
            var first = await mount.Nfs.ReadDirAsync(handle, 0, 0, 64 * 1024);
            Assert.True(first.Entries.Count >= 115);
            var resumed = await mount.Nfs.ReadDirAsync(handle, first.Entries[99].Cookie, first.CookieVerifier, 64 * 1024);
            Assert.Equal(first.Entries[100].Name, resumed.Entries[0].Name);
            Assert.Equal(first.Entries.Skip(100).Select(e => e.Name), resumed.Entries.Take(first.Entries.Count - 100).Select(e => e.Name));
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    // ---- handles --------------------------------------------------------------------------------------------

    [Fact]
    public async Task H1_H2_H3_handles_survive_rmdir_rename_and_hard_links_share_the_file_id()
    {
        await using var mount = await MountAsync(pair.A);
        string root = UniqueName("h");
        await mount.CreateDirectoryAsync(root);
        // H1: MKDIR d, RMDIR d, then READDIR of the parent.
        await mount.CreateDirectoryAsync($"{root}/d");
        await mount.RemoveDirectoryAsync($"{root}/d");
        var names = new List<string>();
        await foreach (var e in mount.ListAsync(root)) names.Add(e.Name);
        Assert.DoesNotContain("d", names);

        // H2: LOOKUP a, RENAME a→b and into another directory, then MKDIR inside through the old handle.
        await mount.CreateDirectoryAsync($"{root}/a");
        await mount.CreateDirectoryAsync($"{root}/other");
        var oldHandle = await mount.LookupAsync($"{root}/a");
        await mount.RenameAsync($"{root}/a", $"{root}/b");
        await mount.Nfs.MkdirAsync(oldHandle, "made-through-old-handle", new Sattr3 { Mode = 0x1ED });
        await mount.RenameAsync($"{root}/b", $"{root}/other/c");
        await mount.Nfs.MkdirAsync(oldHandle, "again", new Sattr3 { Mode = 0x1ED });
        Assert.True(Directory.Exists(Path.Combine(pair.A.ExportDirectory, root, "other", "c", "made-through-old-handle")));
        Assert.True(Directory.Exists(Path.Combine(pair.A.ExportDirectory, root, "other", "c", "again")));

        // H3: LINK gives the same fileid and nlink = 2.
        await WriteBytesAsync(mount, $"{root}/file", [1, 2, 3]);
        await mount.LinkAsync($"{root}/file", $"{root}/hard");
        var original = await mount.GetAttributesAsync($"{root}/file");
        var link = await mount.GetAttributesAsync($"{root}/hard");
        Assert.Equal(original.FileId, link.FileId);
        Assert.Equal(2u, link.Nlink);
        Directory.Delete(Path.Combine(pair.A.ExportDirectory, root), recursive: true);
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    [Fact]
    public async Task Errors_are_specific_refused_port_missing_export_missing_path_permission()
    {
        var refused = await Assert.ThrowsAnyAsync<RpcException>(() =>
            NfsMount.MountAsync(Url(pair.A, extra: "&mountport=1&nfsport=1&soft&retrans=1&timeo=10")));
        Assert.Contains("refused", refused.Message);
        Assert.Contains(pair.A.Namespace.Name, refused.Message);

        var noExport = await Assert.ThrowsAsync<Mount3Exception>(() => NfsMount.MountAsync(Url(pair.A, "/no-such-export")));
        Assert.Contains("/no-such-export", noExport.Message);

        await using var mount = await MountAsync(pair.A);
        var noPath = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.GetAttributesAsync("missing/deeper"));
        Assert.Equal(Nfs3Status.NoEnt, noPath.Status);
        Assert.Contains("/export/missing/deeper", noPath.Message);

        await using var nobody = await MountAsync(pair.A, "&uid=65534&gid=65534");
        var denied = await Assert.ThrowsAsync<Nfs3Exception>(() => nobody.OpenWriteAsync(UniqueName("denied")));
        Assert.Equal(Nfs3Status.Acces, denied.Status);
    }

    [Fact]
    public async Task A_hard_mount_of_a_refusing_port_warns_not_responding_and_gives_up_mounting_in_time()
    {
        var warnings = new List<string>();
        var started = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<NfsClientException>(() => NfsMount.MountAsync(
            NfsUrl.Parse(Url(pair.A, extra: "&nfsport=1&timeo=5&retrans=1")),
            o => o with { Warn = w => { lock (warnings) warnings.Add(w); } }));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        Assert.Contains("did not answer within 1 s", e.Message);
        Assert.Contains("connection refused", e.Message);
        Assert.Contains(pair.A.Namespace.Name, e.Message);
        lock (warnings) Assert.Contains(warnings, w => w.Contains("not responding, still trying"));
    }

    [Fact]
    public async Task A_capture_of_a_client_session_shows_well_formed_RPC_only()
    {
        await using var capture = await TsharkCapture.StartAsync(pair.A.Namespace);
        await using (var mount = await MountAsync(pair.A))
        {
            string name = UniqueName("wire");
            await WriteBytesAsync(mount, name, RandomNumberGenerator.GetBytes(3 << 20));
            await foreach (var _ in mount.ListAsync("/")) { }
            await ReadTextAsync(mount, ServerPairContent.HelloFile);
            await mount.RemoveFileAsync(name);
        }
        var summary = await capture.StopAsync();
        Assert.True(summary.IsWellFormed, string.Join("; ", summary.MalformedPackets));
        Assert.True(summary.RpcCalls > 5);
    }
}
