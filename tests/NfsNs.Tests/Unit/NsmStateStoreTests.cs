using NfsNs.Protocols.Nsm;

namespace NfsNs.Tests.Unit;

public sealed class NsmStateStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"nfsns-nsm-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void State_is_odd_after_every_restart_and_survives_reopening()
    {
        var store = NsmStateStore.Open(_directory);
        Assert.Equal(0, store.State);
        Assert.Equal(1, store.Restart());
        Assert.Equal(3, store.Restart());
        var reopened = NsmStateStore.Open(_directory);
        Assert.Equal(3, reopened.State);
        Assert.Equal(5, reopened.Restart());
        // A state left even (a peer's "down" number written by hand) moves to the next odd one.
        File.WriteAllText(Path.Combine(_directory, "state"), "8\n");
        Assert.Equal(9, NsmStateStore.Open(_directory).Restart());
    }

    [Fact]
    public void Monitored_peers_round_trip_and_hostile_names_stay_inside()
    {
        var store = NsmStateStore.Open(_directory);
        store.AddMonitored("10.0.0.3", 7);
        store.AddMonitored("../../etc/passwd");
        store.AddMonitored("fe80::1");
        Assert.Equal([("../../etc/passwd", 0), ("10.0.0.3", 7), ("fe80::1", 0)], store.Monitored);
        Assert.All(Directory.EnumerateFiles(_directory, "*", SearchOption.AllDirectories),
            f => Assert.StartsWith(_directory, Path.GetFullPath(f)));
        store.RemoveMonitored("10.0.0.3");
        Assert.Equal(["../../etc/passwd", "fe80::1"], NsmStateStore.Open(_directory).Monitored.Select(m => m.Peer));
    }

    [Fact]
    public void A_corrupt_state_file_is_a_clear_error()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(Path.Combine(_directory, "state"), "garbage");
        var e = Assert.Throws<InvalidDataException>(() => NsmStateStore.Open(_directory));
        Assert.Contains("\"garbage\", not a state number", e.Message);
    }

    [Fact]
    public void Default_directory_is_per_role_and_namespace()
    {
        string a = NsmStateStore.DefaultDirectory("client", "tenant-a", 4026531840);
        string b = NsmStateStore.DefaultDirectory("client", null, 4026531999);
        Assert.EndsWith("/nsm/client/tenant-a", a);
        Assert.EndsWith("/nsm/client/inode-4026531999", b);
        Assert.EndsWith("/nsm/server/%2E.", NsmStateStore.DefaultDirectory("server", "..", 1));
    }
}
