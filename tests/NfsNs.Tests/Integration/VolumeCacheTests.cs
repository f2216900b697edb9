using System.Diagnostics;
using System.Text;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nfs3;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The volume of issue 4: mounts of one file system through one namespace share one <see cref="NfsVolume"/>, whose
/// attribute and LOOKUP caches answer within nfs(5)'s timeouts, see this client's own changes at once, see changes made
/// on the server only once the timeouts expire, and revalidate on open (close-to-open). Against ganesha and the
/// embedded server; changes "on the server" are made directly in the exported directory.
/// </summary>
public abstract class VolumeCacheTests(IServerPairFixture pair)
{
    [Collection(GaneshaPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Ganesha(GaneshaPairFixture fixture) : VolumeCacheTests(fixture);

    [Collection(EmbeddedPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Embedded(EmbeddedPairFixture fixture) : VolumeCacheTests(fixture);

    /// <summary>
    /// Checks that rely on the cache still holding old attributes are made only this long after it was warmed, far
    /// within the 30 s timeout they use, so a slow machine skips them rather than failing them.
    /// </summary>
    private static readonly TimeSpan StaleCheckWindow = TimeSpan.FromSeconds(15);

    private static Task<NfsMount> MountAsync(NfsClientRegistry registry, NetworkNamespace ns, string path = "/export",
        Func<NfsMountOptions, NfsMountOptions>? configure = null)
    {
        var options = new NfsMountOptions { Host = "127.0.0.1", Path = path, Namespace = ns };
        return NfsMount.MountAsync(configure is null ? options : configure(options), registry);
    }

    private static long Calls(NfsMount mount, Nfs3Procedure procedure) =>
        mount.Server.Procedures.Where(p => p.Program == Nfs3.Program && p.Procedure == (uint)procedure).Sum(p => p.Calls);

    private static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private static async Task<string> ReadAllAsync(NfsMount mount, string path)
    {
        await using var file = await mount.OpenReadAsync(path);
        using var reader = new StreamReader(file, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private static async Task WriteAsync(NfsMount mount, string path, string text, FileMode mode = FileMode.Create)
    {
        await using var file = await mount.OpenWriteAsync(path, mode);
        await file.WriteAsync(Encoding.UTF8.GetBytes(text));
    }

    [Fact]
    public async Task Mounts_through_one_namespace_share_a_volume_and_see_each_other_s_changes_at_once()
    {
        var registry = new NfsClientRegistry();
        using var nsA = NetworkNamespace.Open(pair.A.Namespace.Path);
        using var nsB = NetworkNamespace.Open(pair.B.Namespace.Path);
        await using var first = await MountAsync(registry, nsA);
        await using var second = await MountAsync(registry, nsA, $"/export/{ServerPairContent.Subdirectory}");
        await using var other = await MountAsync(registry, nsB);

        Assert.Same(first.Volume, second.Volume);
        Assert.NotSame(first.Volume, other.Volume);
        Assert.Equal(2, registry.Volumes.Count);
        var table = registry.MountTable();
        Assert.Equal(first.Volume.Id, Assert.Single(table, r => r.MountId == first.MountId).Volume);
        Assert.Equal(first.Volume.Id, Assert.Single(table, r => r.MountId == second.MountId).Volume);
        Assert.Equal(other.Volume.Id, Assert.Single(table, r => r.MountId == other.MountId).Volume);

        string dir = $"/{ServerPairContent.Subdirectory}";
        string name = $"{dir}/{UniqueName("shared")}";
        string created = $"{dir}/{UniqueName("created")}";
        string renamed = $"{dir}/{UniqueName("renamed")}";
        try
        {
            // Written through the first: the second, whose cache holds the file's attributes, sees every change at
            // once; the default timeouts (3 s for files, 30 s for directories) are nowhere near over.
            await WriteAsync(first, name, "one");
            Assert.Equal(3ul, (await second.GetAttributesAsync(name)).Size);
            Assert.Equal(3ul, (await second.GetAttributesAsync(name)).Size);
            await WriteAsync(first, name, " two", FileMode.Append);
            Assert.Equal(7ul, (await second.GetAttributesAsync(name)).Size);
            Assert.Equal("one two", await ReadAllAsync(second, name));

            // Names: a new one is found, a removed or renamed one is gone, though the directory's names are cached.
            var noSuchFile = await Assert.ThrowsAsync<Nfs3Exception>(() => second.GetAttributesAsync(created));
            Assert.Equal(Nfs3Status.NoEnt, noSuchFile.Status);
            await WriteAsync(first, created, "new");
            Assert.Equal(3ul, (await second.GetAttributesAsync(created)).Size);
            await first.RenameAsync(created, renamed);
            Assert.Equal(Nfs3Status.NoEnt, (await Assert.ThrowsAsync<Nfs3Exception>(() => second.GetAttributesAsync(created))).Status);
            Assert.Equal(3ul, (await second.GetAttributesAsync(renamed)).Size);
            await first.RemoveFileAsync(renamed);
            Assert.Equal(Nfs3Status.NoEnt, (await Assert.ThrowsAsync<Nfs3Exception>(() => second.GetAttributesAsync(renamed))).Status);

            // Through B: another volume, B's content, none of A's files.
            Assert.Equal(pair.B.HelloText, await ReadAllAsync(other, "/" + ServerPairContent.HelloFile));
            Assert.Equal(Nfs3Status.NoEnt, (await Assert.ThrowsAsync<Nfs3Exception>(() => other.GetAttributesAsync(name))).Status);
            Assert.Equal(pair.A.HelloText, await ReadAllAsync(first, "/" + ServerPairContent.HelloFile));

            var rowA = Assert.Single(registry.MountTable(), r => r.MountId == first.MountId);
            Assert.True(rowA.Cache.AttributeHits > 0 && rowA.Cache.LookupHits > 0, $"hits: {rowA.Cache}");
            Assert.Equal(first.Volume.Fsid, rowA.Fsid);
        }
        finally
        {
            File.Delete(Path.Combine(pair.A.ExportDirectory, name.TrimStart('/')));
        }

        // The last mount of a file system drops its volume.
        await second.DisposeAsync();
        Assert.Equal(2, registry.Volumes.Count);
        await first.DisposeAsync();
        Assert.Same(other.Volume, Assert.Single(registry.Volumes));
    }

    [Fact]
    public async Task Repeated_questions_within_the_timeouts_go_to_the_server_once_and_with_noac_every_time()
    {
        using var ns = NetworkNamespace.Open(pair.A.Namespace.Path);
        string path = $"/{ServerPairContent.Subdirectory}/{ServerPairContent.SubdirectoryFile}";
        const int Rounds = 10;

        var cachedRegistry = new NfsClientRegistry();
        await using (var cached = await MountAsync(cachedRegistry, ns, configure: o => o with { AcRegMin = TimeSpan.FromSeconds(30), AcDirMin = TimeSpan.FromSeconds(30) }))
        {
            await cached.GetAttributesAsync(path);
            await cached.LookupAsync(path, followLast: true);
            long getattrs = Calls(cached, Nfs3Procedure.GetAttr), lookups = Calls(cached, Nfs3Procedure.Lookup);
            var before = cached.Volume.Stats;
            for (int i = 0; i < Rounds; i++)
            {
                Assert.Equal((ulong)$"inner {pair.A.Label}\n".Length, (await cached.GetAttributesAsync(path)).Size);
                await cached.LookupAsync(path, followLast: true);
                await cached.GetAttributesAsync("/");
            }
            Assert.Equal(getattrs, Calls(cached, Nfs3Procedure.GetAttr));
            Assert.Equal(lookups, Calls(cached, Nfs3Procedure.Lookup));
            var after = cached.Volume.Stats;
            Assert.Equal(2 * Rounds, after.AttributeHits - before.AttributeHits);
            Assert.Equal(4 * Rounds, after.LookupHits - before.LookupHits);
            Assert.Equal(before.AttributeMisses, after.AttributeMisses);
            Assert.Equal(before.LookupMisses, after.LookupMisses);
        }

        foreach (var configure in new Func<NfsMountOptions, NfsMountOptions>[] { o => o with { NoAc = true }, o => o with { AcRegMin = TimeSpan.Zero, AcRegMax = TimeSpan.Zero, AcDirMin = TimeSpan.Zero, AcDirMax = TimeSpan.Zero } })
        {
            await using var uncached = await MountAsync(new NfsClientRegistry(), ns, configure: configure);
            await uncached.GetAttributesAsync(path);
            long getattrs = Calls(uncached, Nfs3Procedure.GetAttr), lookups = Calls(uncached, Nfs3Procedure.Lookup);
            for (int i = 0; i < Rounds; i++) await uncached.GetAttributesAsync(path);
            // Each time: LOOKUP "dir", LOOKUP "inner.txt" (whose reply carries its attributes), then GETATTR anyway.
            Assert.Equal(getattrs + Rounds, Calls(uncached, Nfs3Procedure.GetAttr));
            Assert.Equal(lookups + 2 * Rounds, Calls(uncached, Nfs3Procedure.Lookup));
            Assert.Equal(0, uncached.Volume.Stats.AttributeHits + uncached.Volume.Stats.LookupHits);
        }
    }

    [Fact]
    public async Task A_change_made_on_the_server_is_unseen_within_the_timeout_and_seen_after_it()
    {
        var registry = new NfsClientRegistry();
        using var ns = NetworkNamespace.Open(pair.A.Namespace.Path);
        string grown = UniqueName("grown"), replaced = UniqueName("replaced"), removed = UniqueName("removed");
        string ServerPath(string name) => Path.Combine(pair.A.ExportDirectory, name);
        await File.WriteAllTextAsync(ServerPath(grown), "12345");
        await File.WriteAllTextAsync(ServerPath(replaced), "old");
        await File.WriteAllTextAsync(ServerPath(removed), "doomed");
        try
        {
            // Two mounts of one volume with different timeouts: freshness is the asking mount's business.
            await using var slow = await MountAsync(registry, ns, configure: o => o with { AcRegMin = TimeSpan.FromSeconds(30), AcRegMax = TimeSpan.FromSeconds(30), AcDirMin = TimeSpan.FromSeconds(30), AcDirMax = TimeSpan.FromSeconds(30) });
            await using var fast = await MountAsync(registry, ns, configure: o => o with { AcRegMin = TimeSpan.FromSeconds(1), AcRegMax = TimeSpan.FromSeconds(1), AcDirMin = TimeSpan.FromSeconds(1), AcDirMax = TimeSpan.FromSeconds(1) });
            Assert.Same(slow.Volume, fast.Volume);
            var warmed = Stopwatch.StartNew();
            var oldReplaced = await slow.GetAttributesAsync(replaced);
            Assert.Equal(5ul, (await slow.GetAttributesAsync(grown)).Size);
            Assert.Equal(6ul, (await slow.GetAttributesAsync(removed)).Size);

            await File.AppendAllTextAsync(ServerPath(grown), "67890");
            await File.WriteAllTextAsync(ServerPath(replaced + ".tmp"), "new content");
            File.Move(ServerPath(replaced + ".tmp"), ServerPath(replaced), overwrite: true);
            File.Delete(ServerPath(removed));

            if (warmed.Elapsed < StaleCheckWindow)
            {
                // Within the timeout the cache answers, and it has not heard of the changes: it is really used.
                Assert.Equal(5ul, (await slow.GetAttributesAsync(grown)).Size);
                Assert.Equal(oldReplaced.FileId, (await slow.GetAttributesAsync(replaced)).FileId);
                Assert.Equal(6ul, (await slow.GetAttributesAsync(removed)).Size);
            }

            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.Equal(10ul, (await fast.GetAttributesAsync(grown)).Size);
            var newReplaced = await fast.GetAttributesAsync(replaced);
            Assert.NotEqual(oldReplaced.FileId, newReplaced.FileId);
            Assert.Equal(11ul, newReplaced.Size);
            Assert.Equal(Nfs3Status.NoEnt, (await Assert.ThrowsAsync<Nfs3Exception>(() => fast.GetAttributesAsync(removed))).Status);
            Assert.Equal("new content", await ReadAllAsync(fast, replaced));
        }
        finally
        {
            foreach (string name in new[] { grown, replaced, replaced + ".tmp", removed }) File.Delete(ServerPath(name));
        }
    }

    [Fact]
    public async Task Opening_a_file_asks_the_server_so_a_warm_cache_reads_what_the_server_has_now()
    {
        var registry = new NfsClientRegistry();
        using var ns = NetworkNamespace.Open(pair.A.Namespace.Path);
        string inPlace = UniqueName("cto"), replaced = UniqueName("cto-replaced");
        string ServerPath(string name) => Path.Combine(pair.A.ExportDirectory, name);
        await File.WriteAllTextAsync(ServerPath(inPlace), "version one");
        await File.WriteAllTextAsync(ServerPath(replaced), "first file");
        try
        {
            await using var mount = await MountAsync(registry, ns, configure: o => o with { AcRegMin = TimeSpan.FromSeconds(30), AcRegMax = TimeSpan.FromSeconds(30), AcDirMin = TimeSpan.FromSeconds(30), AcDirMax = TimeSpan.FromSeconds(30) });
            var warmed = Stopwatch.StartNew();
            Assert.Equal("version one", await ReadAllAsync(mount, inPlace));
            Assert.Equal("first file", await ReadAllAsync(mount, replaced));
            Assert.Equal(11ul, (await mount.GetAttributesAsync(inPlace)).Size);

            await File.WriteAllTextAsync(ServerPath(inPlace), "version two, longer");
            await File.WriteAllTextAsync(ServerPath(replaced + ".tmp"), "second file, another inode");
            File.Move(ServerPath(replaced + ".tmp"), ServerPath(replaced), overwrite: true);
            if (warmed.Elapsed < StaleCheckWindow)
                Assert.Equal(11ul, (await mount.GetAttributesAsync(inPlace)).Size); // the cache is warm and stale

            long getattrs = Calls(mount, Nfs3Procedure.GetAttr);
            await using (var file = await mount.OpenReadAsync(inPlace))
            {
                Assert.Equal(19, file.Length);
                Assert.Equal("version two, longer", await new StreamReader(file).ReadToEndAsync());
            }
            Assert.True(Calls(mount, Nfs3Procedure.GetAttr) > getattrs, "open sent a GETATTR");
            // What the open fetched replaced the stale attributes for everyone.
            Assert.Equal(19ul, (await mount.GetAttributesAsync(inPlace)).Size);

            // The cached name still leads to the first file, now unlinked on the server (stale, or link count 0):
            // the open looks the path up again and reads the file that has the name now.
            Assert.Equal("second file, another inode", await ReadAllAsync(mount, replaced));
        }
        finally
        {
            foreach (string name in new[] { inPlace, replaced, replaced + ".tmp" }) File.Delete(ServerPath(name));
        }
    }

    [Fact]
    public async Task Nocto_opens_from_fresh_cached_attributes_without_a_GETATTR()
    {
        using var ns = NetworkNamespace.Open(pair.A.Namespace.Path);
        string path = "/" + ServerPairContent.HelloFile;
        foreach (bool nocto in new[] { false, true })
        {
            await using var mount = await MountAsync(new NfsClientRegistry(), ns, configure: o => o with { NoCto = nocto, AcRegMin = TimeSpan.FromSeconds(30) });
            await mount.GetAttributesAsync(path);
            long getattrs = Calls(mount, Nfs3Procedure.GetAttr);
            await using (var file = await mount.OpenReadAsync(path))
                Assert.Equal(pair.A.HelloText.Length, file.Length);
            Assert.Equal(getattrs + (nocto ? 0 : 1), Calls(mount, Nfs3Procedure.GetAttr));
        }
    }
}
