using System.Text;
using NfsNs.Client;
using NfsNs.Protocols.Nfs3;
using NfsNs.Server;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// Our own client against the embedded server (in-memory export) inside a test namespace: round trips of every
/// operation and the server-side cases of shared/cases/nfs3.md (R1, R2, D3, D4, H1–H3, W1).
/// </summary>
[Trait("Category", "Integration")]
public sealed class EmbeddedServerTests
{
    private static async Task WriteAsync(NfsMount mount, string path, byte[] data)
    {
        await using var file = await mount.OpenWriteAsync(path);
        await file.WriteAsync(data);
    }

    private static async Task<byte[]> ReadAllAsync(NfsMount mount, string path)
    {
        await using var file = await mount.OpenReadAsync(path);
        using var copy = new MemoryStream();
        await file.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static async Task<List<string>> ListNamesAsync(NfsMount mount, string path)
    {
        var names = new List<string>();
        await foreach (var entry in mount.ListAsync(path)) names.Add(entry.Name);
        return names;
    }

    [Fact]
    public async Task Client_round_trips_every_operation()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-rt");
        await using var mount = await host.MountAsync();

        byte[] data = Encoding.UTF8.GetBytes("hello from the embedded server");
        await mount.CreateDirectoryAsync("dir");
        await WriteAsync(mount, "dir/file", data);
        Assert.Equal(data, await ReadAllAsync(mount, "dir/file"));

        await mount.RenameAsync("dir/file", "dir/renamed");
        await mount.LinkAsync("dir/renamed", "hard");
        await mount.SymlinkAsync("dir/renamed", "soft");
        Assert.Equal("dir/renamed", await mount.ReadLinkAsync("soft"));
        Assert.Equal(2u, (await mount.GetAttributesAsync("hard")).Nlink);
        Assert.Equal(["renamed"], (await ListNamesAsync(mount, "dir")).Where(n => n is not "." and not "..").ToList());

        await mount.SetAttributesAsync("hard", new Sattr3 { Mode = 0x180 /* 0600 */, Size = 5 });
        var attributes = await mount.GetAttributesAsync("dir/renamed");
        Assert.Equal(0x180u, attributes.Mode);
        Assert.Equal(5ul, attributes.Size);
        Assert.Equal(data[..5], await ReadAllAsync(mount, "hard"));

        var granted = await mount.AccessAsync("dir", Access3.All);
        Assert.Equal(Access3.All & ~Access3.Execute | Access3.Execute, granted | Access3.Execute);

        var fsstat = await mount.FsStatAsync();
        Assert.True(fsstat.TotalBytes > 0 && fsstat.FreeBytes <= fsstat.TotalBytes);
        var fsinfo = mount.FsInfo;
        Assert.Equal((uint)Nfs3Program.MaxTransferSize, fsinfo.ReadMax);
        Assert.Equal((uint)Nfs3Program.MaxTransferSize, fsinfo.WriteMax);
        Assert.Equal(64u * 1024, fsinfo.DirPreferred);
        Assert.True(fsinfo.Properties.HasFlag(FsProperties.Link | FsProperties.Symlink | FsProperties.Homogeneous | FsProperties.CanSetTime));
        var pathconf = await mount.PathConfAsync();
        Assert.Equal(255u, pathconf.NameMax);

        await mount.RemoveFileAsync("soft");
        await mount.RemoveFileAsync("hard");
        await mount.RemoveFileAsync("dir/renamed");
        var notEmpty = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.RemoveFileAsync("dir"));
        Assert.Equal(Nfs3Status.IsDir, notEmpty.Status);
        await mount.RemoveDirectoryAsync("dir");
        var gone = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.GetAttributesAsync("dir"));
        Assert.Equal(Nfs3Status.NoEnt, gone.Status);
    }

    [Fact]
    public async Task Mutations_fill_wcc_data_and_exclusive_create_honours_its_verifier()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-wcc");
        await using var mount = await host.MountAsync();
        var nfs = mount.Nfs;

        var made = await nfs.CreateAsync(mount.RootHandle, "x", CreateMode.Exclusive, null, exclusiveVerifier: 42);
        Assert.NotNull(made.Handle);
        Assert.NotNull(made.DirWcc.Before);
        Assert.NotNull(made.DirWcc.After);
        // A retransmission with the same verifier gets the same file; another verifier is EXIST.
        var again = await nfs.CreateAsync(mount.RootHandle, "x", CreateMode.Exclusive, null, exclusiveVerifier: 42);
        Assert.Equal(made.Handle, again.Handle);
        var other = await Assert.ThrowsAsync<Nfs3Exception>(() => nfs.CreateAsync(mount.RootHandle, "x", CreateMode.Exclusive, null, exclusiveVerifier: 43));
        Assert.Equal(Nfs3Status.Exist, other.Status);

        var write = await nfs.WriteAsync(made.Handle!.Value, 0, new byte[100], StableHow.Unstable);
        Assert.Equal(0ul, write.Wcc.Before!.Value.Size);
        Assert.Equal(100ul, write.Wcc.After!.Size);
        Assert.Equal(host.Server.WriteVerifier, write.Verifier);
        var commit = await nfs.CommitAsync(made.Handle!.Value, 0, 0);
        Assert.Equal(write.Verifier, commit.Verifier);

        var guarded = await Assert.ThrowsAsync<Nfs3Exception>(() => nfs.CreateAsync(mount.RootHandle, "x", CreateMode.Guarded, Sattr3.Empty));
        Assert.Equal(Nfs3Status.Exist, guarded.Status);
    }

    [Fact]
    public async Task R1_five_GiB_sparse_file_reads_past_4_GiB()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-r1");
        await using var mount = await host.MountAsync();
        var nfs = mount.Nfs;
        const ulong size = 5UL << 30;
        var file = (await nfs.CreateAsync(mount.RootHandle, "big", CreateMode.Unchecked, Sattr3.Empty)).Handle!.Value;
        byte[] marker = Encoding.ASCII.GetBytes("0123456789");
        await nfs.WriteAsync(file, (4UL << 30) + 1, marker, StableHow.FileSync);
        await nfs.WriteAsync(file, size - 10, marker, StableHow.FileSync);
        Assert.Equal(size, (await nfs.GetAttrAsync(file)).Size);

        var buffer = new byte[10];
        var read = await nfs.ReadAsync(file, (4UL << 30) + 1, 10, buffer);
        Assert.Equal(marker, buffer[..read.Count]);
        Assert.False(read.Eof);
        read = await nfs.ReadAsync(file, size - 10, 10, buffer);
        Assert.Equal(marker, buffer);
        Assert.True(read.Eof);
    }

    [Fact]
    public async Task R2_exact_EOF_flags()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-r2");
        await using var mount = await host.MountAsync();
        byte[] data = new byte[100 * 1024];
        new Random(2).NextBytes(data);
        await WriteAsync(mount, "f", data);
        var file = await mount.LookupAsync("f");
        var buffer = new byte[40 * 1024];

        var tail = await mount.Nfs.ReadAsync(file, 90 * 1024, 40 * 1024, buffer);
        Assert.Equal((10 * 1024, true), (tail.Count, tail.Eof));
        Assert.Equal(data[(90 * 1024)..], buffer[..tail.Count]);
        var upToEnd = await mount.Nfs.ReadAsync(file, 60 * 1024, 40 * 1024, buffer);
        Assert.Equal((40 * 1024, true), (upToEnd.Count, upToEnd.Eof));
        var past = await mount.Nfs.ReadAsync(file, 100 * 1024, 4 * 1024, buffer);
        Assert.Equal((0, true), (past.Count, past.Eof));
        var middle = await mount.Nfs.ReadAsync(file, 0, 40 * 1024, buffer);
        Assert.Equal((40 * 1024, false), (middle.Count, middle.Eof));
    }

    [Fact]
    public async Task D3_2500_entries_in_4096_byte_pages_through_READDIR_and_READDIRPLUS()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-d3");
        await using var mount = await host.MountAsync();
        var dir = await mount.CreateDirectoryAsync("big");
        await Parallel.ForAsync(0, 2500, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            await mount.Nfs.CreateAsync(dir, $"file-{i:D5}", CreateMode.Unchecked, Sattr3.Empty, cancellationToken: ct));

        foreach (bool plus in new[] { false, true })
        {
            var names = new List<string>();
            ulong cookie = 0, verifier = 0;
            bool eof = false;
            for (int pages = 0; !eof; pages++)
            {
                Assert.True(pages < 1000, "listing does not end");
                if (plus)
                {
                    var page = await mount.Nfs.ReadDirPlusAsync(dir, cookie, verifier, 4096, 4096);
                    Assert.NotEmpty(page.Entries);
                    Assert.All(page.Entries, e => Assert.NotNull(e.Handle));
                    names.AddRange(page.Entries.Select(e => e.Name));
                    (cookie, verifier, eof) = (page.Entries[^1].Cookie, page.CookieVerifier, page.Eof);
                }
                else
                {
                    var page = await mount.Nfs.ReadDirAsync(dir, cookie, verifier, 4096);
                    Assert.NotEmpty(page.Entries);
                    names.AddRange(page.Entries.Select(e => e.Name));
                    (cookie, verifier, eof) = (page.Entries[^1].Cookie, page.CookieVerifier, page.Eof);
                }
            }
            Assert.Equal(2502, names.Count);
            Assert.Equal(2502, names.Distinct().Count());
            Assert.Contains(".", names);
            Assert.Contains("..", names);
        }

        // TOOSMALL only when not even one entry fits.
        var tooSmall = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.Nfs.ReadDirAsync(dir, 0, 0, 100));
        Assert.Equal(Nfs3Status.TooSmall, tooSmall.Status);
        var one = await mount.Nfs.ReadDirAsync(dir, 0, 0, 140);
        Assert.Single(one.Entries);
        Assert.False(one.Eof);
    }

    [Fact]
    public async Task D4_resuming_at_a_cookie_continues_with_the_next_entry()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-d4");
        await using var mount = await host.MountAsync();
        var dir = await mount.CreateDirectoryAsync("d");
        for (int i = 0; i < 130; i++)
            await mount.Nfs.CreateAsync(dir, $"e{i:D3}", CreateMode.Unchecked, Sattr3.Empty);
        var all = new List<DirEntry>();
        ulong cookie = 0;
        for (bool eof = false; !eof;)
        {
            var page = await mount.Nfs.ReadDirAsync(dir, cookie, 0, 32 * 1024);
            all.AddRange(page.Entries);
            (cookie, eof) = (page.Entries[^1].Cookie, page.Eof);
        }
        Assert.Equal(132, all.Count);
        var resumed = await mount.Nfs.ReadDirAsync(dir, all[99].Cookie, 0, 32 * 1024);
        Assert.Equal(all.Skip(100).Select(e => e.Name), resumed.Entries.Select(e => e.Name));
    }

    [Fact]
    public async Task H1_H2_H3_handles_survive_rmdir_rename_and_name_links()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-h");
        await using var mount = await host.MountAsync();
        var nfs = mount.Nfs;
        // H1
        await mount.CreateDirectoryAsync("d");
        await mount.RemoveDirectoryAsync("d");
        Assert.NotEmpty((await nfs.ReadDirAsync(mount.RootHandle, 0, 0, 4096)).Entries);
        // H2
        var a = await mount.CreateDirectoryAsync("a");
        await mount.CreateDirectoryAsync("other");
        await mount.RenameAsync("a", "other/b");
        await nfs.MkdirAsync(a, "inside", Sattr3.Empty);
        Assert.Equal(Nfs3FileType.Directory, (await mount.GetAttributesAsync("other/b/inside")).Type);
        // H3
        await WriteAsync(mount, "file", [1, 2, 3]);
        var file = await mount.LookupAsync("file");
        var linked = await nfs.LinkAsync(file, mount.RootHandle, "hard");
        Assert.Equal(2u, linked.FileAttributes!.Nlink);
        Assert.Equal((await mount.GetAttributesAsync("file")).FileId, (await mount.GetAttributesAsync("hard")).FileId);
    }

    [Fact]
    public async Task W1_write_verifier_differs_after_a_restart_within_one_second()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-w1");
        var verifiers = new HashSet<ulong>();
        for (int restart = 0; restart < 3; restart++)
        {
            if (restart > 0) await host.RestartAsync();
            await using var mount = await host.MountAsync();
            var file = (await mount.Nfs.CreateAsync(mount.RootHandle, $"w{restart}", CreateMode.Unchecked, Sattr3.Empty)).Handle!.Value;
            var write = await mount.Nfs.WriteAsync(file, 0, new byte[10], StableHow.Unstable);
            Assert.Equal(host.Server.WriteVerifier, write.Verifier);
            Assert.True(verifiers.Add(write.Verifier), "the verifier repeated after a restart");
        }
    }

    [Fact]
    public async Task Large_writes_and_reads_round_trip_through_the_client()
    {
        await using var host = await EmbeddedServerHost.StartAsync("emb-big");
        await using var mount = await host.MountAsync();
        byte[] data = new byte[5 * 1024 * 1024 + 7];
        new Random(5).NextBytes(data);
        await WriteAsync(mount, "blob", data);
        Assert.Equal(data, await ReadAllAsync(mount, "blob"));
    }
}
