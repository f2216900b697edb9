using System.Diagnostics;
using System.Globalization;
using System.Text;
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
/// <param name="Version">The program version; each value once (tshark repeats it in the NFS tree).</param>
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
    /// Before stopping, a marker datagram is sent to the discard port (RFC 863) on 127.0.0.1 inside the namespace,
    /// and tcpdump is stopped only once the marker is in the file. tcpdump stopped by SIGINT drops what it has not
    /// yet read from the kernel: seen on a busy machine, the whole NFS exchange at the end of an nfs-ls was missing
    /// and no drop was counted. Packets reach the file in order (-U writes each through), so everything captured
    /// before the marker is in the file when the marker is. Marker packets are left out of every read below.
    /// </summary>
    private const int MarkerPort = 9;
    private const string MarkerPrefix = "nfsns-capture-marker-";
    private static readonly string WithoutMarkers = $"!(udp.dstport == {MarkerPort} && frame contains \"{MarkerPrefix}\")";
    private static readonly TimeSpan MarkerWait = TimeSpan.FromSeconds(1);
    private const int MarkerAttempts = 10;

    private static int s_captureCount;

    private readonly DaemonProcess _capturer;
    private readonly IReadOnlyList<int> _rpcPorts;
    private CaptureSummary? _summary;
    private long _markerScanOffset;

    public TestNamespace Namespace { get; }
    /// <summary>The capture filter asked for (BPF syntax); the capture also takes the marker datagrams.</summary>
    public string Filter { get; }
    /// <summary>The pcap file written.</summary>
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
    /// <param name="interfaceName">Where to listen: <c>lo</c>, or <c>any</c> for a namespace reached over a veth.</param>
    public static async Task<TsharkCapture> StartAsync(TestNamespace ns, string filter = DefaultFilter, string? filePath = null,
        IEnumerable<int>? rpcPorts = null, int bufferMiB = DefaultBufferMiB, string interfaceName = "lo", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferMiB);
        PeerTools.EnsureAvailable();
        int number = Interlocked.Increment(ref s_captureCount);
        filePath = Path.GetFullPath(filePath ?? Path.Combine(ns.StateDirectory, $"capture-{number}.pcap"));
        string outputPath = Path.Combine(ns.StateDirectory, $"tcpdump-{number}.out");

        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // -B is in KiB; -U writes each packet through at once; -Z root keeps root so it can write anywhere we can.
        string[] arguments = ["-i", interfaceName, "--immediate-mode", "-B", (bufferMiB * 1024).ToString(CultureInfo.InvariantCulture),
            "-U", "-Z", "root", "-w", filePath, $"({filter}) or (udp and dst host 127.0.0.1 and dst port {MarkerPort})"];
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
    /// Waits until tcpdump has written everything sent so far (see <see cref="MarkerPort"/>), stops it (SIGINT by
    /// PID; SIGKILL after 10 s) and summarises the file with tshark: malformed packets
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
        var frames = await ReadAsync(file, ports, ["-Y", WithoutMarkers, "-T", "fields", "-e", "frame.number", "-e", "rpc.msgtyp"],
            cancellationToken);
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
            string version = string.Join(',', f[3].Split(',').Distinct());
            string nfsProcedure = f[5].Length > 0 ? f[5] : f[6];
            return new RpcPacket(long.Parse(f[0], CultureInfo.InvariantCulture), f[1], f[2], version, f[4], nfsProcedure);
        }).ToList();
    }

    /// <summary>
    /// <c>tshark -r FILE -Y FILTER -T fields -e …</c>: one tab-separated line per matching packet; a field with
    /// several occurrences in a packet has them comma-separated.
    /// </summary>
    public static Task<IReadOnlyList<string>> ReadFieldsAsync(string file, string displayFilter, IEnumerable<string> fields,
        IEnumerable<int>? rpcPorts = null, CancellationToken cancellationToken = default)
    {
        string[] arguments = ["-Y", $"({displayFilter}) && {WithoutMarkers}", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
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
        for (int attempt = 1; attempt <= MarkerAttempts && !_capturer.HasExited; attempt++)
        {
            string marker = $"{MarkerPrefix}{attempt}";
            // bash's /dev/udp sends one datagram from inside the namespace; nothing listens on the discard port.
            (await Namespace.RunAsync("bash", ["-c", $"printf %s \"$1\" > /dev/udp/127.0.0.1/{MarkerPort}", "bash", marker],
                StopTimeout, cancellationToken)).EnsureSuccess();
            var waited = Stopwatch.StartNew();
            while (waited.Elapsed < MarkerWait)
            {
                if (FileContainsFromScanOffset(Encoding.ASCII.GetBytes(marker))) return;
                await Task.Delay(PollInterval, cancellationToken);
            }
        }
        if (_capturer.HasExited)
            throw new PeerException($"{_capturer.Name} exited before it was stopped:\n{_capturer.OutputTail()}");
        throw new PeerException($"{_capturer.Name} did not write any of {MarkerAttempts} marker datagrams to {FilePath} " +
                                $"within {MarkerWait.TotalSeconds * MarkerAttempts:0} s: the capture is incomplete");
    }

    /// <summary>Searches the capture file for <paramref name="marker"/>, reading only what was added since the last search.</summary>
    private bool FileContainsFromScanOffset(byte[] marker)
    {
        if (!File.Exists(FilePath)) return false;
        using var stream = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var buffer = new byte[1 << 20];
        stream.Seek(_markerScanOffset, SeekOrigin.Begin);
        int carried = 0;
        while (true)
        {
            int read = stream.Read(buffer, carried, buffer.Length - carried);
            if (read == 0) return false;
            int length = carried + read;
            if (buffer.AsSpan(0, length).IndexOf(marker) >= 0) return true;
            // Keep the last bytes, in case a marker straddles two reads.
            carried = Math.Min(marker.Length - 1, length);
            buffer.AsSpan(length - carried, carried).CopyTo(buffer);
            _markerScanOffset = stream.Position - carried;
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
