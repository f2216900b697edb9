using System.Net;
using System.Net.Sockets;

namespace NfsNs.Peers;

/// <summary>
/// The libnfs command-line tools (libnfs-utils 4.0: nfs-ls, nfs-cat, nfs-cp) as the reference client, run inside a
/// namespace. URLs look like <c>nfs://127.0.0.1/export/f</c>; NFSv3 by default, <c>?version=4</c> for 4.0,
/// <c>?uid=&amp;gid=</c> for credentials. Note that libnfs 4.0's NFSv4 writes of about 4000 bytes or more fail
/// inside libnfs itself: write with v3.
/// </summary>
public static class Libnfs
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The URL of <paramref name="pathInExport"/> on a <see cref="GaneshaServer"/>, with an optional query (no '?').</summary>
    public static string Url(string pathInExport = "", string? query = null) =>
        Compose(GaneshaServer.Address, pathInExport, query);

    /// <summary>The URL of <paramref name="pathInExport"/> on a server at <paramref name="server"/> exporting <c>/export</c>.</summary>
    public static string Url(IPAddress server, string pathInExport = "", string? query = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        return Compose(UrlHost(server), pathInExport, query);
    }

    /// <summary>An address as the host part of a URL (RFC 3986 section 3.2.2: an IPv6 literal goes in brackets).</summary>
    public static string UrlHost(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    private static string Compose(string host, string pathInExport, string? query)
    {
        string url = $"nfs://{host}{GaneshaServer.PseudoPath}";
        string path = pathInExport.TrimStart('/');
        if (path.Length > 0) url += "/" + path;
        return string.IsNullOrEmpty(query) ? url : $"{url}?{query}";
    }

    /// <summary><c>nfs-cat URL</c>: the file's content on stdout (meant for small files; copy big ones with <see cref="CpAsync"/>).</summary>
    public static Task<CommandResult> CatAsync(TestNamespace ns, string url, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        RunAsync(ns, "nfs-cat", [url], timeout, cancellationToken);

    /// <summary><c>nfs-ls [-R] URL</c>: one line per entry, like <c>ls -l</c>.</summary>
    public static Task<CommandResult> LsAsync(TestNamespace ns, string url, bool recursive = false, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        RunAsync(ns, "nfs-ls", recursive ? ["-R", url] : [url], timeout, cancellationToken);

    /// <summary><c>nfs-cp SOURCE DESTINATION</c>; either may be a URL. /dev/null is refused as destination: use /dev/shm.</summary>
    public static Task<CommandResult> CpAsync(TestNamespace ns, string source, string destination, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        RunAsync(ns, "nfs-cp", [source, destination], timeout, cancellationToken);

    private static Task<CommandResult> RunAsync(TestNamespace ns, string tool, string[] arguments, TimeSpan? timeout,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return ns.RunAsync(tool, arguments, timeout ?? DefaultTimeout, cancellationToken);
    }
}
