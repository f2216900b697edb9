using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace NfsNs.Client;

/// <summary>The RPC security flavor a mount uses (<c>auth=</c> in a URL).</summary>
public enum NfsAuthFlavor
{
    /// <summary>AUTH_SYS (RFC 5531 appendix A): numeric uid and gids. The default.</summary>
    Sys,

    /// <summary>AUTH_NONE: the server maps the caller to its anonymous user.</summary>
    None,
}

/// <summary>
/// An NFS URL in libnfs's form, parsed and checked:
/// <c>nfs://[user@]host[:port]/path?version=3&amp;uid=N&amp;gid=N&amp;nfsport=N&amp;mountport=N&amp;nlmport=N&amp;timeo=N&amp;retrans=N&amp;soft&amp;hard&amp;rsize=N&amp;wsize=N&amp;auth=sys|none&amp;nconnect=N&amp;actimeo=N&amp;acregmin=N&amp;acregmax=N&amp;acdirmin=N&amp;acdirmax=N&amp;noac&amp;nocto&amp;netns=NAME|PATH|pid:N</c>.
/// </summary>
/// <remarks>
/// The URL is split into scheme, authority, path and query first, and percent-escapes are decoded afterwards, one
/// path segment or query item at a time (RFC 3986 §2.4), so <c>a%3Fb</c> names the file <c>a?b</c> and never starts
/// a query. A <c>+</c> in the query is a plus sign, not a space. IPv6 literals are written in brackets (RFC 3986
/// §3.2.2) and stored without them. Values are checked when set, also through <c>with</c>; settings that are
/// absent are <c>null</c> and left to the client's defaults. <see cref="ToString"/> gives a canonical URL that
/// parses back to an equal value.
/// </remarks>
public sealed record NfsUrl : IParsable<NfsUrl>
{
    public const string Scheme = "nfs";

    /// <summary>Longer input is refused before any work is done on it.</summary>
    public const int MaxLength = 8192;

    /// <summary>The only protocol version this library speaks so far.</summary>
    public const int SupportedVersion = 3;

    /// <summary>The query arguments a URL may carry, in the order <see cref="ToString"/> writes them.</summary>
    public static IReadOnlyList<string> KnownArguments { get; } =
        ["version", "nfsport", "mountport", "nlmport", "uid", "gid", "auth", "timeo", "retrans", "soft", "hard", "rsize", "wsize", "nconnect",
         "actimeo", "acregmin", "acregmax", "acdirmin", "acdirmax", "noac", "nocto", "netns"];

    /// <summary>Bounds of <c>timeo</c>, in deciseconds (mount(8) counts it in tenths of a second): 0.1 s to 1 day.</summary>
    public const int MinTimeo = 1, MaxTimeo = 864_000;

    public const int MaxRetrans = 1000;

    /// <summary>Bounds of <c>nconnect</c> (Linux allows 1 to 16 connections per server).</summary>
    public const int MaxNConnect = 16;

    /// <summary>Largest attribute timeout (<c>actimeo</c>, <c>acregmin</c> …), in seconds: one day.</summary>
    public const int MaxAttributeTimeout = 86_400;

    /// <summary>Bounds of <c>rsize</c>/<c>wsize</c>; the client may clamp further to what the server offers.</summary>
    public const int MinTransferSize = 512, MaxTransferSize = 64 * 1024 * 1024;

    private const int MaxHostLength = 253;

    private readonly string _host = "";
    private readonly int? _port;
    private readonly string _path = "/";
    private readonly string? _user;
    private readonly int _version = SupportedVersion;
    private readonly int? _nfsPort;
    private readonly int? _mountPort;
    private readonly int? _nlmPort;
    private readonly int? _timeo;
    private readonly int? _retrans;
    private readonly string? _netns;
    private readonly int? _rsize;
    private readonly int? _wsize;
    private readonly int? _nconnect;
    private readonly int? _actimeo, _acregmin, _acregmax, _acdirmin, _acdirmax;

    /// <summary><c>nconnect</c>: TCP connections to the server that the mounts sharing it spread their calls over (mount(8)).</summary>
    public int? NConnect
    {
        get => _nconnect;
        init => _nconnect = Check(nameof(NConnect), value, CheckRange("nconnect", value, 1, MaxNConnect));
    }

    /// <summary><c>actimeo</c>: sets all four attribute timeouts, in seconds (nfs(5)); any of them given on its own wins.</summary>
    public int? Actimeo
    {
        get => _actimeo;
        init => _actimeo = CheckAttributeTimeout(nameof(Actimeo), "actimeo", value);
    }

    /// <summary><c>acregmin</c>: least time, in seconds, attributes of a non-directory are cached (nfs(5); default 3).</summary>
    public int? AcRegMin
    {
        get => _acregmin;
        init => _acregmin = CheckAttributeTimeout(nameof(AcRegMin), "acregmin", value);
    }

    /// <summary><c>acregmax</c>: most time, in seconds, attributes of a non-directory are cached (nfs(5); default 60).</summary>
    public int? AcRegMax
    {
        get => _acregmax;
        init => _acregmax = CheckAttributeTimeout(nameof(AcRegMax), "acregmax", value);
    }

    /// <summary><c>acdirmin</c>: least time, in seconds, attributes (and LOOKUP results) of a directory are cached (nfs(5); default 30).</summary>
    public int? AcDirMin
    {
        get => _acdirmin;
        init => _acdirmin = CheckAttributeTimeout(nameof(AcDirMin), "acdirmin", value);
    }

    /// <summary><c>acdirmax</c>: most time, in seconds, attributes (and LOOKUP results) of a directory are cached (nfs(5); default 60).</summary>
    public int? AcDirMax
    {
        get => _acdirmax;
        init => _acdirmax = CheckAttributeTimeout(nameof(AcDirMax), "acdirmax", value);
    }

    /// <summary><c>noac</c>: no attribute or LOOKUP caching; every question goes to the server (nfs(5)).</summary>
    public bool NoAc { get; init; }

    /// <summary><c>nocto</c>: opening a file trusts fresh cached attributes instead of always asking the server (nfs(5)).</summary>
    public bool NoCto { get; init; }

    /// <summary>Host name or IP address; an IPv6 literal without brackets.</summary>
    public required string Host
    {
        get => _host;
        init => _host = Check(nameof(Host), value, CheckHost(value));
    }

    /// <summary>The port of the authority (<c>nfs://h:2049/</c>): the NFS port, like <c>nfsport=</c>.</summary>
    public int? Port
    {
        get => _port;
        init => _port = Check(nameof(Port), value, CheckRange("port", value, 1, ushort.MaxValue));
    }

    /// <summary>Decoded path, always starting with '/': the export, possibly followed by a path inside it.</summary>
    public string Path
    {
        get => _path;
        init => _path = Check(nameof(Path), value, CheckPath(value));
    }

    /// <summary>The user of the authority (<c>nfs://user@host/</c>), decoded; not used by AUTH_SYS.</summary>
    public string? User
    {
        get => _user;
        init => _user = Check(nameof(User), value, value is null ? null : CheckName("user name", value));
    }

    /// <summary>NFS protocol version; only 3 is supported for now.</summary>
    public int Version
    {
        get => _version;
        init => _version = Check(nameof(Version), value, CheckVersion(value.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>AUTH_SYS uid to send, instead of the caller's own.</summary>
    public uint? Uid { get; init; }

    /// <summary>AUTH_SYS gid to send, instead of the caller's own.</summary>
    public uint? Gid { get; init; }

    /// <summary>NFS server port (skips the portmapper look-up for NFS).</summary>
    public int? NfsPort
    {
        get => _nfsPort;
        init => _nfsPort = Check(nameof(NfsPort), value, CheckRange("nfsport", value, 1, ushort.MaxValue));
    }

    /// <summary>MOUNT server port (skips the portmapper look-up for MOUNT).</summary>
    public int? MountPort
    {
        get => _mountPort;
        init => _mountPort = Check(nameof(MountPort), value, CheckRange("mountport", value, 1, ushort.MaxValue));
    }

    /// <summary>The server's NLM (lock manager) port: skips the portmapper look-up for locking.</summary>
    public int? NlmPort
    {
        get => _nlmPort;
        init => _nlmPort = Check(nameof(NlmPort), value, CheckRange("nlmport", value, 1, ushort.MaxValue));
    }

    /// <summary>Time to wait for a reply before retrying, in deciseconds, as mount(8)'s <c>timeo</c>.</summary>
    public int? Timeo
    {
        get => _timeo;
        init => _timeo = Check(nameof(Timeo), value, CheckRange("timeo", value, MinTimeo, MaxTimeo));
    }

    /// <summary>Retries before a soft mount fails or a hard mount reports "server not responding" (mount(8)).</summary>
    public int? Retrans
    {
        get => _retrans;
        init => _retrans = Check(nameof(Retrans), value, CheckRange("retrans", value, 0, MaxRetrans));
    }

    /// <summary>The network namespace to reach the server through: a name under /run/netns, a path or <c>pid:N</c>.</summary>
    public string? Netns
    {
        get => _netns;
        init => _netns = Check(nameof(Netns), value, value is null ? null : CheckNetns(value));
    }

    /// <summary>Soft mount: give up after <see cref="Retrans"/> retries instead of retrying forever (hard, the default).</summary>
    public bool Soft { get; init; }

    /// <summary>Largest READ to ask for, in bytes.</summary>
    public int? Rsize
    {
        get => _rsize;
        init => _rsize = Check(nameof(Rsize), value, CheckRange("rsize", value, MinTransferSize, MaxTransferSize));
    }

    /// <summary>Largest WRITE to send, in bytes.</summary>
    public int? Wsize
    {
        get => _wsize;
        init => _wsize = Check(nameof(Wsize), value, CheckRange("wsize", value, MinTransferSize, MaxTransferSize));
    }

    public NfsAuthFlavor Auth { get; init; } = NfsAuthFlavor.Sys;

    /// <summary>The NFS port to use if one is given: <c>nfsport=</c>, else the port of the authority.</summary>
    public int? EffectiveNfsPort => NfsPort ?? Port;

    /// <summary><see cref="Timeo"/> as a time span.</summary>
    public TimeSpan? Timeout => Timeo is int t ? TimeSpan.FromMilliseconds(t * 100L) : null;

    /// <summary>The non-empty segments of <see cref="Path"/>, decoded.</summary>
    public IReadOnlyList<string> PathSegments => Path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Parses <paramref name="url"/>; throws <see cref="NfsUrlException"/> saying what is wrong.</summary>
    public static NfsUrl Parse(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return new Parser(url).Parse();
    }

    public static NfsUrl Parse(string s, IFormatProvider? provider) => Parse(s);

    public static bool TryParse([NotNullWhen(true)] string? url, [MaybeNullWhen(false)] out NfsUrl result)
    {
        result = null;
        if (url is null) return false;
        try
        {
            result = Parse(url);
            return true;
        }
        catch (NfsUrlException)
        {
            return false;
        }
    }

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out NfsUrl result) =>
        TryParse(s, out result);

    /// <summary>
    /// Why <paramref name="spec"/> cannot name a network namespace (empty, NUL, <c>pid:</c> without a process id),
    /// or null when it is well-formed; whether it exists is only known when it is opened.
    /// </summary>
    public static string? ValidateNetns(string spec) => CheckNetns(spec);

    /// <summary>True when <paramref name="text"/> starts with an <c>nfs:</c> scheme (it may still be invalid).</summary>
    public static bool LooksLikeNfsUrl(string text) =>
        text.StartsWith(Scheme + ":", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// This URL with <paramref name="relativePath"/> (plain names separated by '/', not percent-escaped) appended to
    /// its path; the query is kept.
    /// </summary>
    public NfsUrl Combine(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        if (relativePath.StartsWith('/'))
            throw new ArgumentException($"'{relativePath}' is absolute; Combine takes a path relative to the URL's path", nameof(relativePath));
        var names = relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0) return this;
        foreach (var name in names)
        {
            if (CheckName("name", name) is string error)
                throw new ArgumentException($"cannot append '{relativePath}': {error}", nameof(relativePath));
        }
        return this with { Path = Path.TrimEnd('/') + "/" + string.Join('/', names) };
    }

    /// <summary>The canonical URL: escaped where needed, arguments in <see cref="KnownArguments"/> order, defaults left out.</summary>
    public override string ToString()
    {
        var url = new StringBuilder(64);
        url.Append(Scheme).Append("://");
        if (User is not null) AppendEscaped(url, User, UserExtraChars).Append('@');
        if (Host.Contains(':')) url.Append('[').Append(Host).Append(']');
        else url.Append(Host);
        if (Port is int port) url.Append(':').Append(port.ToString(CultureInfo.InvariantCulture));
        foreach (var segment in Path.Split('/').Skip(1))
            AppendEscaped(url.Append('/'), segment, PathExtraChars);

        char separator = '?';
        void Argument(string name, object? value)
        {
            url.Append(separator).Append(name);
            separator = '&';
            if (value is not null)
                AppendEscaped(url.Append('='), Convert.ToString(value, CultureInfo.InvariantCulture)!, QueryExtraChars);
        }
        if (Version != SupportedVersion) Argument("version", Version);
        if (NfsPort is int nfsPort) Argument("nfsport", nfsPort);
        if (MountPort is int mountPort) Argument("mountport", mountPort);
        if (NlmPort is int nlmPort) Argument("nlmport", nlmPort);
        if (Uid is uint uid) Argument("uid", uid);
        if (Gid is uint gid) Argument("gid", gid);
        if (Auth != NfsAuthFlavor.Sys) Argument("auth", AuthName(Auth));
        if (Timeo is int timeo) Argument("timeo", timeo);
        if (Retrans is int retrans) Argument("retrans", retrans);
        if (Soft) Argument("soft", null);
        if (Rsize is int rsize) Argument("rsize", rsize);
        if (Wsize is int wsize) Argument("wsize", wsize);
        if (NConnect is int nconnect) Argument("nconnect", nconnect);
        if (Actimeo is int actimeo) Argument("actimeo", actimeo);
        if (AcRegMin is int acregmin) Argument("acregmin", acregmin);
        if (AcRegMax is int acregmax) Argument("acregmax", acregmax);
        if (AcDirMin is int acdirmin) Argument("acdirmin", acdirmin);
        if (AcDirMax is int acdirmax) Argument("acdirmax", acdirmax);
        if (NoAc) Argument("noac", null);
        if (NoCto) Argument("nocto", null);
        if (Netns is not null) Argument("netns", Netns);
        return url.ToString();
    }

    private static string AuthName(NfsAuthFlavor auth) => auth switch
    {
        NfsAuthFlavor.Sys => "sys",
        NfsAuthFlavor.None => "none",
        _ => throw new ArgumentOutOfRangeException(nameof(auth), auth, null),
    };

    // RFC 3986 §3.3 pchar = unreserved / pct-encoded / sub-delims / ":" / "@". Query values also keep '/' readable
    // (netns paths) but escape '&', '=' and '+' so that no reader can split or decode them differently.
    private const string PathExtraChars = "!$&'()*+,;=:@";
    private const string UserExtraChars = "!$&'()*+,;=";
    private const string QueryExtraChars = "!$'()*,;:@/";

    private static StringBuilder AppendEscaped(StringBuilder builder, string text, string extraAllowed)
    {
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' || extraAllowed.Contains(c))
            {
                builder.Append(c);
                continue;
            }
            int length = char.IsHighSurrogate(c) && i + 1 < text.Length
                ? Encoding.UTF8.GetBytes(text.AsSpan(i++, 2), utf8)
                : Encoding.UTF8.GetBytes(text.AsSpan(i, 1), utf8);
            foreach (byte b in utf8[..length]) builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder;
    }

    // ---- checks shared by the parser (which reports them with the URL) and the init accessors ----

    private static T Check<T>(string property, T value, string? error) =>
        error is null ? value : throw new ArgumentException($"invalid {property}: {error}", property);

    private static string? CheckRange(string name, int? value, int min, int max) =>
        value is int v && (v < min || v > max) ? $"{name} must be from {min} to {max}, not {v}" : null;

    private static int? CheckAttributeTimeout(string property, string name, int? value) =>
        Check(property, value, CheckRange(name, value, 0, MaxAttributeTimeout));

    private static string? CheckHost(string? host)
    {
        if (string.IsNullOrEmpty(host)) return "host is empty";
        if (host.Contains(':'))
        {
            if (host.Contains('%')) return $"IPv6 zone ids are not supported ('{host}'): a link-local address names an interface, which differs per namespace";
            return IPAddress.TryParse(host, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6
                ? null
                : $"'{host}' is not an IPv6 address";
        }
        if (host.Length > MaxHostLength) return $"host name is longer than {MaxHostLength} characters";
        foreach (char c in host)
        {
            if (c == '%') return $"percent-escapes are not allowed in the host ('{host}')";
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
                return $"invalid character '{c}' in host '{host}'";
        }
        return null;
    }

    private static string? CheckPath(string? path)
    {
        if (path is null || !path.StartsWith('/')) return "the path must start with '/'";
        return path.Contains('\0') ? "a path cannot contain NUL" : null;
    }

    /// <summary>A single file name (path segment or user name): not containing '/' or NUL.</summary>
    private static string? CheckName(string what, string name)
    {
        if (name.Length == 0) return $"{what} is empty";
        if (name.Contains('/')) return $"{what} '{name}' contains '/'";
        return name.Contains('\0') ? $"{what} contains NUL" : null;
    }

    private static string? CheckVersion(string value) => value switch
    {
        "3" => null,
        "4" or "4.0" or "4.1" or "4.2" => $"NFSv4 is not supported yet (version={value}); use version=3",
        _ => $"version must be 3, not '{value}'",
    };

    private static string? CheckNetns(string value)
    {
        if (value.Length == 0) return "netns is empty (give a name under /run/netns, a path or pid:N)";
        if (value.Contains('\0')) return "netns contains NUL";
        if (value.StartsWith("pid:", StringComparison.Ordinal) &&
            !(int.TryParse(value.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0))
            return $"netns '{value}': '{value[4..]}' is not a process id";
        return null;
    }

    /// <summary>One pass over one URL; every failure is an <see cref="NfsUrlException"/> quoting it.</summary>
    private readonly ref struct Parser(string url)
    {
        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        private NfsUrlException Fail(string reason, string? argument = null) => new(url, reason, argument);

        public NfsUrl Parse()
        {
            if (url.Length > MaxLength) throw Fail($"longer than {MaxLength} characters");
            foreach (char c in url)
            {
                if (char.IsControl(c)) throw Fail($"contains the control character \\x{(int)c:x2}; escape it as %{(int)c:X2}");
            }

            int schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
            if (schemeEnd < 0)
            {
                throw Fail(LooksLikeNfsUrl(url)
                    ? "expected 'nfs://' followed by a host"
                    : "not an NFS URL (expected nfs://host/path)");
            }
            string scheme = url[..schemeEnd];
            if (!scheme.Equals(Scheme, StringComparison.OrdinalIgnoreCase))
                throw Fail($"scheme '{scheme}' is not supported (expected nfs://)");

            string rest = url[(schemeEnd + 3)..];
            if (rest.Contains('#')) throw Fail("fragments ('#') are not supported; escape '#' in a name as %23");

            int authorityEnd = rest.IndexOfAny(['/', '?']);
            if (authorityEnd < 0) authorityEnd = rest.Length;
            string authority = rest[..authorityEnd];
            string pathAndQuery = rest[authorityEnd..];
            int queryStart = pathAndQuery.IndexOf('?');
            string rawPath = queryStart < 0 ? pathAndQuery : pathAndQuery[..queryStart];
            string? rawQuery = queryStart < 0 ? null : pathAndQuery[(queryStart + 1)..];

            var (user, host, port) = ParseAuthority(authority);
            var parsed = new NfsUrl { Host = host, Port = port, User = user, Path = ParsePath(rawPath) };
            return rawQuery is null ? parsed : ParseQuery(parsed, rawQuery);
        }

        private (string? User, string Host, int? Port) ParseAuthority(string authority)
        {
            string? user = null;
            int at = authority.IndexOf('@');
            if (at >= 0)
            {
                string userInfo = authority[..at];
                authority = authority[(at + 1)..];
                if (authority.Contains('@')) throw Fail("more than one '@' in the authority; escape '@' in a user name as %40");
                if (userInfo.Contains(':')) throw Fail("passwords in URLs are not supported (user:password@)");
                user = Decode(userInfo, "user name");
                if (CheckName("user name", user) is string error) throw Fail(error);
            }

            string host;
            string? rawPort = null;
            if (authority.StartsWith('['))
            {
                int close = authority.IndexOf(']');
                if (close < 0) throw Fail("missing ']' after the IPv6 address");
                host = authority[1..close];
                if (host.Contains('%'))
                    throw Fail($"IPv6 zone ids are not supported ('[{host}]'): a link-local address names an interface, which differs per namespace");
                if (host.Length == 0) throw Fail("host is empty");
                if (!host.Contains(':') || CheckHost(host) is not null) throw Fail($"'{host}' in brackets is not an IPv6 address");
                string after = authority[(close + 1)..];
                if (after.Length > 0)
                {
                    if (after[0] != ':') throw Fail($"unexpected '{after}' after ']' (expected ':port')");
                    rawPort = after[1..];
                }
            }
            else
            {
                int colon = authority.IndexOf(':');
                if (colon >= 0 && authority.IndexOf(':', colon + 1) >= 0)
                    throw Fail("an IPv6 address must be in brackets, as in nfs://[::1]/export");
                host = colon < 0 ? authority : authority[..colon];
                if (colon >= 0) rawPort = authority[(colon + 1)..];
                if (CheckHost(host) is string error) throw Fail(error);
            }

            int? port = null;
            if (rawPort is not null)
            {
                if (rawPort.Length == 0) throw Fail("port is empty after ':'");
                port = (int)ParseNumber("port", rawPort, 1, ushort.MaxValue);
            }
            return (user, host, port);
        }

        private string ParsePath(string rawPath)
        {
            if (rawPath.Length == 0) return "/";
            var segments = rawPath.Split('/');
            for (int i = 0; i < segments.Length; i++)
            {
                string raw = segments[i];
                if (!raw.Contains('%')) continue;
                string name = Decode(raw, "path");
                if (name.Contains('/'))
                    throw Fail($"path segment '{raw}' contains an escaped '/' (%2F), but a name cannot contain '/'");
                if (name.Contains('\0'))
                    throw Fail($"path segment '{raw}' contains an escaped NUL (%00), but a name cannot contain NUL");
                segments[i] = name;
            }
            return string.Join('/', segments);
        }

        private NfsUrl ParseQuery(NfsUrl parsed, string rawQuery)
        {
            if (rawQuery.Length == 0) return parsed;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (string item in rawQuery.Split('&'))
            {
                if (item.Length == 0) throw Fail("empty argument in the query (a stray '&')");
                int equals = item.IndexOf('=');
                string name = Decode(equals < 0 ? item : item[..equals], "argument name");
                string? value = equals < 0 ? null : Decode(item[(equals + 1)..], $"argument '{name}'");
                if (!KnownArguments.Contains(name))
                    throw Fail($"unknown argument '{name}' (known: {string.Join(", ", KnownArguments)})", name);
                if (!seen.Add(name)) throw Fail($"argument '{name}' is given more than once", name);
                parsed = Apply(parsed, name, value);
            }
            if (seen.Contains("soft") && seen.Contains("hard"))
                throw Fail("give either 'soft' or 'hard', not both", "hard");
            return parsed;
        }

        private NfsUrl Apply(NfsUrl url, string name, string? value)
        {
            switch (name)
            {
                case "soft" or "hard":
                    return url with { Soft = (name == "soft") == ParseFlag(name, value) };
                case "noac":
                    return url with { NoAc = ParseFlag(name, value) };
                case "nocto":
                    return url with { NoCto = ParseFlag(name, value) };
            }
            if (string.IsNullOrEmpty(value)) throw Fail($"argument '{name}' needs a value ({name}=…)", name);
            return name switch
            {
                "version" => CheckVersion(value) is string error ? throw Fail(error, name) : url with { Version = SupportedVersion },
                "uid" => url with { Uid = (uint)ParseNumber(name, value, 0, uint.MaxValue) },
                "gid" => url with { Gid = (uint)ParseNumber(name, value, 0, uint.MaxValue) },
                "nfsport" => url with { NfsPort = (int)ParseNumber(name, value, 1, ushort.MaxValue) },
                "mountport" => url with { MountPort = (int)ParseNumber(name, value, 1, ushort.MaxValue) },
                "nlmport" => url with { NlmPort = (int)ParseNumber(name, value, 1, ushort.MaxValue) },
                "timeo" => url with { Timeo = (int)ParseNumber(name, value, MinTimeo, MaxTimeo) },
                "retrans" => url with { Retrans = (int)ParseNumber(name, value, 0, MaxRetrans) },
                "rsize" => url with { Rsize = (int)ParseNumber(name, value, MinTransferSize, MaxTransferSize) },
                "wsize" => url with { Wsize = (int)ParseNumber(name, value, MinTransferSize, MaxTransferSize) },
                "nconnect" => url with { NConnect = (int)ParseNumber(name, value, 1, MaxNConnect) },
                "actimeo" => url with { Actimeo = (int)ParseNumber(name, value, 0, MaxAttributeTimeout) },
                "acregmin" => url with { AcRegMin = (int)ParseNumber(name, value, 0, MaxAttributeTimeout) },
                "acregmax" => url with { AcRegMax = (int)ParseNumber(name, value, 0, MaxAttributeTimeout) },
                "acdirmin" => url with { AcDirMin = (int)ParseNumber(name, value, 0, MaxAttributeTimeout) },
                "acdirmax" => url with { AcDirMax = (int)ParseNumber(name, value, 0, MaxAttributeTimeout) },
                "auth" => url with
                {
                    Auth = value.ToLowerInvariant() switch
                    {
                        "sys" => NfsAuthFlavor.Sys,
                        "none" => NfsAuthFlavor.None,
                        _ => throw Fail($"auth must be 'sys' or 'none', not '{value}'", name),
                    },
                },
                "netns" => CheckNetns(value) is string error ? throw Fail(error, name) : url with { Netns = value },
                _ => throw new InvalidOperationException($"argument '{name}' is in KnownArguments but not handled"),
            };
        }

        /// <summary>A flag argument: given alone or as <c>=1</c> it is on, <c>=0</c> off.</summary>
        private bool ParseFlag(string name, string? value) => value switch
        {
            null or "1" => true,
            "0" => false,
            _ => throw Fail($"'{name}' takes no value, or 0 or 1, not '{value}'", name),
        };

        /// <summary>Plain decimal digits only: no sign, no spaces, no hex, checked against the range.</summary>
        private long ParseNumber(string name, string text, long min, long max)
        {
            bool digits = text.Length is > 0 and <= 10 && text.All(char.IsAsciiDigit);
            if (digits && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max)
                return value;
            throw Fail($"{name} must be a number from {min} to {max}, not '{text}'", name == "port" ? null : name);
        }

        /// <summary>Decodes the percent-escapes of one component (RFC 3986 §2.1); the bytes must be UTF-8.</summary>
        private string Decode(string component, string what)
        {
            if (!component.Contains('%')) return component;
            var bytes = new List<byte>(component.Length);
            int runStart = 0;
            for (int i = 0; i < component.Length; i++)
            {
                if (component[i] != '%') continue;
                AppendUtf8(bytes, component[runStart..i], what);
                if (i + 2 >= component.Length || !char.IsAsciiHexDigit(component[i + 1]) || !char.IsAsciiHexDigit(component[i + 2]))
                {
                    string bad = component.Substring(i, Math.Min(3, component.Length - i));
                    throw Fail($"invalid percent-escape '{bad}' in {what} (a '%' must be followed by two hex digits; write '%' as %25)");
                }
                bytes.Add(byte.Parse(component.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                i += 2;
                runStart = i + 1;
            }
            AppendUtf8(bytes, component[runStart..], what);
            try
            {
                return StrictUtf8.GetString(bytes.ToArray());
            }
            catch (DecoderFallbackException)
            {
                throw Fail($"the escapes in {what} '{component}' are not valid UTF-8");
            }
        }

        private void AppendUtf8(List<byte> bytes, string text, string what)
        {
            try
            {
                bytes.AddRange(StrictUtf8.GetBytes(text));
            }
            catch (EncoderFallbackException)
            {
                throw Fail($"{what} contains an unpaired surrogate character");
            }
        }
    }
}
