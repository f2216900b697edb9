using System.Net;
using NfsNs.Protocols.Portmap;

namespace NfsNs.Tests.Unit;

public class UniversalAddressTests
{
    [Theory]
    [InlineData("127.0.0.1", 2049, "127.0.0.1.8.1")]
    [InlineData("10.1.2.3", 111, "10.1.2.3.0.111")]
    [InlineData("::1", 20048, "::1.78.80")]
    [InlineData("fe80::1", 65535, "fe80::1.255.255")]
    public void Format_and_parse_round_trip(string address, int port, string universal)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(address), port);
        Assert.Equal(universal, UniversalAddress.Format(endPoint));
        Assert.Equal(endPoint, UniversalAddress.Parse(universal));
    }

    [Fact]
    public void IPv4_mapped_and_scoped_addresses_are_written_plainly()
    {
        Assert.Equal("127.0.0.1.0.111", UniversalAddress.Format(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), 111)));
        Assert.Equal("fe80::1.0.111", UniversalAddress.Format(new IPEndPoint(IPAddress.Parse("fe80::1%2"), 111)));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("::ffff:127.0.0.1"), 2049), UniversalAddress.Parse("::ffff:127.0.0.1.8.1"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1.8")]
    [InlineData("127.1.8.1")]
    [InlineData("127.0.0.1.256.1")]
    [InlineData("127.0.0.1.8.-1")]
    [InlineData("127.0.0.1.8.+1")]
    [InlineData("127.0.0.1. 8.1")]
    [InlineData("host.example.8.1")]
    [InlineData("::1.8")]
    [InlineData("1.2.3.4.5.8.1")]
    public void Invalid_forms_are_refused(string text)
    {
        Assert.False(UniversalAddress.TryParse(text, out _));
        Assert.Throws<FormatException>(() => UniversalAddress.Parse(text));
    }
}
