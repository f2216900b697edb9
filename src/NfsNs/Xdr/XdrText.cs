using System.Buffers;
using System.Text;

namespace NfsNs.Xdr;

/// <summary>
/// Text of XDR strings and NFS names, which are bytes on the wire (RFC 1813 §2.5: filename3 is a string of "any
/// bytes"; Linux allows any byte but '/' and NUL). Valid UTF-8 decodes as usual; every byte of an invalid sequence
/// decodes to a lone surrogate U+DC80–U+DCFF (the "surrogateescape" scheme), and encoding maps those back to the
/// same byte. So a name that is not UTF-8 can still be listed, shown, looked up and removed, byte for byte.
/// </summary>
public static class XdrText
{
    private const char EscapeBase = '\uDC00';
    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return s_strict.GetString(bytes);
        var text = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out int consumed) == OperationStatus.Done)
            {
                text.Append(rune.ToString());
            }
            else
            {
                text.Append((char)(EscapeBase + bytes[0]));
                consumed = 1;
            }
            bytes = bytes[consumed..];
        }
        return text.ToString();
    }

    private static bool HasEscapes(ReadOnlySpan<char> text) => text.IndexOfAnyInRange('\uDC80', '\uDCFF') >= 0;

    public static int GetByteCount(string text)
    {
        if (!HasEscapes(text)) return Encoding.UTF8.GetByteCount(text);
        int count = 0;
        Walk(text, bytes => count += bytes.Length);
        return count;
    }

    /// <summary>Encodes into <paramref name="destination"/>, which holds at least <see cref="GetByteCount"/> bytes.</summary>
    public static int Encode(string text, Span<byte> destination)
    {
        if (!HasEscapes(text)) return Encoding.UTF8.GetBytes(text, destination);
        var output = new ArrayBufferWriter<byte>(text.Length);
        Walk(text, bytes => output.Write(bytes));
        output.WrittenSpan.CopyTo(destination);
        return output.WrittenCount;
    }

    public static byte[] Encode(string text)
    {
        var bytes = new byte[GetByteCount(text)];
        Encode(text, bytes);
        return bytes;
    }

    private delegate void BytesSink(ReadOnlySpan<byte> bytes);

    private static void Walk(string text, BytesSink sink)
    {
        Span<byte> buffer = stackalloc byte[4];
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out var rune, out int consumed) == OperationStatus.Done)
            {
                sink(buffer[..rune.EncodeToUtf8(buffer)]);
            }
            else
            {
                char c = rest[0];
                consumed = 1;
                if (c is >= '\uDC80' and <= '\uDCFF') { buffer[0] = (byte)(c - EscapeBase); sink(buffer[..1]); }
                else sink("\uFFFD"u8); // any other lone surrogate has no byte form: U+FFFD, as UTF-8 encoders do
            }
            rest = rest[consumed..];
        }
    }
}
