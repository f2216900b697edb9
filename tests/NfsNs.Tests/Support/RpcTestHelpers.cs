using System.Diagnostics;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

public static class RpcTestHelpers
{
    /// <summary>Options for scripted tests: short enough to keep tests fast, long enough not to fire by accident.</summary>
    public static RpcConnectionOptions Fast { get; } = new()
    {
        Timeout = TimeSpan.FromSeconds(5),
        // Tests shorten timeo to provoke retransmissions; a loopback connect delayed by a busy machine must not count.
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ReconnectDelay = TimeSpan.FromMilliseconds(10),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(100),
    };

    public static RpcConnection Connect(ScriptedRpcPeer peer, RpcConnectionOptions? options = null) =>
        new(TestSockets.ProcessNamespace, peer.EndPoint, options ?? Fast);

    /// <summary>NFS v3 procedure <paramref name="procedure"/> with a uint argument and a uint result (the scripted peer decides).</summary>
    public static Task<uint> CallUInt32(this RpcConnection connection, uint procedure, uint argument, CancellationToken cancellationToken = default) =>
        connection.CallAsync(RpcPrograms.Nfs, 3, procedure, RpcCredentials.None, new UInt32Value(argument), UInt32Value.Decoder, cancellationToken);

    public static Task<XdrVoid> CallNull(this RpcConnection connection, CancellationToken cancellationToken = default) =>
        connection.CallAsync(RpcPrograms.Nfs, 3, 0, RpcCredentials.None, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    /// <summary>
    /// Completes one answered call (connections are lazy), so the connection is up before a timing-sensitive part of
    /// a test; returns the server side of it.
    /// </summary>
    public static async Task<ScriptedConnection> WarmUp(RpcConnection connection, ScriptedRpcPeer peer)
    {
        var call = connection.CallNull();
        var server = await peer.AcceptAsync();
        await server.ReplyAsync(await server.ReadCallAsync());
        await call.Within();
        return server;
    }

    public static uint ReadUInt32Argument(this ScriptedCall call)
    {
        var reader = call.BodyReader();
        return reader.ReadUInt32();
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(5);
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > limit) Assert.Fail($"{what} did not happen within {limit.TotalSeconds} s");
            await Task.Delay(10);
        }
    }

    /// <summary>Awaits <paramref name="task"/> for at most <paramref name="timeout"/>, so a broken client fails the test instead of hanging it.</summary>
    public static async Task<T> Within<T>(this Task<T> task, TimeSpan? timeout = null) =>
        await task.WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
}
