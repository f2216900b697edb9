using System.Buffers;
using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Tests.Unit;

/// <summary>
/// An <see cref="IRpcCaller"/> that encodes the arguments to real XDR bytes, hands them with the procedure number
/// to a script, and decodes the script's reply bytes with the stub's own decoder — as a transport would.
/// </summary>
internal sealed class ScriptedProtocolCaller(Func<uint, byte[], byte[]> respond) : IRpcCaller
{
    public List<(uint Procedure, byte[] Args)> Calls { get; } = [];

    /// <summary>A caller that answers every call with the same bytes.</summary>
    public static ScriptedProtocolCaller Replying(byte[] reply) => new((_, _) => reply);

    /// <summary>A caller that answers the n-th call with the n-th reply (and fails the test past the last).</summary>
    public static ScriptedProtocolCaller ReplyingInTurn(params byte[][] replies)
    {
        int next = 0;
        return new((_, _) => next < replies.Length ? replies[next++] : throw new InvalidOperationException("more calls than scripted replies"));
    }

    public Task<TResult> CallAsync<TArgs, TResult>(uint procedure, TArgs args, XdrDecoder<TResult> decodeResult, CancellationToken cancellationToken)
        where TArgs : IXdrWritable
    {
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            var argBytes = ProtocolTestSupport.Encode(args);
            Calls.Add((procedure, argBytes));
            var reader = new XdrReader(respond(procedure, argBytes));
            return Task.FromResult(decodeResult(ref reader));
        }
        catch (Exception e)
        {
            return Task.FromException<TResult>(e);
        }
    }

    public string Describe() => "scripted test peer";
}

internal static class ProtocolTestSupport
{
    public static byte[] Encode<T>(T value) where T : IXdrWritable => Encode(value.Write);

    public static byte[] Encode(Action<XdrWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new XdrWriter(buffer));
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Hex with spaces and line breaks ignored, so golden bytes can be laid out field by field.</summary>
    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(char.IsAsciiHexDigit)));

    /// <summary>Decodes all of <paramref name="bytes"/> and insists nothing is left over.</summary>
    public static T Decode<T>(byte[] bytes, XdrDecoder<T> read)
    {
        var reader = new XdrReader(bytes);
        var value = read(ref reader);
        reader.EnsureFullyConsumed("test value");
        return value;
    }

    /// <summary>
    /// Encodes, decodes and re-encodes <paramref name="value"/>: the bytes must be identical (and, if
    /// <paramref name="compareValues"/>, the values equal); then every strict prefix of the encoding must
    /// throw <see cref="XdrException"/>. Returns the decoded value for further checks.
    /// </summary>
    public static T AssertRoundTrip<T>(T value, XdrDecoder<T> read, bool compareValues = true) where T : IXdrWritable
    {
        var bytes = Encode(value);
        Assert.Equal(0, bytes.Length % 4);
        var decoded = Decode(bytes, read);
        Assert.Equal(bytes, Encode(decoded));
        if (compareValues) Assert.Equal(value, decoded);
        AssertEveryTruncationThrows(bytes, read);
        return decoded;
    }

    public static void AssertEveryTruncationThrows<T>(byte[] bytes, XdrDecoder<T> read)
    {
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var prefix = bytes.AsMemory(0, cut);
            Assert.Throws<XdrException>(() =>
            {
                var reader = new XdrReader(prefix);
                read(ref reader);
            });
        }
    }
}
