using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NfsNs.Cli;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>The <c>nfsns</c> commands end to end against the server in namespace A (ganesha, then the embedded one), run in-process.</summary>
public abstract class CliTests(IServerPairFixture pair)
{
    [Collection(GaneshaPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Ganesha(GaneshaPairFixture fixture) : CliTests(fixture);

    [Collection(EmbeddedPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Embedded(EmbeddedPairFixture fixture) : CliTests(fixture);

    private sealed record Run(int ExitCode, string Out, string Err);

    private static async Task<Run> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await NfsNsCli.RunAsync(args, output, error);
        return new Run(exitCode, output.ToString(), error.ToString());
    }

    private string Url(string path) => $"nfs://127.0.0.1/export{path}?netns={pair.A.Namespace.Name}";

    [Fact]
    public async Task Cp_round_trip_mkdir_ls_json_stat_json_rm_and_clear_errors()
    {
        string dir = $"/cli-{Guid.NewGuid():N}"[..13];
        string local = Path.Combine(Path.GetTempPath(), $"nfsns-cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(local);
        try
        {
            var data = RandomNumberGenerator.GetBytes(3 << 20);
            await File.WriteAllBytesAsync(Path.Combine(local, "in.bin"), data);

            Assert.Equal(0, (await RunAsync("mkdir", "-p", Url($"{dir}/sub/deeper"))).ExitCode);
            Assert.Equal(0, (await RunAsync("mkdir", "-p", Url($"{dir}/sub"))).ExitCode); // exists: fine with -p
            Assert.Equal(0, (await RunAsync("cp", Path.Combine(local, "in.bin"), Url($"{dir}/sub/in.bin"))).ExitCode);
            Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(pair.A.ExportDirectory, dir.TrimStart('/'), "sub", "in.bin")));
            Assert.Equal(0, (await RunAsync("cp", Url($"{dir}/sub/in.bin"), Path.Combine(local, "out.bin"))).ExitCode);
            Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(local, "out.bin")));

            // cp -r of a tree, into an existing local directory.
            Directory.CreateDirectory(Path.Combine(local, "tree"));
            Assert.Equal(0, (await RunAsync("cp", "-r", Url(dir), Path.Combine(local, "tree"))).ExitCode);
            Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(local, "tree", dir.TrimStart('/'), "sub", "in.bin")));

            var ls = await RunAsync("ls", "-R", "--json", Url(dir));
            Assert.Equal(0, ls.ExitCode);
            // ls -R --json is one JSON array over every directory visited.
            var names = JsonDocument.Parse(ls.Out).RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
            Assert.Contains("in.bin", names);
            Assert.Contains("deeper", names);

            var stat = await RunAsync("stat", "--json", Url($"{dir}/sub/in.bin"));
            Assert.Equal(0, stat.ExitCode);
            var json = JsonDocument.Parse(stat.Out).RootElement;
            Assert.Equal(data.Length, json.GetProperty("size").GetInt64());
            Assert.Equal("regular", json.GetProperty("type").GetString());

            var notEmpty = await RunAsync("rmdir", Url(dir));
            Assert.Equal(1, notEmpty.ExitCode);
            Assert.Contains("NFS3ERR_NOTEMPTY", notEmpty.Err);
            Assert.Single(notEmpty.Err.Trim().Split('\n'));

            var isDirectory = await RunAsync("rm", Url(dir));
            Assert.Equal(1, isDirectory.ExitCode);
            Assert.Equal(0, (await RunAsync("rm", "-r", Url(dir))).ExitCode);
            Assert.False(Directory.Exists(Path.Combine(pair.A.ExportDirectory, dir.TrimStart('/'))));

            var missing = await RunAsync("cat", Url($"{dir}/nothing"));
            Assert.Equal(1, missing.ExitCode);
            Assert.Equal($"nfsns: LOOKUP /export{dir}/nothing: NFS3ERR_NOENT (no such file or directory)", missing.Err.Trim());
        }
        finally
        {
            Directory.Delete(local, recursive: true);
        }
    }

    [Fact]
    public async Task Exports_df_and_ping_report_through_the_namespace()
    {
        var exports = await RunAsync("exports", "--json", $"nfs://127.0.0.1/?netns={pair.A.Namespace.Name}");
        Assert.Equal(0, exports.ExitCode);
        Assert.Contains("/export", JsonDocument.Parse(exports.Out).RootElement.EnumerateArray().Select(e => e.GetProperty("directory").GetString()));
        // HOST:PORT names MOUNT's port: a wrong one fails, the right one lists.
        Assert.Equal(1, (await RunAsync("exports", "--netns", pair.A.Namespace.Name, "127.0.0.1:1")).ExitCode);
        Assert.Equal(0, (await RunAsync("exports", "--netns", pair.A.Namespace.Name, "127.0.0.1:20048")).ExitCode);
        var df = await RunAsync("df", "--json", Url("/"));
        Assert.Equal(0, df.ExitCode);
        Assert.True(JsonDocument.Parse(df.Out).RootElement.GetProperty("totalBytes").GetUInt64() > 0);
        // NULL needs no export: ping works for a bare server URL that MOUNT would refuse.
        var ping = await RunAsync("ping", "-c", "3", $"nfs://127.0.0.1/?netns={pair.A.Namespace.Name}");
        Assert.Equal(0, ping.ExitCode);
        Assert.Contains(pair.A.Namespace.Name, ping.Out);
        Assert.Contains("3 calls", ping.Out);
    }

    [Fact]
    public async Task Stats_json_lists_each_mount_with_namespace_and_per_procedure_counters()
    {
        var run = await RunAsync("--stats", "json", "cat", Url("/" + ServerPairContent.HelloFile));
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(pair.A.HelloText, run.Out);
        var mount = Assert.Single(JsonDocument.Parse(run.Err).RootElement.EnumerateArray().ToList());
        Assert.Equal(pair.A.Namespace.Name, mount.GetProperty("namespace").GetProperty("name").GetString());
        Assert.Equal("127.0.0.1:2049", mount.GetProperty("remoteAddress").GetString());
        var read = mount.GetProperty("procedures").EnumerateArray().Single(p => p.GetProperty("procedure").GetString() == "READ");
        Assert.True(read.GetProperty("calls").GetInt64() >= 1);
        Assert.True(read.GetProperty("bytesReceived").GetInt64() >= pair.A.HelloText.Length);
        // cat resolved one name (a LOOKUP cache miss) and opened it (GETATTR: open always asks the server).
        var volume = mount.GetProperty("volume");
        Assert.True(volume.GetProperty("id").GetInt64() > 0);
        Assert.Equal(1, volume.GetProperty("lookupMisses").GetInt64());
        Assert.True(volume.GetProperty("attributesCached").GetInt64() >= 2);

        var text = await RunAsync("--stats", "ls", Url("/"));
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("READDIRPLUS", text.Err);
        Assert.Matches(@"volume \d+ \(fsid [0-9a-f]+\): attribute cache \d+ hits, \d+ misses; lookup cache \d+ hits, \d+ misses", text.Err);
        Assert.Contains($"({pair.A.Namespace.Name})", text.Err);
    }

    [Fact]
    public async Task Symbolic_links_are_followed_by_cat_and_copied_as_links_by_cp_r_and_loops_end()
    {
        string name = $"links-{Guid.NewGuid():N}"[..14];
        string server = Path.Combine(pair.A.ExportDirectory, name);
        string local = Path.Combine(Path.GetTempPath(), $"nfsns-links-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(server, "sub"));
        await File.WriteAllTextAsync(Path.Combine(server, "sub", "b"), "content-b");
        File.CreateSymbolicLink(Path.Combine(server, "sub", "lf"), "b");
        File.CreateSymbolicLink(Path.Combine(server, "sub", "up"), "..");
        File.CreateSymbolicLink(Path.Combine(server, "subl"), "sub");
        File.CreateSymbolicLink(Path.Combine(server, "abs"), "/etc");
        File.CreateSymbolicLink(Path.Combine(server, "loop"), "loop");
        try
        {
            Assert.Equal("content-b", (await RunAsync("cat", Url($"/{name}/sub/lf"))).Out);
            Assert.Equal("content-b", (await RunAsync("cat", Url($"/{name}/subl/up/sub/b"))).Out);
            var absolute = await RunAsync("cat", Url($"/{name}/abs/passwd"));
            Assert.Equal(1, absolute.ExitCode);
            Assert.Contains("absolute path '/etc'", absolute.Err);
            var loop = await RunAsync("cat", Url($"/{name}/loop"));
            Assert.Equal(1, loop.ExitCode);
            Assert.Contains("too many levels of symbolic links", loop.Err);

            Directory.CreateDirectory(local);
            Assert.Equal(0, (await RunAsync("cp", "-r", Url($"/{name}/sub"), Path.Combine(local, "copy"))).ExitCode);
            Assert.Equal("b", new FileInfo(Path.Combine(local, "copy", "lf")).LinkTarget);
            Assert.Equal("..", new FileInfo(Path.Combine(local, "copy", "up")).LinkTarget);
            Assert.Equal("content-b", await File.ReadAllTextAsync(Path.Combine(local, "copy", "b")));

            // Uploading a local tree with a loop (up -> ..) copies the link, it does not recurse.
            Assert.Equal(0, (await RunAsync("cp", "-r", Path.Combine(local, "copy"), Url($"/{name}/back"))).ExitCode);
            Assert.Equal("..", new FileInfo(Path.Combine(server, "back", "up")).LinkTarget);
            Assert.Equal(3, Directory.GetFileSystemEntries(Path.Combine(server, "back")).Length);
        }
        finally
        {
            Directory.Delete(server, recursive: true);
            if (Directory.Exists(local)) Directory.Delete(local, recursive: true);
        }
    }

    [Fact]
    public async Task A_file_name_that_is_not_UTF8_can_be_listed_stated_and_removed()
    {
        string name = $"bytes-{Guid.NewGuid():N}"[..14];
        string server = Path.Combine(pair.A.ExportDirectory, name);
        Directory.CreateDirectory(server);
        try
        {
            var touch = await NfsNs.Peers.ProcessRunner.RunAsync("bash", ["-c", "touch \"$1/$(printf 'bad\\xff\\xfeutf8')\"", "sh", server], TimeSpan.FromSeconds(10));
            Assert.Equal(0, touch.ExitCode);
            await using var mount = await NfsNs.Client.NfsMount.MountAsync(Url($"/{name}"));
            var names = new List<string>();
            await foreach (var entry in mount.ListAsync(mount.PathInExport)) names.Add(entry.Name);
            string odd = Assert.Single(names, n => n is not ("." or ".."));
            Assert.Equal(new byte[] { 0x62, 0x61, 0x64, 0xFF, 0xFE, 0x75, 0x74, 0x66, 0x38 }, NfsNs.Xdr.XdrText.Encode(odd));

            var ls = await RunAsync("ls", "--json", Url($"/{name}"));
            Assert.Equal(0, ls.ExitCode);
            Assert.Single(JsonDocument.Parse(ls.Out).RootElement.EnumerateArray());
            await mount.GetAttributesAsync($"{mount.PathInExport}/{odd}");
            await mount.RemoveFileAsync($"{mount.PathInExport}/{odd}");
            Assert.Empty(Directory.GetFileSystemEntries(server));
        }
        finally
        {
            // Not Directory.Delete: .NET cannot name a file whose name is not UTF-8, so it would fail here whenever the
            // test failed before removing the file over NFS, hiding the test's own failure.
            await NfsNs.Peers.ProcessRunner.RunAsync("rm", ["-rf", "--", server], TimeSpan.FromSeconds(10));
        }
    }
}
