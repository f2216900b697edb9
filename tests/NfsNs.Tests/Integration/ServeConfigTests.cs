using System.Diagnostics;
using System.Globalization;
using System.Text;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Portmap;
using NfsNs.Server;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// Exports from a file (two exports, one in memory, one a directory) and registration with a real rpcbind running in
/// the server's namespace instead of the embedded portmapper — in process and through <c>nfsns serve</c>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ServeConfigTests
{
    private static async Task WriteAsync(NfsMount mount, string path, string text)
    {
        await using var file = await mount.OpenWriteAsync(path);
        await file.WriteAsync(Encoding.UTF8.GetBytes(text));
    }

    private static async Task<string> ReadAsync(NfsMount mount, string path)
    {
        await using var file = await mount.OpenReadAsync(path);
        return await new StreamReader(file).ReadToEndAsync();
    }

    /// <summary>A directory with one file "hello" and an exports file serving it read-only at /data and memory at /mem.</summary>
    private static string WriteExportsFile(TestNamespace ns)
    {
        string data = Path.Combine(ns.StateDirectory, "data");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "hello"), "from the directory");
        string file = Path.Combine(ns.StateDirectory, "exports");
        File.WriteAllText(file, $"""
            # two exports
            /mem    memory    rw,squash=none
            /data   {data}    ro,squash=none,allow=127.0.0.0/8
            """);
        return file;
    }

    private static async Task AssertBothExportsServeAsync(string netns)
    {
        await using (var memory = await NfsMount.MountAsync($"nfs://127.0.0.1/mem?netns={netns}"))
        {
            await WriteAsync(memory, "note", "in memory");
            Assert.Equal("in memory", await ReadAsync(memory, "note"));
        }
        await using var directory = await NfsMount.MountAsync($"nfs://127.0.0.1/data?netns={netns}");
        Assert.Equal("from the directory", await ReadAsync(directory, "hello"));
        var readOnly = await Assert.ThrowsAsync<Nfs3Exception>(() => WriteAsync(directory, "new", "refused"));
        Assert.Equal(Nfs3Status.RoFs, readOnly.Status);
    }

    [Fact]
    public async Task Two_exports_from_a_file_are_both_mountable()
    {
        IReadOnlyList<NfsExportsFileEntry> entries = [];
        await using var host = await EmbeddedServerHost.StartAsync("emb-file", ns =>
        {
            entries = NfsExportsFile.Load(WriteExportsFile(ns));
            return entries.Select(e => e.CreateExport()).ToList();
        });
        Assert.Equal(["/mem", "/data"], host.Server.Exports.Select(e => e.Path));
        Assert.Equal(entries.Select(e => e.ExportId), host.Server.Exports.Select(e => e.ExportId));
        await AssertBothExportsServeAsync(host.Namespace.Name);
    }

    [Fact]
    public async Task External_rpcbind_lists_nfs_and_mountd_serves_clients_and_forgets_them_after_stop()
    {
        await using var ns = await TestNamespace.CreateAsync("emb-rpcb");
        await using var rpcbind = await RpcbindDaemon.StartAsync(ns);
        using var handle = NetworkNamespace.Open(ns.Name);
        var export = EmbeddedServerHost.MemoryExport();
        var log = new List<string>();
        try
        {
            var server = await NfsServer.StartAsync(new NfsServerOptions
            {
                Namespace = handle,
                Exports = [export],
                Rpcbind = RpcbindMode.External,
                Log = line => { lock (log) log.Add(line); },
            });
            await using (server)
            {
                Assert.Null(server.PortmapEndPoint);
                Assert.Equal("rpcbind v4", server.RpcbindRegistration?.Protocol);
                string listed = await rpcbind.ListAsync();
                Assert.Matches(@"100003\s+3\s+tcp\s+2049\s+nfs", listed);
                Assert.Matches(@"100005\s+3\s+tcp\s+20048\s+mountd", listed);
                Assert.True(await rpcbind.AnswersAsync(100005, 3));

                // The client finds MOUNT (and checks NFS) through the real rpcbind.
                await using var mount = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}");
                await WriteAsync(mount, "f", "registered with the namespace's rpcbind");
                Assert.Equal("registered with the namespace's rpcbind", await ReadAsync(mount, "f"));
            }
            string after = await rpcbind.ListAsync();
            Assert.DoesNotContain("100003", after, StringComparison.Ordinal);
            Assert.DoesNotContain("100005", after, StringComparison.Ordinal);
            lock (log) Assert.Contains(log, line => line.Contains("unregistered from rpcbind at 127.0.0.1:111", StringComparison.Ordinal));
        }
        finally
        {
            (export.Backend as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public async Task External_rpcbind_missing_fails_the_start_and_leaves_nothing_listening()
    {
        await using var ns = await TestNamespace.CreateAsync("emb-norpcb");
        using var handle = NetworkNamespace.Open(ns.Name);
        var export = EmbeddedServerHost.MemoryExport();
        try
        {
            var error = await Assert.ThrowsAsync<RpcbindRegistrationException>(() => NfsServer.StartAsync(new NfsServerOptions
            {
                Namespace = handle,
                Exports = [export],
                Rpcbind = RpcbindMode.External,
            }));
            Assert.Contains($"cannot register with the rpcbind at 127.0.0.1:111 in namespace", error.Message, StringComparison.Ordinal);

            // The ports were released: an embedded server starts on them at once.
            await using var server = await NfsServer.StartAsync(new NfsServerOptions { Namespace = handle, Exports = [export] });
            Assert.NotNull(server.PortmapEndPoint);
        }
        finally
        {
            (export.Backend as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public async Task Serve_command_with_an_exports_file_registers_with_the_external_rpcbind()
    {
        await using var ns = await TestNamespace.CreateAsync("emb-clif");
        await using var rpcbind = await RpcbindDaemon.StartAsync(ns);
        string exportsFile = WriteExportsFile(ns);
        // The handle secret of the directory goes under the namespace's state directory, removed with it.
        await using var serve = await ServeProcess.StartAsync(
            ["serve", "--exports", exportsFile, "--rpcbind", "external", "--netns", ns.Name], "serving /mem",
            new Dictionary<string, string> { ["XDG_STATE_HOME"] = Path.Combine(ns.StateDirectory, "state") });
        Assert.Contains("registered with rpcbind at 127.0.0.1:111", serve.Log, StringComparison.Ordinal);
        Assert.True(await rpcbind.AnswersAsync(100003, 3));
        await AssertBothExportsServeAsync(ns.Name);

        await serve.StopAsync();
        Assert.True(serve.ExitCode is 0 or 143, $"exit {serve.ExitCode}; stderr: {serve.Log}");
        Assert.DoesNotContain("100003", await rpcbind.ListAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_command_reports_the_exports_file_line_of_an_error()
    {
        string directory = Directory.CreateTempSubdirectory("nfsns-exports-").FullName;
        try
        {
            string file = Path.Combine(directory, "exports");
            File.WriteAllText(file, "/a memory ro\n/b memory rw,bogus\n");
            var result = await ProcessRunner.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll"), "serve", "--exports", file],
                TimeSpan.FromSeconds(60));
            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"{file}:2: unknown option 'bogus'", result.Stderr, StringComparison.Ordinal);

            var both = await ProcessRunner.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "NfsNs.Cli.dll"), "serve", "--exports", file, "--memory"],
                TimeSpan.FromSeconds(60));
            Assert.Equal(2, both.ExitCode);
            Assert.Contains("--exports FILE replaces DIR", both.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
