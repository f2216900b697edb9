using NfsNs.Client;

namespace NfsNs.Tests.Unit;

public class NfsUrlTests
{
    [Fact]
    public void U1_escapes_are_decoded_after_splitting()
    {
        var url = NfsUrl.Parse("nfs://host/export/dir/a%3Fb");
        Assert.Equal("host", url.Host);
        Assert.Equal("/export/dir/a?b", url.Path);
        Assert.Equal(["export", "dir", "a?b"], url.PathSegments);
        Assert.Null(url.Uid);
        Assert.Equal("nfs://host/export/dir/a%3Fb", url.ToString());
    }

    [Fact]
    public void U1_escaped_ampersand_equals_and_hash_stay_in_their_component()
    {
        var url = NfsUrl.Parse("nfs://host/export/x%26y%3Dz%23w?netns=a%26b");
        Assert.Equal("/export/x&y=z#w", url.Path);
        Assert.Equal("a&b", url.Netns);
        Assert.Equal(url, NfsUrl.Parse(url.ToString()));
    }

    [Fact]
    public void U1_escaped_slash_in_a_segment_is_refused()
    {
        var e = Assert.Throws<NfsUrlException>(() => NfsUrl.Parse("nfs://host/export/a%2Fb"));
        Assert.Contains("'/'", e.Message);
        Assert.Contains("a%2Fb", e.Message);
        Assert.Throws<NfsUrlException>(() => NfsUrl.Parse("nfs://host/export/a%2fb"));
    }

    [Theory]
    [InlineData("nfs://[::1]:2049/export/x", 2049)]
    [InlineData("nfs://[::1]/export/x", null)]
    public void U2_ipv6_literals_in_brackets(string text, int? port)
    {
        var url = NfsUrl.Parse(text);
        Assert.Equal("::1", url.Host);
        Assert.Equal(port, url.Port);
        Assert.Equal(port, url.EffectiveNfsPort);
        Assert.Equal("/export/x", url.Path);
        Assert.Equal(text, url.ToString());
    }

    [Fact]
    public void U2_ipv6_zone_id_is_refused_clearly()
    {
        var e = Assert.Throws<NfsUrlException>(() => NfsUrl.Parse("nfs://[fe80::1%25eth0]/export"));
        Assert.Contains("zone id", e.Message);
    }

    [Fact]
    public void Every_argument_is_parsed()
    {
        var url = NfsUrl.Parse(
            "nfs://alice@server.example:2049/export/dir?version=3&uid=1000&gid=100&nfsport=2049&mountport=20048" +
            "&timeo=600&retrans=2&netns=pid:42&soft&rsize=1048576&wsize=65536&auth=none");
        Assert.Equal("alice", url.User);
        Assert.Equal("server.example", url.Host);
        Assert.Equal(2049, url.Port);
        Assert.Equal("/export/dir", url.Path);
        Assert.Equal(3, url.Version);
        Assert.Equal(1000u, url.Uid);
        Assert.Equal(100u, url.Gid);
        Assert.Equal(2049, url.NfsPort);
        Assert.Equal(20048, url.MountPort);
        Assert.Equal(600, url.Timeo);
        Assert.Equal(TimeSpan.FromSeconds(60), url.Timeout);
        Assert.Equal(2, url.Retrans);
        Assert.Equal("pid:42", url.Netns);
        Assert.True(url.Soft);
        Assert.Equal(1048576, url.Rsize);
        Assert.Equal(65536, url.Wsize);
        Assert.Equal(NfsAuthFlavor.None, url.Auth);
    }

    [Fact]
    public void Defaults_when_nothing_is_given()
    {
        var url = NfsUrl.Parse("nfs://127.0.0.1");
        Assert.Equal("/", url.Path);
        Assert.Empty(url.PathSegments);
        Assert.Equal(3, url.Version);
        Assert.False(url.Soft);
        Assert.Equal(NfsAuthFlavor.Sys, url.Auth);
        Assert.Null(url.Port);
        Assert.Null(url.Netns);
        Assert.Null(url.User);
        Assert.Equal("nfs://127.0.0.1/", url.ToString());
    }

    [Theory]
    [InlineData("soft", true)]
    [InlineData("soft=1", true)]
    [InlineData("soft=0", false)]
    [InlineData("hard", false)]
    [InlineData("hard=1", false)]
    [InlineData("hard=0", true)]
    public void Soft_and_hard_are_flags_or_0_1(string query, bool soft) =>
        Assert.Equal(soft, NfsUrl.Parse($"nfs://h/e?{query}").Soft);

    [Theory]
    [InlineData("netns=blue", "blue")]
    [InlineData("netns=/run/netns/blue", "/run/netns/blue")]
    [InlineData("netns=%2Fproc%2F7%2Fns%2Fnet", "/proc/7/ns/net")]
    [InlineData("netns=pid:1234", "pid:1234")]
    public void Netns_accepts_names_paths_and_pids(string query, string netns) =>
        Assert.Equal(netns, NfsUrl.Parse($"nfs://h/e?{query}").Netns);

    [Fact]
    public void Scheme_is_case_insensitive_and_plus_is_not_a_space()
    {
        var url = NfsUrl.Parse("NFS://h/a+b?netns=x+y");
        Assert.Equal("/a+b", url.Path);
        Assert.Equal("x+y", url.Netns);
        Assert.Equal("nfs://h/a+b?netns=x%2By", url.ToString());
    }

    [Fact]
    public void Non_ascii_and_spaces_are_decoded_and_re_escaped()
    {
        var url = NfsUrl.Parse("nfs://h/export/caf%C3%A9/my file");
        Assert.Equal("/export/café/my file", url.Path);
        Assert.Equal("nfs://h/export/caf%C3%A9/my%20file", url.ToString());
        Assert.Equal("/export/café/my file", NfsUrl.Parse("nfs://h/export/café/my%20file").Path);
    }

    [Theory]
    [InlineData("nfs://127.0.0.1/export")]
    [InlineData("nfs://127.0.0.1/")]
    [InlineData("nfs://h:1/export/")]
    [InlineData("nfs://[::ffff:127.0.0.1]:65535/e")]
    [InlineData("nfs://[fe80::1]/e")]
    [InlineData("nfs://a%40b@h/e")]
    [InlineData("nfs://h/%25%3F%23%26/x%20y/%F0%9F%98%80")]
    [InlineData("nfs://h//double//slash")]
    [InlineData("nfs://h/e?nfsport=2049&mountport=20048&nlmport=32803&uid=0&gid=4294967295&auth=none&timeo=1&retrans=0&soft&rsize=512&wsize=67108864&netns=%2Frun%2Fnetns%2Fa%20b")]
    public void Round_trip_through_ToString(string text)
    {
        var url = NfsUrl.Parse(text);
        string canonical = url.ToString();
        var again = NfsUrl.Parse(canonical);
        Assert.Equal(url, again);
        Assert.Equal(canonical, again.ToString());
    }

    [Fact]
    public void Canonical_form_orders_arguments_and_drops_defaults()
    {
        var url = NfsUrl.Parse("nfs://h/e?netns=/run/netns/a&hard&version=3&uid=5&auth=sys");
        Assert.Equal("nfs://h/e?uid=5&netns=/run/netns/a", url.ToString());
    }

    [Theory]
    [InlineData("http://h/e", "scheme 'http' is not supported")]
    [InlineData("/export/x", "not an NFS URL")]
    [InlineData("host:/export", "not an NFS URL")]
    [InlineData("nfs:/h/e", "expected 'nfs://'")]
    [InlineData("nfs:///export", "host is empty")]
    [InlineData("nfs://:2049/export", "host is empty")]
    [InlineData("nfs://[]/export", "host is empty")]
    [InlineData("nfs://ho st/e", "invalid character ' ' in host")]
    [InlineData("nfs://h%41/e", "percent-escapes are not allowed in the host")]
    [InlineData("nfs://::1/e", "must be in brackets")]
    [InlineData("nfs://[::1/e", "missing ']'")]
    [InlineData("nfs://[::1]x/e", "unexpected 'x' after ']'")]
    [InlineData("nfs://[1.2.3.4]/e", "is not an IPv6 address")]
    [InlineData("nfs://[::g]/e", "is not an IPv6 address")]
    [InlineData("nfs://h:/e", "port is empty")]
    [InlineData("nfs://h:0/e", "port must be a number from 1 to 65535, not '0'")]
    [InlineData("nfs://h:65536/e", "port must be a number from 1 to 65535")]
    [InlineData("nfs://h:-1/e", "port must be a number")]
    [InlineData("nfs://h:2o49/e", "port must be a number")]
    [InlineData("nfs://u:pw@h/e", "passwords")]
    [InlineData("nfs://a@b@h/e", "more than one '@'")]
    [InlineData("nfs://@h/e", "user name is empty")]
    [InlineData("nfs://h/e#frag", "fragments")]
    [InlineData("nfs://h/e%2", "invalid percent-escape '%2'")]
    [InlineData("nfs://h/e%zz", "invalid percent-escape '%zz'")]
    [InlineData("nfs://h/e%FF", "not valid UTF-8")]
    [InlineData("nfs://h/e%00x", "NUL")]
    [InlineData("nfs://h/e\nx", "control character \\x0a")]
    [InlineData("nfs://h/e?", null)]
    public void Malformed_urls_are_refused_with_the_reason(string text, string? reason)
    {
        if (reason is null)
        {
            Assert.Equal("/e", NfsUrl.Parse(text).Path);
            return;
        }
        var e = Assert.Throws<NfsUrlException>(() => NfsUrl.Parse(text));
        Assert.Contains(reason, e.Message);
        AssertOneLineQuotingUrl(e, text);
        Assert.False(NfsUrl.TryParse(text, out var parsed));
        Assert.Null(parsed);
    }

    [Theory]
    [InlineData("frobnicate=1", "frobnicate", "unknown argument 'frobnicate' (known: version, nfsport, mountport, nlmport, uid, gid, auth, timeo, retrans, soft, hard, rsize, wsize, nconnect, actimeo, acregmin, acregmax, acdirmin, acdirmax, noac, nocto, netns)")]
    [InlineData("UID=1", "UID", "unknown argument 'UID'")]
    [InlineData("uid=1&uid=2", "uid", "argument 'uid' is given more than once")]
    [InlineData("uid=abc", "uid", "uid must be a number from 0 to 4294967295, not 'abc'")]
    [InlineData("uid=-1", "uid", "uid must be a number")]
    [InlineData("uid=4294967296", "uid", "uid must be a number")]
    [InlineData("uid=+5", "uid", "uid must be a number")]
    [InlineData("uid= 5", "uid", "uid must be a number")]
    [InlineData("uid=99999999999999999999", "uid", "uid must be a number")]
    [InlineData("gid=x", "gid", "gid must be a number")]
    [InlineData("uid", "uid", "argument 'uid' needs a value")]
    [InlineData("uid=", "uid", "argument 'uid' needs a value")]
    [InlineData("nfsport=0", "nfsport", "nfsport must be a number from 1 to 65535")]
    [InlineData("nfsport=65536", "nfsport", "nfsport must be a number from 1 to 65535")]
    [InlineData("mountport=70000", "mountport", "mountport must be a number from 1 to 65535")]
    [InlineData("nlmport=0", "nlmport", "nlmport must be a number from 1 to 65535")]
    [InlineData("timeo=0", "timeo", "timeo must be a number from 1 to 864000")]
    [InlineData("retrans=1001", "retrans", "retrans must be a number from 0 to 1000")]
    [InlineData("rsize=100", "rsize", "rsize must be a number from 512 to 67108864")]
    [InlineData("wsize=134217728", "wsize", "wsize must be a number from 512")]
    [InlineData("version=4", "version", "NFSv4 is not supported yet")]
    [InlineData("version=4.1", "version", "NFSv4 is not supported yet")]
    [InlineData("version=2", "version", "version must be 3, not '2'")]
    [InlineData("auth=krb5", "auth", "auth must be 'sys' or 'none', not 'krb5'")]
    [InlineData("soft=yes", "soft", "'soft' takes no value, or 0 or 1")]
    [InlineData("soft&hard", "hard", "either 'soft' or 'hard'")]
    [InlineData("netns=", "netns", "needs a value")]
    [InlineData("netns=pid:x", "netns", "is not a process id")]
    [InlineData("netns=pid:0", "netns", "is not a process id")]
    [InlineData("actimeo=-1", "actimeo", "actimeo must be a number from 0 to 86400, not '-1'")]
    [InlineData("actimeo=86401", "actimeo", "actimeo must be a number from 0 to 86400")]
    [InlineData("acregmin=3s", "acregmin", "acregmin must be a number from 0 to 86400, not '3s'")]
    [InlineData("acregmax=", "acregmax", "argument 'acregmax' needs a value")]
    [InlineData("acdirmin=0x10", "acdirmin", "acdirmin must be a number")]
    [InlineData("acdirmax=99999999999", "acdirmax", "acdirmax must be a number")]
    [InlineData("acregmin=1&acregmin=2", "acregmin", "argument 'acregmin' is given more than once")]
    [InlineData("noac=yes", "noac", "'noac' takes no value, or 0 or 1, not 'yes'")]
    [InlineData("nocto=2", "nocto", "'nocto' takes no value, or 0 or 1, not '2'")]
    [InlineData("uid=1&&gid=2", null, "empty argument")]
    [InlineData("uid=1&", null, "empty argument")]
    public void Bad_query_arguments_are_refused_naming_the_argument(string query, string? argument, string reason)
    {
        string text = "nfs://127.0.0.1/export?" + query;
        var e = Assert.Throws<NfsUrlException>(() => NfsUrl.Parse(text));
        Assert.Contains(reason, e.Message);
        Assert.Equal(argument, e.Argument);
        Assert.IsAssignableFrom<FormatException>(e);
        AssertOneLineQuotingUrl(e, text);
    }

    [Fact]
    public void Overlong_input_is_refused_before_parsing()
    {
        string text = "nfs://h/" + new string('a', NfsUrl.MaxLength);
        var e = Assert.Throws<NfsUrlException>(() => NfsUrl.Parse(text));
        Assert.Contains("longer than", e.Message);
        Assert.True(e.Message.Length < 400, "the message quotes a bounded prefix of the URL");
    }

    [Fact]
    public void Combine_appends_plain_names()
    {
        var root = NfsUrl.Parse("nfs://h/export/?uid=1");
        var child = root.Combine("dir/a?b");
        Assert.Equal("/export/dir/a?b", child.Path);
        Assert.Equal(1u, child.Uid);
        Assert.Equal("nfs://h/export/dir/a%3Fb?uid=1", child.ToString());
        Assert.Equal("/export/x", NfsUrl.Parse("nfs://h/export").Combine("x//").Path);
        Assert.Same(root, root.Combine(""));
        Assert.Throws<ArgumentException>(() => root.Combine("/abs"));
        Assert.Throws<ArgumentException>(() => root.Combine("a\0b"));
    }

    [Fact]
    public void With_expressions_are_checked_too()
    {
        var url = NfsUrl.Parse("nfs://h/e");
        Assert.Equal("nfs://h/e?uid=7&netns=blue", (url with { Uid = 7, Netns = "blue" }).ToString());
        Assert.Throws<ArgumentException>(() => url with { Port = 0 });
        Assert.Throws<ArgumentException>(() => url with { Host = "" });
        Assert.Throws<ArgumentException>(() => url with { Host = "fe80::1%eth0" });
        Assert.Throws<ArgumentException>(() => url with { Path = "relative" });
        Assert.Throws<ArgumentException>(() => url with { Version = 4 });
        Assert.Throws<ArgumentException>(() => url with { Netns = "" });
        Assert.Throws<ArgumentException>(() => url with { Rsize = 1 });
    }

    [Fact]
    public void Nfsport_takes_precedence_over_the_authority_port()
    {
        var url = NfsUrl.Parse("nfs://h:2049/e?nfsport=3049");
        Assert.Equal(2049, url.Port);
        Assert.Equal(3049, url.EffectiveNfsPort);
    }

    [Fact]
    public void LooksLikeNfsUrl_tells_urls_from_local_paths()
    {
        Assert.True(NfsUrl.LooksLikeNfsUrl("nfs://h/e"));
        Assert.True(NfsUrl.LooksLikeNfsUrl("NFS:/broken"));
        Assert.False(NfsUrl.LooksLikeNfsUrl("/tmp/nfs:x"));
        Assert.False(NfsUrl.LooksLikeNfsUrl("file.txt"));
    }

    private static void AssertOneLineQuotingUrl(NfsUrlException e, string url)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.StartsWith("invalid NFS URL '", e.Message);
        Assert.Equal(url, e.Url);
        if (!url.Any(char.IsControl)) Assert.Contains($"'{url}'", e.Message);
    }
}

public class NfsUrlNConnectTests
{
    [Fact]
    public void Nconnect_is_parsed_bounded_and_round_trips()
    {
        var url = NfsNs.Client.NfsUrl.Parse("nfs://h/export?nconnect=4");
        Assert.Equal(4, url.NConnect);
        Assert.Equal(url, NfsNs.Client.NfsUrl.Parse(url.ToString()));
        Assert.Equal(4, NfsNs.Client.NfsMountOptions.FromUrl(url).NConnect);
        var e = Assert.Throws<NfsNs.Client.NfsUrlException>(() => NfsNs.Client.NfsUrl.Parse("nfs://h/export?nconnect=17"));
        Assert.Contains("nconnect", e.Message);
        Assert.Throws<NfsNs.Client.NfsUrlException>(() => NfsNs.Client.NfsUrl.Parse("nfs://h/export?nconnect=0"));
    }
}

public class NfsUrlAttributeCacheTests
{
    [Fact]
    public void Defaults_are_nfs5_s_when_the_url_says_nothing()
    {
        var options = NfsMountOptions.FromUrl(NfsUrl.Parse("nfs://h/export"));
        Assert.Equal(AttributeTimeouts.Default, options.AttributeTimeouts);
        Assert.Equal((3, 60, 30, 60), ((int)options.AcRegMin.TotalSeconds, (int)options.AcRegMax.TotalSeconds,
            (int)options.AcDirMin.TotalSeconds, (int)options.AcDirMax.TotalSeconds));
        Assert.False(options.NoAc);
        Assert.False(options.NoCto);
    }

    [Fact]
    public void Each_timeout_is_parsed_into_the_options_and_round_trips()
    {
        var url = NfsUrl.Parse("nfs://h/export?acdirmax=40&acregmin=1&acregmax=20&acdirmin=10");
        Assert.Equal((1, 20, 10, 40), (url.AcRegMin, url.AcRegMax, url.AcDirMin, url.AcDirMax));
        Assert.Equal("nfs://h/export?acregmin=1&acregmax=20&acdirmin=10&acdirmax=40", url.ToString());
        Assert.Equal(url, NfsUrl.Parse(url.ToString()));
        Assert.Equal(new AttributeTimeouts(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(40)),
            NfsMountOptions.FromUrl(url).AttributeTimeouts);
    }

    [Fact]
    public void Actimeo_sets_all_four_and_a_timeout_named_on_its_own_wins_whatever_the_order()
    {
        var all = NfsMountOptions.FromUrl(NfsUrl.Parse("nfs://h/export?actimeo=7"));
        Assert.Equal(AttributeTimeouts.Uniform(TimeSpan.FromSeconds(7)), all.AttributeTimeouts);

        foreach (string query in new[] { "actimeo=7&acregmax=2", "acregmax=2&actimeo=7" })
        {
            var url = NfsUrl.Parse("nfs://h/export?" + query);
            Assert.Equal(7, url.Actimeo);
            Assert.Equal("nfs://h/export?actimeo=7&acregmax=2", url.ToString());
            var timeouts = NfsMountOptions.FromUrl(url).AttributeTimeouts;
            Assert.Equal(TimeSpan.FromSeconds(7), timeouts.RegularMin);
            Assert.Equal(TimeSpan.FromSeconds(2), timeouts.RegularMax);
            Assert.Equal(TimeSpan.FromSeconds(7), timeouts.DirectoryMin);
            Assert.Equal(TimeSpan.FromSeconds(7), timeouts.DirectoryMax);
        }

        var zero = NfsMountOptions.FromUrl(NfsUrl.Parse("nfs://h/export?actimeo=0"));
        Assert.True(zero.AttributeTimeouts.IsDisabled);
    }

    [Theory]
    [InlineData("noac", true)]
    [InlineData("noac=1", true)]
    [InlineData("noac=0", false)]
    public void Noac_is_a_flag_that_disables_every_timeout(string query, bool on)
    {
        var url = NfsUrl.Parse("nfs://h/export?actimeo=30&" + query);
        Assert.Equal(on, url.NoAc);
        Assert.Equal(url, NfsUrl.Parse(url.ToString()));
        var options = NfsMountOptions.FromUrl(url);
        Assert.Equal(on, options.NoAc);
        Assert.Equal(on, options.AttributeTimeouts.IsDisabled);
    }

    [Fact]
    public void Nocto_is_a_flag()
    {
        var url = NfsUrl.Parse("nfs://h/export?nocto&noac");
        Assert.True(url.NoCto);
        Assert.Equal("nfs://h/export?noac&nocto", url.ToString());
        Assert.True(NfsMountOptions.FromUrl(url).NoCto);
        Assert.False(NfsUrl.Parse("nfs://h/export?nocto=0").NoCto);
    }

    [Fact]
    public void With_expressions_check_the_bounds()
    {
        var url = NfsUrl.Parse("nfs://h/e");
        Assert.Equal("nfs://h/e?actimeo=0", (url with { Actimeo = 0 }).ToString());
        Assert.Throws<ArgumentException>(() => url with { Actimeo = -1 });
        Assert.Throws<ArgumentException>(() => url with { AcRegMin = NfsUrl.MaxAttributeTimeout + 1 });
        Assert.Throws<ArgumentException>(() => url with { AcDirMax = -5 });
    }
}
