using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using NfsNs.Server;
using NfsNs.Server.FileSystem;
using NfsNs.Cli.Commands;
using NfsNs.Client;

namespace NfsNs.Cli;

/// <summary>
/// The command tree of <c>nfsns</c>: global options, every command with its arguments, options and help text, and
/// the binding of parse results to each command's options record. The commands' bodies live in Commands/.
/// </summary>
internal sealed class NfsNsCommandLine
{
    private readonly CliConsole _console;

    private readonly Option<string?> _netns = new("--netns")
    {
        Description = "Network namespace to reach servers through: a name under /run/netns, a path to an nsfs file, " +
                      "or pid:N. Default for every URL that has no netns= of its own",
        HelpName = "NAME|PATH|pid:N",
        Recursive = true,
    };

    private readonly Option<uint?> _uid = IdOption("--uid", "AUTH_SYS uid to send (default: your own); a URL's uid= wins");

    private readonly Option<uint?> _gid = IdOption("--gid", "AUTH_SYS gid to send (default: your own); a URL's gid= wins");

    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Say more; on failure also print the stack trace",
        Recursive = true,
    };

    /// <summary><c>--stats [text|json]</c>: print the mount table with per-procedure counters to stderr at exit.</summary>
    private readonly Option<string?> _stats = new("--stats")
    {
        Description = "At exit, print each mount's server, namespace and per-procedure counters to stderr (text, or json for scripts)",
        Recursive = true,
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>
    /// The root: a plain command named "nfsns" rather than a <see cref="RootCommand"/>, whose name would be the
    /// assembly's (NfsNs.Cli) in usage lines; it gets the same help and version options.
    /// </summary>
    public Command Root { get; }

    public NfsNsCommandLine(CliConsole console)
    {
        _console = console;
        _netns.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is string spec && NfsUrl.ValidateNetns(spec) is string error)
                result.AddError($"--netns: {error}");
        });

        Root = new Command("nfsns",
            "nfsns: an NFS client in which every connection belongs to a network namespace.\n" +
            "URLs look like nfs://host[:port]/export/path?netns=NAME&uid=N (see README.md for every argument).")
        {
            new HelpOption(), new VersionOption(), _netns, _uid, _gid, Verbose, _stats,
        };
        _stats.AcceptOnlyFromAmong("text", "json");
        AddLs();
        AddCat();
        AddCp();
        AddStat();
        AddMkdir();
        AddRm();
        AddRmdir();
        AddMv();
        AddLn();
        AddDf();
        AddExports();
        AddPing();
        AddLock();
        AddDemo();
        AddServe();
    }

    private GlobalOptions Globals(ParseResult result) =>
        new(result.GetValue(_netns), result.GetValue(_uid), result.GetValue(_gid), result.GetValue(Verbose));

    /// <summary>Adds <paramref name="command"/>; its action binds the parse result and runs the command body.</summary>
    private void Add<TOptions>(Command command, Func<ParseResult, GlobalOptions, TOptions> bind, Func<TOptions, CancellationToken, Task> run)
        where TOptions : CommandOptions =>
        Add(command, bind, async (options, cancellationToken) =>
        {
            await run(options, cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        });

    /// <summary>As above, for a command whose body decides the exit status (<c>lock</c> passes on its command's).</summary>
    private void Add<TOptions>(Command command, Func<ParseResult, GlobalOptions, TOptions> bind, Func<TOptions, CancellationToken, Task<int>> run)
        where TOptions : CommandOptions
    {
        command.SetAction(async (result, cancellationToken) =>
        {
            var options = bind(result, Globals(result));
            // "--stats" with no value means text; the option is absent when its result is null.
            string? statsFormat = result.GetResult(_stats) is { Implicit: false } ? result.GetValue(_stats) ?? "text" : null;
            using var statistics = statsFormat is null ? null : Output.MountStatistics.Start();
            try
            {
                return await run(options, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                statistics?.Print(_console.Error, json: statsFormat == "json");
            }
        });
        Root.Add(command);
    }

    // ---- argument and option factories ----

    private static Argument<NfsUrl> UrlArgument(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => ParseToken(result, NfsUrl.Parse),
    };

    private static Argument<FileLocation> LocationArgument(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result => ParseToken(result, FileLocation.Parse),
    };

    /// <summary>Turns a malformed value into a parse error (exit code 2) carrying the parser's one-line message.</summary>
    private static T? ParseToken<T>(ArgumentResult result, Func<string, T> parse) where T : class
    {
        if (result.Tokens.Count == 0) return null;
        try
        {
            return parse(result.Tokens[0].Value);
        }
        catch (Exception e) when (e is FormatException or UsageException)
        {
            result.AddError(e.Message);
            return null;
        }
    }

    /// <summary>
    /// A server for <c>exports</c>: <c>host</c>, <c>host:port</c>, <c>::1</c>, <c>[::1]:port</c> or a whole URL
    /// (whose query can carry netns=, mountport=…).
    /// </summary>
    internal static NfsUrl ParseServer(string text)
    {
        if (NfsUrl.LooksLikeNfsUrl(text)) return NfsUrl.Parse(text);
        bool bareIpv6 = !text.StartsWith('[') && text.Count(c => c == ':') > 1;
        return NfsUrl.Parse(bareIpv6 ? $"nfs://[{text}]/" : $"nfs://{text}/");
    }

    private static Option<uint?> IdOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "N",
        Recursive = true,
        CustomParser = result => (uint?)ParseNumber(result, name, 0, uint.MaxValue),
    };

    /// <summary>Plain decimal digits in a range; anything else is a parse error naming the option.</summary>
    private static long? ParseNumber(SymbolResult result, string name, long min, long max)
    {
        if (result.Tokens.Count == 0) return null;
        string text = result.Tokens[0].Value;
        if (text.Length is > 0 and <= 10 && text.All(char.IsAsciiDigit) &&
            long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max)
            return value;
        result.AddError($"{name} must be a number from {min} to {max}, not '{text}'");
        return null;
    }

    /// <summary>A number of seconds (decimals allowed) from 0 to <paramref name="max"/>; anything else is a parse error naming the option.</summary>
    private static double? ParseSeconds(SymbolResult result, string name, double max)
    {
        string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double seconds) && seconds >= 0 && seconds <= max)
            return seconds;
        result.AddError($"{name} must be a number of seconds from 0 to {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
        return null;
    }

    /// <summary>
    /// The value of an argument inside a validator, or null when it did not parse (its own error is already
    /// reported; asking for its value would throw).
    /// </summary>
    private static T? ValueOrNull<T>(CommandResult result, Argument<T> argument) where T : class
    {
        var argumentResult = result.GetResult(argument);
        if (argumentResult is null || argumentResult.Errors.Any()) return null;
        try
        {
            return argumentResult.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static Option<bool> Flag(string name, string alias, string description) =>
        new(name, alias) { Description = description };

    private static Option<bool> JsonFlag(string what) =>
        new("--json") { Description = $"Print {what} as JSON (camelCase names) instead of text" };

    // ---- commands ----

    private void AddLs()
    {
        var url = UrlArgument("URL", "Directory or file to list");
        var longFormat = Flag("--long", "-l", "One line per entry: mode, links, uid, gid, size, modification time, name");
        var recursive = Flag("--recursive", "-R", "List subdirectories recursively");
        var json = JsonFlag("the entries");
        Add(new Command("ls", "List a directory") { url, longFormat, recursive, json },
            (r, g) => new LsOptions
            {
                Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)),
                Long = r.GetValue(longFormat), Recursive = r.GetValue(recursive), Json = r.GetValue(json),
            },
            LsCommand.RunAsync);
    }

    private void AddCat()
    {
        var url = UrlArgument("URL", "File to print");
        Add(new Command("cat", "Write a file's contents to standard output") { url },
            (r, g) => new CatOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)) },
            CatCommand.RunAsync);
    }

    private void AddCp()
    {
        var source = LocationArgument("SRC", "File (or directory with -r) to copy: an nfs:// URL or a local path");
        var destination = LocationArgument("DST", "Where to copy to: an nfs:// URL or a local path");
        var recursive = Flag("--recursive", "-r", "Copy directories and their contents");
        var command = new Command("cp", "Copy files to, from or between NFS servers (a progress bar is shown on a terminal)")
        {
            source, destination, recursive,
        };
        command.Validators.Add(result =>
        {
            if (ValueOrNull(result, source) is { IsRemote: false } && ValueOrNull(result, destination) is { IsRemote: false })
                result.AddError("cp: SRC or DST must be an nfs:// URL (both are local paths)");
        });
        Add(command,
            (r, g) => new CpOptions
            {
                Global = g, Console = _console, Recursive = r.GetValue(recursive),
                Source = g.ApplyTo(r.GetRequiredValue(source)), Destination = g.ApplyTo(r.GetRequiredValue(destination)),
            },
            CpCommand.RunAsync);
    }

    private void AddStat()
    {
        var url = UrlArgument("URL", "File or directory");
        var json = JsonFlag("the attributes");
        Add(new Command("stat", "Show a file's attributes") { url, json },
            (r, g) => new StatOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)), Json = r.GetValue(json) },
            StatCommand.RunAsync);
    }

    private void AddMkdir()
    {
        var url = UrlArgument("URL", "Directory to create");
        var parents = Flag("--parents", "-p", "Create missing parent directories; no error if the directory exists");
        Add(new Command("mkdir", "Create a directory") { url, parents },
            (r, g) => new MkdirOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)), Parents = r.GetValue(parents) },
            MkdirCommand.RunAsync);
    }

    private void AddRm()
    {
        var url = UrlArgument("URL", "File to remove");
        var recursive = Flag("--recursive", "-r", "Remove a directory and everything in it");
        Add(new Command("rm", "Remove a file") { url, recursive },
            (r, g) => new RmOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)), Recursive = r.GetValue(recursive) },
            RmCommand.RunAsync);
    }

    private void AddRmdir()
    {
        var url = UrlArgument("URL", "Empty directory to remove");
        Add(new Command("rmdir", "Remove an empty directory") { url },
            (r, g) => new RmdirOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)) },
            RmdirCommand.RunAsync);
    }

    private void AddMv()
    {
        var source = UrlArgument("SRC", "File or directory to rename");
        var destination = UrlArgument("DST", "New name, on the same server and export");
        Add(new Command("mv", "Rename a file or directory on one server") { source, destination },
            (r, g) => new MvOptions
            {
                Global = g, Console = _console,
                Source = g.ApplyTo(r.GetRequiredValue(source)), Destination = g.ApplyTo(r.GetRequiredValue(destination)),
            },
            MvCommand.RunAsync);
    }

    private void AddLn()
    {
        var target = new Argument<string>("TARGET")
        {
            Description = "With -s: the text the symbolic link holds (any path). Without: URL of the existing file",
        };
        var link = UrlArgument("LINKURL", "The link to create");
        var symbolic = Flag("--symbolic", "-s", "Create a symbolic link instead of a hard link");
        var command = new Command("ln", "Create a hard link, or a symbolic link with -s") { target, link, symbolic };
        command.Validators.Add(result =>
        {
            if (result.GetValue(symbolic) || ValueOrNull(result, target) is not string text) return;
            if (!NfsUrl.LooksLikeNfsUrl(text))
            {
                result.AddError($"ln: TARGET '{text}' of a hard link must be an nfs:// URL (use -s for a symbolic link)");
                return;
            }
            try
            {
                NfsUrl.Parse(text);
            }
            catch (NfsUrlException e)
            {
                result.AddError(e.Message);
            }
        });
        Add(command,
            (r, g) =>
            {
                bool isSymbolic = r.GetValue(symbolic);
                string text = r.GetRequiredValue(target);
                return new LnOptions
                {
                    Global = g, Console = _console, Symbolic = isSymbolic, Target = text,
                    TargetUrl = isSymbolic ? null : g.ApplyTo(NfsUrl.Parse(text)),
                    Link = g.ApplyTo(r.GetRequiredValue(link)),
                };
            },
            LnCommand.RunAsync);
    }

    private void AddDf()
    {
        var url = UrlArgument("URL", "Any path on the file system");
        var json = JsonFlag("the figures");
        Add(new Command("df", "Show size and free space of a file system") { url, json },
            (r, g) => new DfOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)), Json = r.GetValue(json) },
            DfCommand.RunAsync);
    }

    private void AddServe()
    {
        var directory = new Argument<string?>("DIR") { Description = "Directory to export (not with --memory)", Arity = ArgumentArity.ZeroOrOne };
        var export = new Option<string>("--export") { Description = "Path clients mount", DefaultValueFactory = _ => "/export" };
        var address = new Option<IPAddress>("--address")
        {
            Description = "Address to listen on (in the --netns namespace)",
            DefaultValueFactory = _ => IPAddress.Loopback,
            CustomParser = result => IPAddress.TryParse(result.Tokens[0].Value, out var parsed) ? parsed
                : throw new UsageException($"--address: '{result.Tokens[0].Value}' is not an IP address"),
        };
        var port = new Option<int>("--port") { Description = "NFS port", DefaultValueFactory = _ => 2049 };
        var mountPort = new Option<int>("--mount-port") { Description = "MOUNT port", DefaultValueFactory = _ => 20048 };
        var readOnly = new Option<bool>("--read-only") { Description = "Refuse every change (NFS3ERR_ROFS)" };
        var squash = new Option<string>("--squash")
        {
            Description = "Map root (root, the default) or every caller (all) to the anonymous user, or nobody (none)",
            DefaultValueFactory = _ => "root",
        };
        squash.AcceptOnlyFromAmong("root", "all", "none");
        var anonUid = new Option<uint>("--anonuid") { Description = "uid of the anonymous user", DefaultValueFactory = _ => 65534 };
        var anonGid = new Option<uint>("--anongid") { Description = "gid of the anonymous user", DefaultValueFactory = _ => 65534 };
        var allow = new Option<string[]>("--allow")
        {
            Description = "Client network allowed to mount (CIDR, repeatable; default: everyone)",
            AllowMultipleArgumentsPerToken = false,
        };
        var memory = new Option<bool>("--memory") { Description = "Serve an empty in-memory file system instead of DIR" };
        var exportsFile = new Option<string?>("--exports")
        {
            Description = "Serve the exports listed in FILE (lines of PATH DIRECTORY|memory OPTIONS; see README) instead of DIR",
            HelpName = "FILE",
        };
        var rpcbind = new Option<string>("--rpcbind")
        {
            Description = "Answer portmap/rpcbind on port 111 ourselves (embedded), register with the rpcbind already running " +
                          "in the namespace (external), or neither (none)",
            DefaultValueFactory = _ => "embedded",
        };
        rpcbind.AcceptOnlyFromAmong("embedded", "external", "none");
        var noLocking = new Option<bool>("--no-locking") { Description = "Serve no byte-range locks (no NLM and NSM): lock requests fail, kernel clients need nolock" };
        var stateDir = new Option<string?>("--state-dir")
        {
            Description = "Where the lock manager keeps its NSM state and monitored clients across restarts " +
                          "(default: per namespace under /var/lib/nfsns or $XDG_STATE_HOME/nfsns)",
            HelpName = "DIR",
        };
        var grace = new Option<double>("--grace")
        {
            Description = "Seconds after a restart during which only lock reclaims are accepted",
            DefaultValueFactory = _ => NfsServerOptions.DefaultGracePeriod.TotalSeconds,
            HelpName = "SECONDS",
            CustomParser = result => ParseSeconds(result, "--grace", 3600) ?? 0,
        };
        var noLockingConflicts = new Option[] { stateDir, grace };
        var command = new Command("serve", "Serve a directory over NFSv3 (with MOUNT, NLM locking and portmap) until interrupted")
        {
            directory, export, address, port, mountPort, readOnly, squash, anonUid, anonGid, allow, memory, exportsFile, rpcbind,
            noLocking, stateDir, grace,
        };
        Option[] singleExportOptions = [export, readOnly, squash, anonUid, anonGid, allow, memory];
        command.Validators.Add(result =>
        {
            if (result.GetValue(memory) && result.GetResult(directory) is { Tokens.Count: > 0 })
                result.AddError("serve: give DIR or --memory, not both (--memory serves an empty in-memory file system)");
            if (result.GetValue(noLocking) && noLockingConflicts.FirstOrDefault(o => result.GetResult(o) is { Implicit: false }) is { } conflicting)
                result.AddError($"serve: {conflicting.Name} configures locking, which --no-locking turns off");
        });
        Add(command,
            (r, g) => new ServeOptions
            {
                ExportsFile = r.GetValue(exportsFile) is { } file
                    && (r.GetValue(directory) is not null || singleExportOptions.Any(o => r.GetResult(o) is { Implicit: false }))
                    ? throw new UsageException("--exports FILE replaces DIR, --memory, --export, --read-only, --squash, --anonuid, " +
                        "--anongid and --allow: give those per export in the file")
                    : r.GetValue(exportsFile),
                Rpcbind = r.GetValue(rpcbind) switch { "external" => RpcbindMode.External, "none" => RpcbindMode.None, _ => RpcbindMode.Embedded },
                Global = g,
                Console = _console,
                Directory = r.GetValue(directory),
                ExportPath = r.GetValue(export) ?? "/export",
                Address = r.GetValue(address) ?? IPAddress.Loopback,
                Port = r.GetValue(port),
                MountPort = r.GetValue(mountPort),
                ReadOnly = r.GetValue(readOnly),
                Squash = r.GetValue(squash) switch { "all" => SquashMode.All, "none" => SquashMode.None, _ => SquashMode.Root },
                AnonymousUid = r.GetValue(anonUid),
                AnonymousGid = r.GetValue(anonGid),
                Allow = [.. (r.GetValue(allow) ?? []).Select(ParseNetwork)],
                Memory = r.GetValue(memory),
                Locking = !r.GetValue(noLocking),
                StateDirectory = r.GetValue(stateDir),
                GracePeriod = TimeSpan.FromSeconds(r.GetValue(grace)),
            },
            ServeCommand.RunAsync);
    }

    private static IPNetwork ParseNetwork(string text) =>
        IPNetwork.TryParse(text, out var network) ? network
        : IPAddress.TryParse(text, out var address) ? new IPNetwork(address, address.GetAddressBytes().Length * 8)
        : throw new UsageException($"--allow: '{text}' is not a network (CIDR like 10.0.0.0/8) or an address");

    private void AddExports()
    {
        var host = new Argument<NfsUrl>("HOST")
        {
            Description = "Server: host, host:port, an IPv6 address, or nfs://host/?netns=…&mountport=…",
            CustomParser = result => ParseToken(result, ParseServer),
        };
        var json = JsonFlag("the exports");
        Add(new Command("exports", "List a server's exports") { host, json },
            (r, g) => new ExportsOptions { Global = g, Console = _console, Server = g.ApplyTo(r.GetRequiredValue(host)), Json = r.GetValue(json) },
            ExportsCommand.RunAsync);
    }

    private void AddPing()
    {
        var url = UrlArgument("URL", "Server to call (the path is not used)");
        var count = new Option<int>("--count", "-c")
        {
            Description = $"Number of NULL calls (1 to {PingOptions.MaxCount})",
            DefaultValueFactory = _ => PingOptions.DefaultCount,
            CustomParser = result => (int)(ParseNumber(result, "--count", 1, PingOptions.MaxCount) ?? 0),
        };
        Add(new Command("ping", "Call the NFS NULL procedure and print round-trip times") { url, count },
            (r, g) => new PingOptions { Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)), Count = r.GetValue(count) },
            PingCommand.RunAsync);
    }

    private void AddLock()
    {
        var url = UrlArgument("URL", "File to lock (created if missing, as flock(1) does)");
        var command = new Argument<string[]>("COMMAND")
        {
            Description = "Command and arguments to run while the lock is held (after --)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var shared = Flag("--shared", "-s", "Take a shared (read) lock instead of an exclusive one");
        var wait = new Option<bool>("--wait") { Description = "Wait for a conflicting lock to be released (the default)" };
        var noWait = Flag("--nowait", "-n", "Fail (exit 1) instead of waiting when the range is locked");
        var timeout = new Option<double?>("--timeout", "-w")
        {
            Description = "Wait at most this many seconds, then fail with exit status 1",
            HelpName = "SECONDS",
            CustomParser = result => ParseSeconds(result, "--timeout", 1_000_000),
        };
        var range = new Option<string?>("--range")
        {
            Description = "Byte range to lock, OFFSET[:LENGTH] in bytes (no LENGTH or 0 = to the end of the file; default the whole file)",
            HelpName = "OFFSET[:LENGTH]",
        };
        range.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is not string text) return;
            try { LockOptions.ParseRange(text); }
            catch (UsageException e) { result.AddError(e.Message); }
        });
        var test = Flag("--test", "-t", "Take no lock and run nothing: print who holds a conflicting lock, exit 0 if nobody does and 1 if somebody does");
        var json = JsonFlag("the --test result");
        var lockCommand = new Command("lock",
            "Run a command while holding an NLM lock on a remote file, like flock(1): nfsns lock URL -- COMMAND [ARGS]; " +
            "exits with the command's status")
        { url, command, shared, wait, noWait, timeout, range, test, json };
        lockCommand.Validators.Add(result =>
        {
            bool testing = result.GetValue(test);
            int words = result.GetResult(command)?.Tokens.Count ?? 0;
            if (!testing && words == 0) result.AddError("lock: give the command to run after the URL, e.g. nfsns lock URL -- make");
            if (words > 0 && result.GetResult(command)!.Tokens[0].Value.Length == 0) result.AddError("lock: the command to run is an empty string");
            if (testing && words > 0) result.AddError("lock: --test runs no command");
            if (result.GetValue(wait) && result.GetValue(noWait)) result.AddError("lock: --wait and --nowait contradict each other");
            if (result.GetValue(noWait) && result.GetResult(timeout) is not null) result.AddError("lock: --timeout needs waiting; drop --nowait");
            if (!testing && result.GetValue(json)) result.AddError("lock: --json goes with --test (a locked command's output is its own)");
        });
        Add(lockCommand,
            (r, g) =>
            {
                var (offset, length) = r.GetValue(range) is string text ? LockOptions.ParseRange(text) : (0L, 0L);
                return new LockOptions
                {
                    Global = g, Console = _console, Url = g.ApplyTo(r.GetRequiredValue(url)),
                    // --timeout 0 tries once, as flock(1)'s -w 0 does (a deadline that passed already would never even ask).
                    Command = r.GetValue(command) ?? [], Shared = r.GetValue(shared), Wait = !r.GetValue(noWait) && r.GetValue(timeout) is not 0.0,
                    Timeout = r.GetValue(timeout) is double seconds and > 0 ? TimeSpan.FromSeconds(seconds) : null,
                    Offset = offset, Length = length, Test = r.GetValue(test), Json = r.GetValue(json),
                };
            },
            LockCommand.RunAsync);
    }

    private void AddDemo()
    {
        Add(new Command("demo",
                "Show the problem nfsns solves: two network namespaces, one address (127.0.0.1), two NFS servers with " +
                "different files; nfsns reaches each through its namespace. Needs root"),
            (_, g) => new DemoOptions { Global = g, Console = _console },
            DemoCommand.RunAsync);
    }
}
