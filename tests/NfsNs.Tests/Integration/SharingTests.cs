using System.Text;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Protocols.Nfs3;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Integration;

/// <summary>
/// N6 of shared/cases/namespaces.md: mounts of one server through one namespace share one connection; the same
/// address through another namespace shares nothing. Also the mount table's view of it. Against ganesha and the
/// embedded server.
/// </summary>
public abstract class SharingTests(IServerPairFixture pair)
{
    [Collection(GaneshaPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Ganesha(GaneshaPairFixture fixture) : SharingTests(fixture);

    [Collection(EmbeddedPairCollection.Name)]
    [Trait("Category", "Integration")]
    public sealed class Embedded(EmbeddedPairFixture fixture) : SharingTests(fixture);

    private static async Task<int> EstablishedNfsConnectionsAsync(IServerSide side)
    {
        var result = await side.Namespace.RunAsync("ss", "-Htn", "state", "established", "( dport = :2049 )");
        Assert.Equal(0, result.ExitCode);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    private static Task<NfsMount> MountAsync(NfsClientRegistry registry, IServerSide side, NetworkNamespace ns, string path = "/export") =>
        NfsMount.MountAsync(new NfsMountOptions { Host = "127.0.0.1", Path = path, Namespace = ns }, registry);

    [Fact]
    public async Task N6_sharing_within_a_namespace_never_across()
    {
        var registry = new NfsClientRegistry();
        using var nsA = NetworkNamespace.Open(pair.A.Namespace.Path);
        using var nsB = NetworkNamespace.Open(pair.B.Namespace.Path);
        // Two names for one namespace share too: identity is the inode, not the name. The second name is the
        // server process's (pid:N), or for an in-process server /proc/self/fd/N of a second handle.
        using var nsAOtherName = pair.A.ProcessIdInside is { } pid ? NetworkNamespace.Open($"pid:{pid}") : nsA.Clone();

        await using var first = await MountAsync(registry, pair.A, nsA);
        await using var second = await MountAsync(registry, pair.A, nsAOtherName, $"/export/{ServerPairContent.Subdirectory}");
        await using var other = await MountAsync(registry, pair.B, nsB);

        Assert.Same(first.Server, second.Server);
        Assert.NotSame(first.Server, other.Server);
        Assert.Equal(2, registry.Connections.Count);
        Assert.Equal(1, await EstablishedNfsConnectionsAsync(pair.A));
        Assert.Equal(1, await EstablishedNfsConnectionsAsync(pair.B));

        // A change through one mount is visible through the other at once (no attribute-timeout wait).
        string name = $"n6-{Guid.NewGuid():N}"[..11];
        await using (var file = await first.OpenWriteAsync($"/{ServerPairContent.Subdirectory}/{name}"))
            await file.WriteAsync(Encoding.UTF8.GetBytes("shared"));
        Assert.Equal($"/{ServerPairContent.Subdirectory}", second.PathInExport);
        Assert.Equal(6UL, (await second.GetAttributesAsync($"{second.PathInExport}/{name}")).Size);
        await Assert.ThrowsAsync<Nfs3Exception>(() => other.GetAttributesAsync($"/{ServerPairContent.Subdirectory}/{name}"));

        var table = registry.MountTable();
        Assert.Equal(3, table.Count);
        var rowsA = table.Where(r => r.NamespaceInode == nsA.Id.Inode).ToList();
        Assert.Equal(2, rowsA.Count);
        Assert.Single(rowsA.Select(r => r.SharingGroup).Distinct());
        Assert.All(rowsA, r => Assert.Equal(2, r.MountsInGroup));
        Assert.All(rowsA, r => Assert.Equal(pair.A.Namespace.Name, r.NamespaceName ?? pair.A.Namespace.Name));
        var rowB = Assert.Single(table, r => r.NamespaceInode == nsB.Id.Inode);
        Assert.NotEqual(rowsA[0].SharingGroup, rowB.SharingGroup);
        Assert.Equal("127.0.0.1:2049", rowB.RemoteAddress);
        Assert.NotNull(rowB.LocalAddress);
        var write = Assert.Single(rowsA[0].Procedures, p => p.Procedure == (uint)Nfs3Procedure.Write);
        Assert.True(write.Calls >= 1 && write.BytesSent >= 6);
        // The NOENT LOOKUP through B counted as an error on B's connection only.
        Assert.True(rowB.Procedures.Single(p => p.Procedure == (uint)Nfs3Procedure.Lookup).Errors >= 1);
        Assert.Equal(0, rowsA[0].Procedures.Single(p => p.Procedure == (uint)Nfs3Procedure.Lookup).Errors);

        await first.DisposeAsync();
        Assert.Equal(1, await EstablishedNfsConnectionsAsync(pair.A));
        await second.DisposeAsync();
        Assert.Single(registry.Connections);
        for (int i = 0; i < 50 && await EstablishedNfsConnectionsAsync(pair.A) > 0; i++) await Task.Delay(20);
        Assert.Equal(0, await EstablishedNfsConnectionsAsync(pair.A));
        Assert.Single(registry.MountTable());
    }

    [Fact]
    public async Task Nconnect_spreads_calls_over_N_connections_of_one_sharing_group()
    {
        var registry = new NfsClientRegistry();
        using var nsA = NetworkNamespace.Open(pair.A.Namespace.Path);
        string name = $"nconnect-{Guid.NewGuid():N}"[..17];
        var data = System.Security.Cryptography.RandomNumberGenerator.GetBytes(8 << 20);
        await File.WriteAllBytesAsync(Path.Combine(pair.A.ExportDirectory, name), data);
        try
        {
            var options = new NfsMountOptions { Host = "127.0.0.1", Path = "/export", Namespace = nsA, NConnect = 3 };
            await using var first = await NfsMount.MountAsync(options, registry);
            await using var second = await NfsMount.MountAsync(options, registry);
            await using var single = await NfsMount.MountAsync(options with { NConnect = 1 }, registry);
            Assert.Same(first.Server, second.Server);
            Assert.NotSame(first.Server, single.Server); // another nconnect is another sharing group

            var copy = new MemoryStream();
            await using (var file = await first.OpenReadAsync(name))
                await file.CopyToAsync(copy);
            Assert.Equal(data, copy.ToArray());
            Assert.Equal(4, await EstablishedNfsConnectionsAsync(pair.A)); // 3 + the nconnect=1 group's one
            Assert.All(first.Server.Transports, t => Assert.True(t.Stats.Calls > 0, "every transport carried calls"));

            var row = Assert.Single(registry.MountTable(), r => r.MountId == first.MountId);
            Assert.Equal(3, row.Connections);
            var reads = Assert.Single(row.Procedures, p => p.Procedure == (uint)Nfs3Procedure.Read);
            Assert.Equal(first.Server.Transports.Sum(t => t.Stats.Procedures.Where(p => p.Procedure == (uint)Nfs3Procedure.Read).Sum(p => p.Calls)), reads.Calls);
        }
        finally
        {
            File.Delete(Path.Combine(pair.A.ExportDirectory, name));
        }
    }
}
