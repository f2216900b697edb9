using NfsNs.Cli;
using NfsNs.Cli.Commands;
using NfsNs.Client;

namespace NfsNs.Tests.Unit;

/// <summary>The nfsns command line, run in-process: parsing, help, exit codes and the one-line error path.</summary>
public class CliParsingTests
{
    private sealed record Run(int ExitCode, string Out, string Err)
    {
        public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static async Task<Run> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exitCode = await NfsNsCli.RunAsync(args, output, error, cancellationToken);
        return new Run(exitCode, output.ToString(), error.ToString());
    }

    private static readonly string[] CommandNames =
        ["ls", "cat", "cp", "stat", "mkdir", "rm", "rmdir", "mv", "ln", "df", "exports", "ping", "demo"];

    [Fact]
    public async Task Help_lists_every_command_and_the_global_options()
    {
        var run = await RunAsync(["--help"]);
        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Equal("", run.Err);
        Assert.Contains("nfsns [command] [options]", run.Out);
        foreach (var name in CommandNames) Assert.Contains($"  {name} ", run.Out);
        foreach (var option in new[] { "--netns", "--uid", "--gid", "--verbose", "--version" }) Assert.Contains(option, run.Out);
    }

    public static TheoryData<string> Commands() => new(CommandNames);

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Every_command_has_help(string command)
    {
        var run = await RunAsync([command, "--help"]);
        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Contains($"nfsns {command}", run.Out);
        Assert.Contains("--netns", run.Out);
    }

    [Theory]
    [InlineData("ls -l -R --json nfs://h/export", "ls")]
    [InlineData("ls -lR nfs://h/export", "ls")]
    [InlineData("cat nfs://h/export/f", "cat")]
    [InlineData("cp nfs://h/export/f local", "cp")]
    [InlineData("cp -r local nfs://[::1]:2049/export/d", "cp")]
    [InlineData("cp nfs://h/e/a nfs://h2/e/b", "cp")]
    [InlineData("stat --json nfs://h/export/f", "stat")]
    [InlineData("mkdir -p nfs://h/export/a/b", "mkdir")]
    [InlineData("rm -r nfs://h/export/a", "rm")]
    [InlineData("rmdir nfs://h/export/a", "rmdir")]
    [InlineData("mv nfs://h/export/a nfs://h/export/b", "mv")]
    [InlineData("ln -s ../target nfs://h/export/link", "ln")]
    [InlineData("ln nfs://h/export/f nfs://h/export/hard", "ln")]
    [InlineData("df nfs://h/export", "df")]
    [InlineData("exports 127.0.0.1", "exports")]
    [InlineData("exports ::1", "exports")]
    [InlineData("ping --count 3 nfs://h/", "ping")]
    [InlineData("--netns blue --uid 0 --gid 0 -v ls nfs://h/e", "ls")]
    [InlineData("ls --netns pid:1 nfs://h/e", "ls")]
    public async Task Valid_command_lines_reach_the_command_body(string commandLine, string command)
    {
        // The hosts here ("h", "h2", [::1] with nothing listening, namespace "blue") do not answer, so each command
        // gets past parsing and fails in its body: an operation error (1) with one line, never a usage error (2).
        var run = await RunAsync(commandLine.Split(' '));
        Assert.True(run.ExitCode == ExitCodes.Failure, $"{command}: exit {run.ExitCode}: {run.Err}");
        Assert.StartsWith("nfsns: ", run.Err);
        if (!commandLine.Contains("-v")) Assert.Single(run.ErrLines);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("", "Required command was not provided")]
    [InlineData("frobnicate", "Unrecognized command or argument 'frobnicate'")]
    [InlineData("ls", "Required argument missing")]
    [InlineData("ls nfs://h/e extra", "Unrecognized command or argument 'extra'")]
    [InlineData("ls http://h/e", "scheme 'http' is not supported")]
    [InlineData("ls nfs://h/e?bogus=1", "unknown argument 'bogus'")]
    [InlineData("ls nfs://h/e?version=4", "NFSv4 is not supported yet")]
    [InlineData("cat nfs://h/a%2Fb", "a name cannot contain '/'")]
    [InlineData("ls --bogus nfs://h/e", "unknown option '--bogus'")]
    [InlineData("--uid -5 ls nfs://h/e", "--uid must be a number from 0 to 4294967295, not '-5'")]
    [InlineData("--gid x ls nfs://h/e", "--gid must be a number")]
    [InlineData("--netns pid:0 ls nfs://h/e", "is not a process id")]
    [InlineData("cp a b", "SRC or DST must be an nfs:// URL")]
    [InlineData("cp ftp://x/y nfs://h/e", "only nfs:// URLs and local paths")]
    [InlineData("cp nfs://h/e", "Required argument missing")]
    [InlineData("mv nfs://h/a /tmp/b", "not an NFS URL")]
    [InlineData("ln a nfs://h/l", "TARGET 'a' of a hard link must be an nfs:// URL")]
    [InlineData("ln nfs://h/a%zz nfs://h/l", "invalid percent-escape")]
    [InlineData("ping -c 0 nfs://h/", "--count must be a number from 1 to 1000000, not '0'")]
    [InlineData("ping -c x nfs://h/", "--count must be a number")]
    [InlineData("exports host:99999", "port must be a number")]
    [InlineData("exports [fe80::1%25lo]", "zone id")]
    [InlineData("serve --memory --grace 4000", "--grace must be a number of seconds from 0 to 3600, not '4000'")]
    [InlineData("serve --memory --grace abc", "--grace must be a number of seconds from 0 to 3600, not 'abc'")]
    [InlineData("serve /tmp --memory", "give DIR or --memory, not both")]
    [InlineData("serve --memory --no-locking --grace 5", "--grace configures locking, which --no-locking turns off")]
    [InlineData("lock nfs://h/f", "give the command to run after the URL")]
    [InlineData("lock --json nfs://h/f -- true", "--json goes with --test")]
    [InlineData("lock --range 1:x nfs://h/f -- true", "--range must be OFFSET[:LENGTH]")]
    [InlineData("lock --timeout -1 nfs://h/f -- true", "--timeout must be a number of seconds from 0 to 1000000, not '-1'")]
    [InlineData("lock --timeout abc nfs://h/f -- true", "--timeout must be a number of seconds")]
    public async Task Parse_errors_exit_2_with_one_line(string commandLine, string expected)
    {
        var run = await RunAsync(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Single(run.ErrLines);
        Assert.StartsWith("nfsns: ", run.Err);
        Assert.Contains(expected, run.Err);
        Assert.Contains("--help')", run.Err);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task Verbose_adds_the_stack_trace_after_the_one_line_message()
    {
        var run = await RunAsync(["-v", "cat", "nfs://127.0.0.1/x?netns=nfsns-no-such-namespace"]);
        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.StartsWith("nfsns: network namespace 'nfsns-no-such-namespace' does not exist", run.ErrLines[0]);
        Assert.True(run.ErrLines.Length > 2);
        Assert.Contains("NamespaceException", run.Err);
    }

    [Fact]
    public async Task Cancellation_is_reported_as_interrupted()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var run = await RunAsync(["ls", "nfs://h/e"], cancelled.Token);
        Assert.Equal(ExitCodes.Interrupted, run.ExitCode);
        Assert.Equal("nfsns: interrupted", run.Err.TrimEnd());
    }

    [Fact]
    public async Task Version_prints_and_exits_0()
    {
        var run = await RunAsync(["--version"]);
        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.NotEmpty(run.Out.Trim());
    }

    public static TheoryData<Exception, int, string> Failures() => new()
    {
        { new IOException("read failed", new InvalidOperationException("connection reset")), ExitCodes.Failure, "nfsns: read failed: connection reset" },
        { new IOException("read failed: connection reset", new InvalidOperationException("connection reset")), ExitCodes.Failure, "nfsns: read failed: connection reset" },
        { new AggregateException(new TimeoutException("no reply")), ExitCodes.Failure, "nfsns: no reply" },
        { new InvalidOperationException("two\nlines"), ExitCodes.Failure, "nfsns: two lines" },
        { new UsageException("cp: nonsense"), ExitCodes.Usage, "nfsns: cp: nonsense" },
        { new NfsUrlException("nfs://x", "bad"), ExitCodes.Usage, "nfsns: invalid NFS URL 'nfs://x': bad" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Exceptions_map_to_exit_codes_and_one_line(Exception exception, int exitCode, string line)
    {
        var error = new StringWriter();
        Assert.Equal(exitCode, NfsNsCli.ReportFailure(exception, error, verbose: false, interrupted: false));
        Assert.Equal(line + Environment.NewLine, error.ToString());
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", null)]
    [InlineData("server:2049", "server", 2049)]
    [InlineData("::1", "::1", null)]
    [InlineData("[::1]:20048", "::1", 20048)]
    [InlineData("nfs://h:1/?mountport=20048", "h", 1)]
    public void Exports_takes_a_host_or_a_url(string text, string host, int? port)
    {
        var server = NfsNsCommandLine.ParseServer(text);
        Assert.Equal(host, server.Host);
        Assert.Equal(port, server.Port);
        Assert.Equal("/", server.Path);
    }

    [Fact]
    public void Global_options_are_defaults_that_a_url_overrides()
    {
        var global = new GlobalOptions("blue", 1000, 100, false);
        var plain = global.ApplyTo(NfsUrl.Parse("nfs://h/e"));
        Assert.Equal(("blue", 1000u, 100u), (plain.Netns, plain.Uid, plain.Gid));
        var own = global.ApplyTo(NfsUrl.Parse("nfs://h/e?netns=red&uid=0"));
        Assert.Equal(("red", 0u, 100u), (own.Netns, own.Uid, own.Gid));
        var local = FileLocation.Local("/tmp/x");
        Assert.Same(local, global.ApplyTo(local));
    }

    [Theory]
    [InlineData("nfs://h/e/f", true)]
    [InlineData("/tmp/f", false)]
    [InlineData("relative/f", false)]
    [InlineData("./nfs://odd", false)]
    public void File_locations_are_urls_or_local_paths(string text, bool remote)
    {
        var location = FileLocation.Parse(text);
        Assert.Equal(remote, location.IsRemote);
        Assert.Equal(remote ? NfsUrl.Parse(text).ToString() : text, location.ToString());
    }

    [Fact]
    public void Binary_output_without_a_stream_is_decoded_into_the_text_writer()
    {
        var output = new StringWriter();
        var console = new CliConsole(output, new StringWriter());
        console.Out.Write("head ");
        var stream = console.OpenBinaryOutput();
        byte[] bytes = "é€\n"u8.ToArray();
        foreach (byte b in bytes) stream.Write([b]); // UTF-8 sequences split across writes
        Assert.Equal("head é€\n", output.ToString());
    }
}
