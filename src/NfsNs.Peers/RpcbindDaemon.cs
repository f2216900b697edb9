using System.Diagnostics;

namespace NfsNs.Peers;

/// <summary>
/// A real <c>rpcbind -f</c> alone in a <see cref="TestNamespace"/>, for servers that register with it. Like
/// <see cref="GaneshaServer"/>'s, it runs in a private mount namespace whose /run is its own directory (peers.md,
/// step 4), so its /run/rpcbind.sock and lock never meet another instance's. Disposing stops it by its PID.
/// </summary>
public sealed class RpcbindDaemon : IAsyncDisposable
{
    public const string Address = "127.0.0.1";
    public const int Port = 111;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly DaemonProcess _process;
    private bool _disposed;

    private RpcbindDaemon(TestNamespace ns, DaemonProcess process, string stateDirectory)
    {
        Namespace = ns;
        _process = process;
        StateDirectory = stateDirectory;
    }

    public TestNamespace Namespace { get; }
    public int Pid => _process.Pid;
    /// <summary>Holds <c>run/</c> (rpcbind's /run) and <c>rpcbind.out</c>.</summary>
    public string StateDirectory { get; }

    /// <summary>Starts rpcbind and returns once rpcbind v4 answers on 127.0.0.1:111 inside the namespace.</summary>
    public static Task<RpcbindDaemon> StartAsync(TestNamespace ns, CancellationToken cancellationToken = default) =>
        StartAsync(ns, null, null, cancellationToken);

    /// <summary>
    /// As <see cref="StartAsync(TestNamespace, CancellationToken)"/>, keeping <c>run/</c> and the output under
    /// <paramref name="stateDirectory"/> (default: the namespace's <c>rpcbind/</c>), so that daemons started later with
    /// <c>nsenter --target PID --mount --net</c> (ganesha, rpc.statd) share this rpcbind's private /run.
    /// </summary>
    public static async Task<RpcbindDaemon> StartAsync(TestNamespace ns, string? stateDirectory, TimeSpan? startTimeout,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        string state = stateDirectory ?? Path.Combine(ns.StateDirectory, "rpcbind");
        var timeout = startTimeout ?? StartTimeout;
        string run = Path.Combine(state, "run");
        Directory.CreateDirectory(run);
        // setsid, ip, unshare and sh all exec, so the PID is rpcbind's own.
        const string Script = "mount --bind \"$1\" /run && exec rpcbind -f";
        var arguments = ns.ExecArguments("unshare", ["--mount", "--propagation", "private", "sh", "-c", Script, "sh", run]);
        var process = DaemonProcess.Start($"rpcbind in {ns}", "setsid", ["ip", .. arguments], Path.Combine(state, "rpcbind.out"));
        var daemon = new RpcbindDaemon(ns, process, state);
        try
        {
            var waited = Stopwatch.StartNew();
            while (!await daemon.AnswersAsync(100000, 4, cancellationToken))
            {
                if (process.HasExited)
                {
                    await process.DrainOutputAsync();
                    throw new PeerException($"rpcbind exited while starting ('{process.CommandLine}'):\n{process.OutputTail()}");
                }
                if (waited.Elapsed > timeout)
                    throw new PeerException($"rpcbind (PID {process.Pid}) was not ready (answering on {Address}:{Port}) within {timeout.TotalSeconds:0.#} s:\n{process.OutputTail()}");
                await Task.Delay(PollInterval, cancellationToken);
            }
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>rpcinfo -T tcp 127.0.0.1 PROGRAM VERSION</c> inside the namespace: is it registered and answering?</summary>
    public Task<bool> AnswersAsync(int program, int version, CancellationToken cancellationToken = default) =>
        AnswersAsync(Address, program, version, cancellationToken);

    /// <summary>
    /// <c>rpcinfo -T tcp ADDRESS PROGRAM VERSION</c> inside the namespace: asks rpcbind at <paramref name="address"/>
    /// (it listens on every address) and calls NULL where it points. rpcbind answers a wildcard registration with the
    /// address the question came to (rpcbind's RPCBPROC_GETADDR, RFC 1833), so a server bound to one address
    /// only answers when asked at that address.
    /// </summary>
    public async Task<bool> AnswersAsync(string address, int program, int version, CancellationToken cancellationToken = default)
    {
        try
        {
            var probe = await Namespace.RunAsync("rpcinfo", ["-T", "tcp", address, program.ToString(System.Globalization.CultureInfo.InvariantCulture),
                version.ToString(System.Globalization.CultureInfo.InvariantCulture)], ProbeTimeout, cancellationToken);
            return probe.Succeeded;
        }
        catch (PeerException)
        {
            return false; // the probe itself timed out
        }
    }

    /// <summary><c>rpcinfo -p 127.0.0.1</c> inside the namespace: the portmap v2 view of the registrations.</summary>
    public async Task<string> ListAsync(CancellationToken cancellationToken = default) =>
        (await Namespace.RunAsync("rpcinfo", ["-p", Address], ProbeTimeout, cancellationToken)).EnsureSuccess().Stdout;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            await _process.StopAsync(LibC.SIGTERM, StopTimeout);
        }
        finally
        {
            _process.Dispose();
        }
    }

    public override string ToString() => $"rpcbind (PID {Pid}) in {Namespace}";
}
