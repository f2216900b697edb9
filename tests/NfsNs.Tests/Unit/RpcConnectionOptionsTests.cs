using NfsNs.Rpc;

namespace NfsNs.Tests.Unit;

public class RpcConnectionOptionsTests
{
    [Fact]
    public void Defaults_follow_mount_8_for_tcp()
    {
        var options = RpcConnectionOptions.Default;
        Assert.Equal(TimeSpan.FromSeconds(60), options.Timeout);
        Assert.Equal(2, options.Retransmits);
        Assert.True(options.Hard);
        Assert.Equal(64, options.MaxInFlight);
        Assert.True(options.Reconnect);
    }

    [Fact]
    public void Retransmit_timeout_grows_linearly_up_to_600_seconds()
    {
        var options = new RpcConnectionOptions { Timeout = TimeSpan.FromSeconds(60) };
        Assert.Equal(TimeSpan.FromSeconds(60), options.RetransmitTimeout(0));
        Assert.Equal(TimeSpan.FromSeconds(120), options.RetransmitTimeout(1));
        Assert.Equal(TimeSpan.FromSeconds(540), options.RetransmitTimeout(8));
        Assert.Equal(TimeSpan.FromSeconds(600), options.RetransmitTimeout(9));
        Assert.Equal(TimeSpan.FromSeconds(600), options.RetransmitTimeout(int.MaxValue));
    }

    [Fact]
    public void Nonsense_options_are_refused_by_the_connection()
    {
        var sockets = Support.TestSockets.ProcessNamespace;
        var endPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 2049);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcConnection(sockets, endPoint, new() { Timeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcConnection(sockets, endPoint, new() { Retransmits = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcConnection(sockets, endPoint, new() { MaxInFlight = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcConnection(sockets, endPoint, new() { MaxRecordSize = 10 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RpcConnection(sockets, endPoint,
            new() { ReconnectDelay = TimeSpan.FromSeconds(2), MaxReconnectDelay = TimeSpan.FromSeconds(1) }));
    }
}
