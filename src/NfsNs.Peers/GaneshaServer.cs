using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NfsNs.Peers;

/// <summary>
/// nfs-ganesha (FSAL_VFS, NFSv3 + NFSv4.x over TCP, AUTH_SYS, no root squash) exporting one directory as
/// <c>127.0.0.1:/export</c> (or at <see cref="GaneshaOptions.BindAddress"/>) inside a <see cref="TestNamespace"/>,
/// with its own rpcbind (and, for NLM, rpc.statd).
/// Follows /work/shared/peers.md: every instance has a private <c>/run</c>, recovery and statd directory, so two
/// servers in two namespaces at the same address never meet through shared files.
/// </summary>
public sealed class GaneshaServer : IAsyncDisposable
{
    /// <summary>The default bind address (<see cref="GaneshaOptions.BindAddress"/>), where clients inside the namespace find it.</summary>
    public const string Address = "127.0.0.1";
    public const int RpcbindPort = 111;
    public const int Port = 2049;
    public const int MountPort = 20048;
    public const int NlmPort = 32803;
    public const int StatdPort = 32765;
    /// <summary>rpc.statd's source port for its own calls (SM_NOTIFY).</summary>
    public const int StatdOutgoingPort = 32766;
    /// <summary>The NFSv4 pseudo path of the export, which is also its NFSv3 MOUNT path (mount_path_pseudo).</summary>
    public const string PseudoPath = "/export";

    // RFC 1833 / RFC 1813 program numbers used as readiness probes.
    private const int NfsProgram = 100003, NsmProgram = 100024;
    private const string InitializedMessage = "NFS SERVER INITIALIZED";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    /// <summary>rpcbind and rpc.statd exit at once on SIGTERM; this only bounds the wait before SIGKILL.</summary>
    private static readonly TimeSpan HelperStopTimeout = TimeSpan.FromSeconds(5);

    private RpcbindDaemon? _rpcbind;
    private DaemonProcess? _statd, _ganesha;
    private bool _disposed;

    public TestNamespace Namespace { get; }
    /// <summary>The directory exported (absolute); files written here directly are visible at once (Attr_Expiration_Time = 0).</summary>
    public string ExportDirectory { get; }
    public GaneshaOptions Options { get; }
    /// <summary>Where ganesha's NFS, MOUNT and NLM listeners are bound (<see cref="GaneshaOptions.BindAddress"/>).</summary>
    public IPAddress BindAddress => Options.BindAddress;

    /// <summary>Config, logs, private /run, recovery and statd directories of this instance.</summary>
    public string StateDirectory { get; }
    public string ConfigPath => Path.Combine(StateDirectory, "ganesha.conf");
    /// <summary>ganesha's own log (<c>-L</c>); its stdout/stderr go to <c>ganesha.out</c> next to it.</summary>
    public string LogPath => Path.Combine(StateDirectory, "ganesha.log");
    private string PidFilePath => Path.Combine(StateDirectory, "ganesha.pid");
    private string RecoveryDirectory => Path.Combine(StateDirectory, "recovery");
    private string StatdDirectory => Path.Combine(StateDirectory, "statd");

    /// <summary>ganesha.nfsd's PID (it changes with <see cref="RestartAsync"/>).</summary>
    public int GaneshaPid => Running(_ganesha).Pid;
    public int RpcbindPid => (_rpcbind ?? throw new InvalidOperationException($"{this} is not running")).Pid;
    /// <summary>rpc.statd's PID, or null when NLM is not enabled.</summary>
    public int? StatdPid => _statd?.Pid;
    /// <summary>Every daemon process of this instance (rpcbind, rpc.statd, ganesha) that was started and not yet stopped.</summary>
    public IReadOnlyList<int> Pids =>
        [.. _rpcbind is null ? [] : new[] { _rpcbind.Pid }, .. new[] { _statd, _ganesha }.OfType<DaemonProcess>().Select(d => d.Pid)];

    private GaneshaServer(TestNamespace ns, string exportDirectory, GaneshaOptions options)
    {
        Namespace = ns;
        ExportDirectory = exportDirectory;
        Options = options;
        StateDirectory = Path.Combine(ns.StateDirectory, "ganesha");
    }

    /// <summary>
    /// Starts rpcbind, (rpc.statd,) and ganesha in <paramref name="ns"/> and returns once ganesha logged
    /// "NFS SERVER INITIALIZED" and answers NFSv3 NULL through rpcbind, or throws with the log tail after
    /// <see cref="GaneshaOptions.StartTimeout"/>. Whatever was started is stopped again when starting fails.
    /// </summary>
    public static async Task<GaneshaServer> StartAsync(TestNamespace ns, string exportDirectory, GaneshaOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        string export = Path.GetFullPath(exportDirectory);
        if (!Directory.Exists(export))
            throw new ArgumentException($"export directory '{export}' does not exist", nameof(exportDirectory));
        if (export.IndexOfAny(['"', '\n', '\r']) >= 0)
            throw new ArgumentException($"export directory '{export}' cannot be written in a ganesha config (quote or newline)", nameof(exportDirectory));
        options ??= GaneshaOptions.Default;
        if (options.BindAddress is not { AddressFamily: AddressFamily.InterNetwork })
            throw new ArgumentException($"ganesha's bind address '{options.BindAddress}' must be an IPv4 address", nameof(options));
        PeerTools.EnsureAvailable();

        var server = new GaneshaServer(ns, export, options);
        if (Directory.Exists(server.StateDirectory))
            throw new PeerException($"namespace {ns} already has a ganesha ({server.StateDirectory} exists): one per namespace, as all use port {Port}");
        try
        {
            Directory.CreateDirectory(server.RecoveryDirectory);
            await File.WriteAllTextAsync(server.ConfigPath, server.BuildConfig(), cancellationToken);
            await server.StartRpcbindAsync(cancellationToken);
            if (server.Options.EnableNlm) await server.StartStatdAsync(cancellationToken);
            await server.StartGaneshaAsync(cancellationToken);
            return server;
        }
        catch (Exception startFailure)
        {
            try
            {
                await server.DisposeAsync();
            }
            catch (Exception cleanupFailure)
            {
                throw new AggregateException($"starting {server} failed, and stopping what had started failed too",
                    startFailure, cleanupFailure);
            }
            throw;
        }
    }

    /// <summary>
    /// Stops ganesha (SIGTERM, then SIGKILL after <see cref="GaneshaOptions.StopTimeout"/>) and starts it again with
    /// the same config, rpcbind and statd; clients see their connections close and the server come back.
    /// </summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await StopGaneshaAsync();
        await StartGaneshaAsync(cancellationToken);
    }

    /// <summary>
    /// Resets every established TCP connection to ganesha's NFS port in the namespace (<c>ss -K</c>, which needs a
    /// kernel with CONFIG_INET_DIAG_DESTROY) while the server keeps running. Returns how many sockets were closed.
    /// </summary>
    /// <exception cref="NotSupportedException">The kernel cannot destroy sockets.</exception>
    public async Task<int> KillConnectionsAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string[] established = ["-t", "-n", "-H", "state", "established", $"sport = :{Port}"];
        var killed = (await Namespace.RunAsync("ss", established.Prepend("-K"), ProbeTimeout, cancellationToken)).EnsureSuccess();
        int count = CountLines(killed.Stdout);
        if (count > 0) return count;
        // ss -K lists only the sockets it destroyed and stays silent when the kernel refuses (EOPNOTSUPP).
        var remaining = (await Namespace.RunAsync("ss", established, ProbeTimeout, cancellationToken)).EnsureSuccess();
        if (CountLines(remaining.Stdout) > 0)
            throw new NotSupportedException(
                $"ss -K closed none of the connections to port {Port} in {Namespace}: the kernel lacks CONFIG_INET_DIAG_DESTROY");
        return 0;
    }

    private static int CountLines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>
    /// rpcbind in a private mount namespace whose /run is this instance's (peers.md, step 4: /run/rpcbind.sock and
    /// /run/rpcbind.lock are otherwise shared by all network namespaces); ganesha and statd join it later.
    /// </summary>
    private async Task StartRpcbindAsync(CancellationToken cancellationToken) =>
        _rpcbind = await RpcbindDaemon.StartAsync(Namespace, StateDirectory, Options.StartTimeout, cancellationToken);

    private async Task StartStatdAsync(CancellationToken cancellationToken)
    {
        foreach (string sub in new[] { "sm", "sm.bak" }) Directory.CreateDirectory(Path.Combine(StatdDirectory, sub));
        // rpc.statd drops root for the owner of its directory (user statd) and then must write there.
        (await ProcessRunner.RunAsync("chown", ["-R", "statd", StatdDirectory], ProbeTimeout, cancellationToken)).EnsureSuccess();
        _statd = StartInRpcbindNamespaces("rpc.statd", "statd.out",
            ["-F", "-L", "-P", StatdDirectory, "-p", Invariant(StatdPort), "-o", Invariant(StatdOutgoingPort)]);
        var statd = _statd;
        await WaitUntilReadyAsync(statd, _ => RpcProgramAnswersAsync(NsmProgram, 1, cancellationToken),
            "NSM (program 100024) registered with rpcbind", () => $"rpc.statd output:\n{statd.OutputTail()}", cancellationToken);
    }

    private async Task StartGaneshaAsync(CancellationToken cancellationToken)
    {
        // Each start appends to the same log: readiness only counts what this start wrote.
        long logStart = File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0;
        _ganesha = StartInRpcbindNamespaces("ganesha.nfsd", "ganesha.out",
            ["-F", "-f", ConfigPath, "-L", LogPath, "-p", PidFilePath]);
        var ganesha = _ganesha;
        await WaitUntilReadyAsync(ganesha,
            async _ => ReadLogFrom(logStart).Contains(InitializedMessage, StringComparison.Ordinal)
                       && await RpcProgramAnswersAsync(NfsProgram, 3, cancellationToken),
            $"'{InitializedMessage}' in its log and NFSv3 answering on {ProbeAddress}:{Port}",
            () => $"ganesha log {LogPath}:\n{ProcFs.Tail(LogPath)}\nganesha output:\n{ganesha.OutputTail()}", cancellationToken);
    }

    /// <summary>Runs a daemon in rpcbind's mount and network namespaces, so it sees the private /run; nsenter execs it.</summary>
    private DaemonProcess StartInRpcbindNamespaces(string program, string outputFile, string[] arguments)
    {
        string[] nsenter = ["--target", Invariant(RpcbindPid), "--mount", "--net", program, .. arguments];
        return DaemonProcess.Start($"{program} in {Namespace}", "nsenter", nsenter, Path.Combine(StateDirectory, outputFile));
    }

    private async Task WaitUntilReadyAsync(DaemonProcess daemon, Func<CancellationToken, Task<bool>> isReady, string readiness,
        Func<string> diagnostics, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (daemon.HasExited)
            {
                await daemon.DrainOutputAsync();
                throw new PeerException($"{daemon.Name} exited while starting ('{daemon.CommandLine}').\n{diagnostics()}");
            }
            if (await isReady(cancellationToken)) return;
            if (waited.Elapsed > Options.StartTimeout)
                throw new PeerException(
                    $"{daemon.Name} (PID {daemon.Pid}) was not ready ({readiness}) within {Options.StartTimeout.TotalSeconds:0.#} s.\n{diagnostics()}");
            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>rpcinfo inside the namespace: does (program, version) answer a NULL call over TCP via rpcbind?</summary>
    private Task<bool> RpcProgramAnswersAsync(int program, int version, CancellationToken cancellationToken) =>
        (_rpcbind ?? throw new InvalidOperationException($"{this} has no rpcbind"))
            .AnswersAsync(ProbeAddress, program, version, cancellationToken);

    /// <summary>
    /// Where a client inside the namespace reaches ganesha: its bind address, or loopback for the wildcard. ganesha
    /// registers its tcp services as 0.0.0.0 even when bound to one address, so rpcbind sends a client that asked at
    /// 127.0.0.1 to 127.0.0.1, where nothing listens then.
    /// </summary>
    public string ProbeAddress => BindAddress.Equals(IPAddress.Any) ? Address : BindAddress.ToString();

    private string ReadLogFrom(long offset)
    {
        const int MaxBytes = 1 << 20;
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Max(offset, stream.Length - MaxBytes), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }

    private string BuildConfig()
    {
        // Values from peers.md, section 6. Graceless: no grace period after a (re)start, so tests need not wait.
        return $$"""
            NFS_CORE_PARAM {
                Bind_Addr = {{BindAddress}};
                NFS_Port = {{Port}};
                MNT_Port = {{MountPort}};
                NLM_Port = {{NlmPort}};
                Enable_NLM = {{(Options.EnableNlm ? "true" : "false")}};
                Enable_RQUOTA = false;
                Enable_UDP = false;
                Protocols = 3, 4;
                mount_path_pseudo = true;
            }
            NFSV4 {
                Graceless = true;
                RecoveryBackend = fs;
                RecoveryRoot = "{{RecoveryDirectory}}";
                Only_Numeric_Owners = true;
            }
            NFS_KRB5 { Active_krb5 = false; }
            EXPORT {
                Export_Id = 1;
                Path = "{{ExportDirectory}}";
                Pseudo = {{PseudoPath}};
                Access_Type = {{(Options.ReadOnly ? "RO" : "RW")}};
                Squash = No_Root_Squash;
                SecType = sys;
                Protocols = 3, 4;
                Transports = TCP;
                Attr_Expiration_Time = 0;
                FSAL { Name = VFS; }
            }
            LOG {
                Default_Log_Level = EVENT;
                Components { DBUS = FATAL; }
            }

            """;
    }

    private async Task StopGaneshaAsync()
    {
        var ganesha = _ganesha;
        if (ganesha is null) return;
        await ganesha.StopAsync(LibC.SIGTERM, Options.StopTimeout);
        ganesha.Dispose();
        _ganesha = null;
    }

    /// <summary>Stops ganesha, then rpc.statd, then rpcbind (each by its PID), and removes the state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        var failures = new List<Exception>();
        await StopCollectingAsync(StopGaneshaAsync, failures);
        await StopCollectingAsync(() => StopHelperAsync(ref _statd), failures);
        await StopCollectingAsync(StopRpcbindAsync, failures);
        if (failures.Count > 0)
            throw new AggregateException($"stopping ganesha in {Namespace} left processes behind", failures);
        if (!TestNamespace.KeepState && Directory.Exists(StateDirectory))
            Directory.Delete(StateDirectory, recursive: true);
    }

    private static async Task StopCollectingAsync(Func<Task> stop, List<Exception> failures)
    {
        try { await stop(); }
        catch (Exception e) { failures.Add(e); }
    }

    private async Task StopRpcbindAsync()
    {
        var rpcbind = _rpcbind;
        _rpcbind = null;
        if (rpcbind is not null) await rpcbind.DisposeAsync();
    }

    private static Task StopHelperAsync(ref DaemonProcess? slot)
    {
        var daemon = slot;
        slot = null;
        return daemon is null ? Task.CompletedTask : StopAndDisposeAsync(daemon);

        static async Task StopAndDisposeAsync(DaemonProcess daemon)
        {
            await daemon.StopAsync(LibC.SIGTERM, HelperStopTimeout);
            daemon.Dispose();
        }
    }

    private DaemonProcess Running(DaemonProcess? daemon) =>
        daemon ?? throw new InvalidOperationException($"{this} is not running");

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => $"ganesha in {Namespace} exporting {ExportDirectory} as {BindAddress}:{PseudoPath}";
}
