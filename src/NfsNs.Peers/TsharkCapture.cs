using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace NfsNs.Peers;

/// <summary>What a finished capture holds.</summary>
/// <param name="MalformedPackets">tshark's lines for packets it flags <c>_ws.malformed</c>; empty when the wire is well-formed.</param>
/// <param name="RpcCalls">RPC call messages (several may share one packet).</param>
/// <param name="RpcReplies">RPC reply messages.</param>
/// <param name="Dropped">Packets the kernel dropped for want of buffer (tcpdump's count), null when unknown (a file analysed on its own).</param>
public sealed record CaptureSummary(string File, int Packets, int RpcPackets, int RpcCalls, int RpcReplies,
    IReadOnlyList<string> MalformedPackets, int? Dropped = null)
{
    public bool IsWellFormed => MalformedPackets.Count == 0;
}

/// <summary>One packet carrying RPC, as tshark decodes it; a field holds comma-separated values when the packet carries several messages.</summary>
/// <param name="MessageType">0 = CALL, 1 = REPLY (RFC 5531 msg_type).</param>
/// <param name="NfsProcedure">The NFSv3 procedure (nfs.procedure_v3) or NFSv4 one (nfs.procedure_v4), empty for other programs.</param>
public sealed record RpcPacket(long Frame, string MessageType, string Program, string Version, string Procedure, string NfsProcedure);

/// <summary>
/// A capture on <c>lo</c> inside a namespace (by tcpdump, see <see cref="StartAsync"/>), written to a pcap file, and
/// tshark as a wire-format oracle: after <see cref="StopAsync"/> it reports malformed packets and counts RPC messages.
/// </summary>
public sealed class TsharkCapture : IAsyncDisposable
{
    public const string DefaultFilter = "port 2049";

    /// <summary>Kernel capture buffer in MiB: the 2 MiB default drops segments at loopback speed (peers.md).</summary>
    public const int DefaultBufferMiB = 256;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    /// <summary>
    /// tcpdump stopped by SIGINT leaves packets it has not read yet from the kernel (seen on a busy machine: the
    /// last NFS exchange of an nfs-ls missing, no drop counted). It writes each packet through at once (-U), so a
    /// file that has stopped growing for this long means it has caught up.
    /// </summary>
    private static readonly TimeSpan QuietPeriod = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxCatchUpWait = TimeSpan.FromSeconds(10);

    private static int s_captureCount;

    private readonly DaemonProcess _capturer;
    private readonly IReadOnlyList<int> _rpcPorts;
    private CaptureSummary? _summary;

    public TestNamespace Namespace { get; }
    /// <summary>The capture filter (BPF syntax).</summary>
    public string Filter { get; }
    /// <summary>The pcapng file written.</summary>
    public string FilePath { get; }
    public int Pid => _capturer.Pid;

    private TsharkCapture(TestNamespace ns, string filter, string filePath, IReadOnlyList<int> rpcPorts, DaemonProcess capturer)
    {
        Namespace = ns;
        Filter = filter;
        FilePath = filePath;
        _rpcPorts = rpcPorts;
        _capturer = capturer;
    }

    /// <summary>
    /// Starts <c>tcpdump -i lo --immediate-mode -B BUFFER -U -w FILE FILTER</c> in <paramref name="ns"/> and returns
    /// once it prints "listening on". Why tcpdump and not <c>tshark -w</c>: without immediate mode libpcap uses a
    /// TPACKET_V3 ring that hands packets over a block at a time, when a block fills or its retire timer fires, and a
    /// capture stopped before that loses the block. On this machine (kernel 6.18, libpcap 1.10.3) that timer proved
    /// unreliable: light traffic (an nfs-ls) often never reached dumpcap, even 2 s later, whatever the buffer size.
    /// dumpcap 4.0 has no immediate mode; tcpdump's hands every packet over at once (TPACKET_V2), so the file is
    /// complete when it exits. tshark still decodes and judges the file.
    /// </summary>
    /// <param name="filter">Capture filter, BPF syntax.</param>
    /// <param name="filePath">Defaults to a new pcap file in the namespace's state directory.</param>
    /// <param name="rpcPorts">Further TCP ports to decode as ONC RPC when reading (tshark knows 2049 and 111).</param>
    /// <param name="bufferMiB">Kernel capture buffer; drops are reported in <see cref="CaptureSummary.Dropped"/>.</param>
    public static async Task<TsharkCapture> StartAsync(TestNamespace ns, string filter = DefaultFilter, string? filePath = null,
        IEnumerable<int>? rpcPorts = null, int bufferMiB = DefaultBufferMiB, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferMiB);
        PeerTools.EnsureAvailable();
        int number = Interlocked.Increment(ref s_captureCount);
        filePath = Path.GetFullPath(filePath ?? Path.Combine(ns.StateDirectory, $"capture-{number}.pcap"));
        string outputPath = Path.Combine(ns.StateDirectory, $"tcpdump-{number}.out");

        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // -B is in KiB; -U writes each packet through at once; -Z root keeps root so it can write anywhere we can.
        string[] arguments = ["-i", "lo", "--immediate-mode", "-B", (bufferMiB * 1024).ToString(CultureInfo.InvariantCulture),
            "-U", "-Z", "root", "-w", filePath, filter];
        var tcpdump = DaemonProcess.Start($"tcpdump in {ns}", "ip", ns.ExecArguments("tcpdump", arguments), outputPath,
            line => { if (line.Contains("listening on", StringComparison.Ordinal)) listening.TrySetResult(); });
        var capture = new TsharkCapture(ns, filter, filePath, rpcPorts?.ToList() ?? [], tcpdump);
        try
        {
            var waited = Stopwatch.StartNew();
            while (!listening.Task.IsCompleted)
            {
                if (tcpdump.HasExited)
                {
                    await tcpdump.DrainOutputAsync();
                    throw new PeerException($"{tcpdump.Name} exited before capturing ('{tcpdump.CommandLine}'):\n{tcpdump.OutputTail()}");
                }
                if (waited.Elapsed > StartTimeout)
                    throw new PeerException($"{tcpdump.Name} did not start capturing within {StartTimeout.TotalSeconds:0} s:\n{tcpdump.OutputTail()}");
                await Task.Delay(PollInterval, cancellationToken);
            }
            return capture;
        }
        catch
        {
            await capture.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Stops tcpdump (SIGINT by PID; SIGKILL after 10 s) and summarises the file with tshark: malformed packets
    /// (<c>-Y _ws.malformed</c>, must be none), RPC counts, and the packets the kernel dropped. Idempotent.
    /// </summary>
    public async Task<CaptureSummary> StopAsync(CancellationToken cancellationToken = default)
    {
        if (_summary is not null) return _summary;
        await WaitUntilCaughtUpAsync(cancellationToken);
        await _capturer.StopAsync(LibC.SIGINT, StopTimeout);
        await _capturer.DrainOutputAsync();
        var summary = await AnalyzeAsync(FilePath, _rpcPorts, cancellationToken);
        _summary = summary with { Dropped = ParseDropped(File.ReadAllText(_capturer.OutputPath)) };
        return _summary;
    }

    /// <summary>Every packet carrying RPC in the capture, decoded (the capture must be stopped).</summary>
    public Task<IReadOnlyList<RpcPacket>> ListRpcAsync(CancellationToken cancellationToken = default)
    {
        if (_summary is null) throw new InvalidOperationException("stop the capture before reading it");
        return ListRpcAsync(FilePath, _rpcPorts, cancellationToken);
    }

    /// <summary>Summarises a capture file: packet count, RPC messages, malformed packets.</summary>
    public static async Task<CaptureSummary> AnalyzeAsync(string file, IEnumerable<int>? rpcPorts = null,
        CancellationToken cancellationToken = default)
    {
        var ports = rpcPorts?.ToList() ?? [];
        var malformed = await ReadAsync(file, ports, ["-Y", "_ws.malformed"], cancellationToken);
        var frames = await ReadAsync(file, ports, ["-T", "fields", "-e", "frame.number", "-e", "rpc.msgtyp"], cancellationToken);
        int rpcPackets = 0, calls = 0, replies = 0;
        foreach (string line in frames)
        {
            string[] messageTypes = FieldsOf(line, 2)[1].Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (messageTypes.Length > 0) rpcPackets++;
            calls += messageTypes.Count(type => type == "0");
            replies += messageTypes.Count(type => type == "1");
        }
        return new CaptureSummary(file, frames.Count, rpcPackets, calls, replies, malformed);
    }

    /// <summary>Every packet carrying RPC in a capture file, decoded.</summary>
    public static async Task<IReadOnlyList<RpcPacket>> ListRpcAsync(string file, IEnumerable<int>? rpcPorts = null,
        CancellationToken cancellationToken = default)
    {
        string[] fields = ["frame.number", "rpc.msgtyp", "rpc.program", "rpc.programversion", "rpc.procedure", "nfs.procedure_v3", "nfs.procedure_v4"];
        var lines = await ReadFieldsAsync(file, "rpc", fields, rpcPorts, cancellationToken);
        return lines.Select(line =>
        {
            string[] f = FieldsOf(line, fields.Length);
            string nfsProcedure = f[5].Length > 0 ? f[5] : f[6];
            return new RpcPacket(long.Parse(f[0], CultureInfo.InvariantCulture), f[1], f[2], f[3], f[4], nfsProcedure);
        }).ToList();
    }

    /// <summary>
    /// <c>tshark -r FILE -Y FILTER -T fields -e …</c>: one tab-separated line per matching packet; a field with
    /// several occurrences in a packet has them comma-separated.
    /// </summary>
    public static Task<IReadOnlyList<string>> ReadFieldsAsync(string file, string displayFilter, IEnumerable<string> fields,
        IEnumerable<int>? rpcPorts = null, CancellationToken cancellationToken = default)
    {
        string[] arguments = ["-Y", displayFilter, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            .. fields.SelectMany(field => new[] { "-e", field })];
        return ReadAsync(file, rpcPorts?.ToList() ?? [], arguments, cancellationToken);
    }

    private static async Task<IReadOnlyList<string>> ReadAsync(string file, IReadOnlyList<int> rpcPorts, string[] arguments,
        CancellationToken cancellationToken)
    {
        if (!File.Exists(file)) throw new PeerException($"capture file {file} does not exist");
        string[] decodeAs = rpcPorts.SelectMany(port => new[] { "-d", $"tcp.port=={port},rpc" }).ToArray();
        var result = await ProcessRunner.RunAsync("tshark", ["-n", "-r", file, .. decodeAs, .. arguments], ReadTimeout, cancellationToken);
        return result.EnsureSuccess().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static string[] FieldsOf(string line, int count)
    {
        string[] fields = line.Split('\t');
        return fields.Length >= count ? fields : [.. fields, .. Enumerable.Repeat("", count - fields.Length)];
    }

    private async Task WaitUntilCaughtUpAsync(CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        var sinceGrowth = Stopwatch.StartNew();
        long size = -1;
        while (sinceGrowth.Elapsed < QuietPeriod && waited.Elapsed < MaxCatchUpWait && !_capturer.HasExited)
        {
            long now = File.Exists(FilePath) ? new FileInfo(FilePath).Length : 0;
            if (now != size)
            {
                size = now;
                sinceGrowth.Restart();
            }
            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>tcpdump's last words include "N packets dropped by kernel"; null when missing (e.g. it was killed).</summary>
    private static int? ParseDropped(string tcpdumpOutput)
    {
        Match dropped = Regex.Match(tcpdumpOutput, @"^(\d+) packets? dropped by kernel", RegexOptions.Multiline);
        return dropped.Success ? int.Parse(dropped.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Stops tcpdump if still running (without summarising) and releases it; the file stays.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _capturer.StopAsync(LibC.SIGINT, StopTimeout);
        }
        finally
        {
            _capturer.Dispose();
        }
    }

    public override string ToString() => $"capture in {Namespace} ({Filter}) → {FilePath}";
}
