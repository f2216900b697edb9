using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using NfsNs.Namespaces;
using NfsNs.Rpc;
using NfsNs.Rpc.Server;
using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

/// <summary>
/// A test program (number <see cref="Number"/>, versions 1 and 2) whose procedures echo, wait at a gate, fail or
/// count, and a server serving it on 127.0.0.1 port 0.
/// </summary>
public sealed class TestRpcProgram
{
    public const uint Number = 0x2000_0001;
    public const uint Echo = 1, Slow = 2, Fail = 3, CountCalls = 4, EchoOpaque = 5;

    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _slowRunning, _maxSlowRunning, _counted;

    public RpcProgram Program { get; }

    public TestRpcProgram(params RpcAuthFlavor[] flavors)
    {
        Program = new RpcProgram(Number, flavors);
        foreach (uint version in new uint[] { 1, 2 })
        {
            Program
                .On(version, 0, (call, ct) => { call.DecodeArguments(XdrVoid.Read); return RpcReplyStatus.SuccessTask; })
                .On(version, Echo, UInt32Value.Decoder, (call, value, ct) => { call.Results.WriteUInt32(value); return RpcReplyStatus.SuccessTask; })
                .On(version, Slow, UInt32Value.Decoder, SlowAsync)
                .On(version, Fail, (call, ct) => throw new InvalidOperationException("the test handler fails on purpose"))
                .On(version, CountCalls, UInt32Value.Decoder, CountAsync, nonIdempotent: true)
                .On(version, EchoOpaque, (ref XdrReader r) => r.ReadOpaqueMemory(16 * 1024 * 1024), (call, data, ct) =>
                {
                    call.Results.WriteOpaque(data.Span);
                    return RpcReplyStatus.SuccessTask;
                });
        }
    }

    public int SlowRunning => Volatile.Read(ref _slowRunning);
    public int MaxSlowRunning => Volatile.Read(ref _maxSlowRunning);
    /// <summary>How many times CountCalls actually ran.</summary>
    public int Counted => Volatile.Read(ref _counted);

    /// <summary>Lets every waiting (and future) Slow and CountCalls call finish.</summary>
    public void OpenGate() => _gate.TrySetResult();

    private async ValueTask<RpcReplyStatus> SlowAsync(RpcCallContext call, uint value, CancellationToken ct)
    {
        int running = Interlocked.Increment(ref _slowRunning);
        int max;
        while (running > (max = Volatile.Read(ref _maxSlowRunning)) && Interlocked.CompareExchange(ref _maxSlowRunning, running, max) != max)
        {
        }
        try
        {
            await _gate.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        }
        finally
        {
            Interlocked.Decrement(ref _slowRunning);
        }
        call.Results.WriteUInt32(value);
        return RpcReplyStatus.Success;
    }

    private async ValueTask<RpcReplyStatus> CountAsync(RpcCallContext call, uint value, CancellationToken ct)
    {
        int count = Interlocked.Increment(ref _counted);
        if (value == 1) await _gate.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        call.Results.WriteUInt32((uint)count);
        return RpcReplyStatus.Success;
    }
}

/// <summary>An <see cref="RpcServer"/> on 127.0.0.1 (port 0) in the test process's namespace, with its log captured.</summary>
public sealed class RpcServerHarness : IAsyncDisposable
{
    public ConcurrentQueue<string> LogLines { get; } = new();
    public RpcServer Server { get; }
    public IPEndPoint EndPoint { get; }
    public TestRpcProgram Test { get; }

    public RpcServerHarness(RpcServerOptions? options = null, TestRpcProgram? program = null, ISocketFactory? sockets = null)
    {
        Test = program ?? new TestRpcProgram();
        Server = new RpcServer(sockets ?? TestSockets.ProcessNamespace, (options ?? RpcServerOptions.Default) with { Log = LogLines.Enqueue });
        Server.Register(Test.Program);
        EndPoint = Server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public RpcConnection Connect(RpcConnectionOptions? options = null) => new(TestSockets.ProcessNamespace, EndPoint, options ?? RpcTestHelpers.Fast);

    public Task<uint> CallUInt32(RpcConnection connection, uint procedure, uint value, uint version = 1, RpcCredentials? credentials = null) =>
        connection.CallAsync(TestRpcProgram.Number, version, procedure, credentials ?? RpcCredentials.None, new UInt32Value(value), UInt32Value.Decoder, CancellationToken.None);

    public async Task<RawRpcClient> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(EndPoint);
        return new RawRpcClient(socket);
    }

    public string Log => string.Join('\n', LogLines);

    public async ValueTask DisposeAsync()
    {
        Test.OpenGate();
        await Server.DisposeAsync();
    }
}

/// <summary>A client that writes bytes as given (any fragmentation, any garbage) and reads whole reply records.</summary>
public sealed class RawRpcClient : IDisposable
{
    private readonly RecordReader _reader;

    public RawRpcClient(Socket socket)
    {
        Socket = socket;
        _reader = new RecordReader(socket, 32 * 1024 * 1024);
    }

    public Socket Socket { get; }

    /// <summary>The body of a call record (no marker): header with AUTH_NONE, then <paramref name="writeArgs"/>.</summary>
    public static byte[] CallBody(uint xid, uint program, uint version, uint procedure, Action<XdrWriter>? writeArgs = null,
        RpcCredentials? credentials = null, uint rpcVersion = Rpc.Rpc.Version)
    {
        using var buffer = new PooledBufferWriter();
        var writer = new XdrWriter(buffer);
        Rpc.Rpc.WriteCallHeader(writer, xid, program, version, procedure, credentials ?? RpcCredentials.None);
        writeArgs?.Invoke(writer);
        var body = buffer.WrittenSpan.ToArray();
        if (rpcVersion != Rpc.Rpc.Version)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(8), rpcVersion);
        return body;
    }

    /// <summary>Sends <paramref name="body"/> as fragments of the given sizes; whatever is left goes in a last fragment.</summary>
    public async Task SendFragmentsAsync(byte[] body, params int[] fragmentSizes)
    {
        int offset = 0;
        var sizes = new List<int>(fragmentSizes);
        if (sizes.Sum() < body.Length) sizes.Add(body.Length - sizes.Sum());
        for (int i = 0; i < sizes.Count; i++)
        {
            var fragment = new byte[RecordMarking.MarkerLength + sizes[i]];
            RecordMarking.WriteMarker(fragment, sizes[i], i == sizes.Count - 1);
            body.AsSpan(offset, sizes[i]).CopyTo(fragment.AsSpan(RecordMarking.MarkerLength));
            offset += sizes[i];
            await SendAsync(fragment);
        }
    }

    public Task SendRecordAsync(byte[] body) => SendFragmentsAsync(body, body.Length);

    public async Task SendAsync(byte[] bytes)
    {
        int sent = 0;
        while (sent < bytes.Length) sent += await Socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    /// <summary>The next reply record's bytes; fails the test if none comes within 10 s.</summary>
    public async Task<byte[]> ReadReplyAsync()
    {
        using var record = await _reader.ReadRecordAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))
            ?? throw new InvalidOperationException("the server closed the connection instead of replying");
        return record.Memory.ToArray();
    }

    /// <summary>True when the server closed the connection (no record, end of stream or reset) within 10 s.</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        try
        {
            using var record = await _reader.ReadRecordAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            return record is null;
        }
        catch (Exception e) when (e is RpcConnectionException or SocketException)
        {
            return true;
        }
    }

    public void Dispose()
    {
        Socket.Dispose();
        _reader.Dispose();
    }
}

/// <summary>A reply record decoded field by field (RFC 5531 §9), for checking exactly what the server sent.</summary>
public sealed record DecodedReply(uint Xid, RpcReplyStat ReplyStat, RpcAcceptStat AcceptStat, RpcRejectStat RejectStat,
    RpcAuthStat AuthStat, uint Low, uint High, byte[] Results)
{
    public static DecodedReply Parse(byte[] record)
    {
        var r = new XdrReader(record);
        uint xid = r.ReadUInt32();
        Assert.Equal((uint)RpcMessageType.Reply, r.ReadUInt32());
        var replyStat = (RpcReplyStat)r.ReadUInt32();
        if (replyStat == RpcReplyStat.Accepted)
        {
            var verifier = OpaqueAuth.Read(ref r);
            Assert.Equal(RpcAuthFlavor.None, verifier.Flavor);
            var accept = (RpcAcceptStat)r.ReadUInt32();
            uint low = 0, high = 0;
            if (accept == RpcAcceptStat.ProgMismatch)
            {
                low = r.ReadUInt32();
                high = r.ReadUInt32();
            }
            var rest = record.AsSpan(r.Position).ToArray();
            if (accept != RpcAcceptStat.Success) Assert.Empty(rest);
            return new DecodedReply(xid, replyStat, accept, default, default, low, high, rest);
        }
        var reject = (RpcRejectStat)r.ReadUInt32();
        if (reject == RpcRejectStat.RpcMismatch)
        {
            uint low = r.ReadUInt32(), high = r.ReadUInt32();
            r.EnsureFullyConsumed("rpc_mismatch");
            return new DecodedReply(xid, replyStat, default, reject, default, low, high, []);
        }
        var auth = (RpcAuthStat)r.ReadUInt32();
        r.EnsureFullyConsumed("auth_error");
        return new DecodedReply(xid, replyStat, default, reject, auth, 0, 0, []);
    }
}
