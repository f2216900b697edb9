using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace NfsNs.Peers;

/// <summary>
/// A named network namespace (<c>ip netns add</c>) made for one test, demo or benchmark, with <c>lo</c> up, and a
/// state directory for the daemons run in it. Disposing deletes both; disposal tolerates a namespace already gone.
/// </summary>
public sealed partial class TestNamespace : IAsyncDisposable
{
    /// <summary>Where every namespace's state directory lives: <c>/tmp/nfsns-peers/NAME</c>.</summary>
    public const string StateRoot = "/tmp/nfsns-peers";

    /// <summary>Set to 1 to keep the state directories (configs, daemon logs, captures) after disposal, for debugging.</summary>
    public const string KeepStateVariable = "NFSNS_PEERS_KEEP";

    internal static bool KeepState => Environment.GetEnvironmentVariable(KeepStateVariable) == "1";

    private const int MaxNameAttempts = 5;
    private bool _disposed;

    public string Name { get; }

    /// <summary>The namespace's file, which <c>setns</c> and <c>NetworkNamespace.Open</c> accept.</summary>
    public string Path => $"/run/netns/{Name}";

    /// <summary>A directory for this namespace's daemons' configs, logs and captures; deleted with the namespace.</summary>
    public string StateDirectory => System.IO.Path.Combine(StateRoot, Name);

    private TestNamespace(string name) => Name = name;

    /// <summary>
    /// Creates <c>PREFIX-XXXXXX</c> (6 random hex digits), brings <c>lo</c> up and gives it the link-local address
    /// <c>fe80::1/64</c>: without any non-loopback IPv6 address ganesha cannot resolve <c>127.0.0.1</c> as a bind
    /// address and exits (see /work/shared/peers.md). Nothing is ever sent to that address.
    /// </summary>
    /// <param name="prefix">Lower-case letters, digits and '-', 1–32 characters, so leftovers are easy to attribute.</param>
    public static async Task<TestNamespace> CreateAsync(string prefix, CancellationToken cancellationToken = default)
    {
        if (!PrefixPattern().IsMatch(prefix))
            throw new ArgumentException($"namespace prefix '{prefix}' must be 1-32 characters of a-z, 0-9 and '-'", nameof(prefix));
        PeerTools.EnsureAvailable();

        TestNamespace? created = null;
        for (int attempt = 0; attempt < MaxNameAttempts && created is null; attempt++)
        {
            string name = $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
            var add = await Ip(cancellationToken, "netns", "add", name);
            if (add.Succeeded) created = new TestNamespace(name);
            else if (!File.Exists($"/run/netns/{name}")) add.EnsureSuccess(); // a real failure, not a name collision
        }
        if (created is null)
            throw new PeerException($"could not find a free namespace name with prefix '{prefix}' in {MaxNameAttempts} attempts");

        try
        {
            (await Ip(cancellationToken, "-n", created.Name, "link", "set", "lo", "up")).EnsureSuccess();
            (await Ip(cancellationToken, "-n", created.Name, "addr", "add", "fe80::1/64", "dev", "lo", "nodad")).EnsureSuccess();
            Directory.CreateDirectory(created.StateDirectory);
            return created;
        }
        catch
        {
            await created.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <paramref name="command"/> inside the namespace (<c>ip netns exec</c>) with a 30 s timeout.</summary>
    public Task<CommandResult> RunAsync(string command, params string[] arguments) =>
        RunAsync(command, arguments, ProcessRunner.DefaultTimeout);

    /// <summary>Runs <paramref name="command"/> inside the namespace; kills it and throws when it outlives the timeout.</summary>
    public Task<CommandResult> RunAsync(string command, IEnumerable<string> arguments, TimeSpan timeout,
        CancellationToken cancellationToken = default) =>
        ProcessRunner.RunAsync("ip", ExecArguments(command, arguments), timeout, cancellationToken);

    /// <summary>PIDs of the processes (zombies aside) whose network namespace this is (<c>ip netns pids</c>).</summary>
    public async Task<IReadOnlyList<int>> ProcessesInsideAsync(CancellationToken cancellationToken = default)
    {
        var pids = (await Ip(cancellationToken, "netns", "pids", Name)).EnsureSuccess();
        return pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(pid => int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    /// <summary>The arguments of <c>ip</c> that run <paramref name="command"/> in this namespace; <c>ip</c> execs it, so the PID is the command's.</summary>
    internal IEnumerable<string> ExecArguments(string command, IEnumerable<string> arguments) =>
        new[] { "netns", "exec", Name, command }.Concat(arguments);

    /// <summary>
    /// Deletes the namespace and its state directory. Processes still inside would keep it alive, unnamed: they are
    /// not signalled (only their starters know them), but reported by an exception after the deletion.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        IReadOnlyList<int> leftovers = [];
        if (File.Exists(Path))
        {
            leftovers = await ProcessesInsideAsync();
            var delete = await Ip(CancellationToken.None, "netns", "del", Name);
            if (!delete.Succeeded && File.Exists(Path)) delete.EnsureSuccess();
        }
        // rm, not Directory.Delete: an export in here may hold names that are not UTF-8, which .NET cannot name.
        if (!KeepState && Directory.Exists(StateDirectory))
            (await ProcessRunner.RunAsync("rm", ["-rf", "--", StateDirectory], ProcessRunner.DefaultTimeout)).EnsureSuccess();
        if (leftovers.Count > 0)
            throw new PeerException($"namespace {Name} was deleted while processes still ran inside: " +
                string.Join(", ", leftovers.Select(Describe)) + "; whoever started them must stop them first");
    }

    private static string Describe(int pid)
    {
        try { return $"{pid} ({File.ReadAllText($"/proc/{pid}/comm").Trim()})"; }
        catch (IOException) { return pid.ToString(System.Globalization.CultureInfo.InvariantCulture); }
    }

    public override string ToString() => Name;

    private static Task<CommandResult> Ip(CancellationToken cancellationToken, params string[] arguments) =>
        ProcessRunner.RunAsync("ip", arguments, ProcessRunner.DefaultTimeout, cancellationToken);

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex PrefixPattern();
}
