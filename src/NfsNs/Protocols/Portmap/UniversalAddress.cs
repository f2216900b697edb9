using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NfsNs.Protocols.Portmap;

/// <summary>
/// Universal addresses of rpcbind (RFC 1833 §2.1, RFC 5665 §5.2.3): the IP address in its usual text form followed
/// by the port as two decimal bytes, high first: <c>127.0.0.1.8.1</c> is port 2049 on 127.0.0.1, <c>::1.0.111</c>
/// is port 111 on ::1.
/// </summary>
public static class UniversalAddress
{
    public static string Format(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var address = endPoint.Address;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        // Universal addresses carry no IPv6 scope id.
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
            address = new IPAddress(address.GetAddressBytes());
        return $"{address}.{endPoint.Port >> 8}.{endPoint.Port & 0xFF}";
    }

    public static bool TryParse(string? text, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (string.IsNullOrEmpty(text)) return false;
        int low = text.LastIndexOf('.');
        if (low <= 0) return false;
        int high = text.LastIndexOf('.', low - 1);
        if (high <= 0) return false;
        if (!byte.TryParse(text.AsSpan(high + 1, low - high - 1), NumberStyles.None, CultureInfo.InvariantCulture, out byte portHigh) ||
            !byte.TryParse(text.AsSpan(low + 1), NumberStyles.None, CultureInfo.InvariantCulture, out byte portLow))
            return false;
        var host = text.AsSpan(0, high);
        // IPAddress.TryParse also takes legacy forms like "127.1"; a universal IPv4 address has exactly four parts.
        bool isIPv6 = host.Contains(':');
        if (!isIPv6 && host.Count('.') != 3) return false;
        if (!IPAddress.TryParse(host, out var address)) return false;
        if (address.AddressFamily != (isIPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork)) return false;
        endPoint = new IPEndPoint(address, (portHigh << 8) | portLow);
        return true;
    }

    public static IPEndPoint Parse(string text) =>
        TryParse(text, out var endPoint) ? endPoint : throw new FormatException($"'{text}' is not a universal address (h1.h2.h3.h4.p1.p2 or an IPv6 address followed by .p1.p2)");
}
