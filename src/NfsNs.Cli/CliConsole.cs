using System.Text;

namespace NfsNs.Cli;

/// <summary>
/// Where a command writes: text output, errors, and raw bytes (for <c>cat</c>). The process console in production;
/// string writers and a memory stream in tests, so the whole CLI runs in-process.
/// </summary>
public sealed class CliConsole
{
    private readonly Stream? _binaryOutput;

    /// <summary>Standard output for text (listings, JSON). Buffered: flushed when the command ends.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error: diagnostics and the progress bar.</summary>
    public TextWriter Error { get; }

    /// <summary>True when standard error is a terminal, so that a progress bar may be drawn on it.</summary>
    public bool ErrorIsTerminal { get; }

    /// <summary>True when standard output is a terminal (commands may then refuse to dump binary data, colour…).</summary>
    public bool OutputIsTerminal { get; }

    /// <param name="binaryOutput">Raw standard output; when null, bytes are decoded as UTF-8 into <paramref name="output"/>.</param>
    public CliConsole(TextWriter output, TextWriter error, Stream? binaryOutput = null, bool outputIsTerminal = false, bool errorIsTerminal = false)
    {
        Out = output;
        Error = error;
        _binaryOutput = binaryOutput;
        OutputIsTerminal = outputIsTerminal;
        ErrorIsTerminal = errorIsTerminal;
    }

    /// <summary>The console of this process.</summary>
    public static CliConsole ForProcess()
    {
        var stdout = Console.OpenStandardOutput();
        // Console.Out flushes on every write; a listing of 100,000 names should not cost 100,000 write(2)s.
        var output = new StreamWriter(stdout, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 64 * 1024, leaveOpen: true);
        return new CliConsole(output, Console.Error, stdout, !Console.IsOutputRedirected, !Console.IsErrorRedirected);
    }

    /// <summary>
    /// Standard output for raw bytes. Text written to <see cref="Out"/> so far is flushed first so the two stay in
    /// order. The caller does not own the stream (do not dispose it).
    /// </summary>
    public Stream OpenBinaryOutput()
    {
        Out.Flush();
        return _binaryOutput ?? new TextWriterStream(Out);
    }

    /// <summary>Bytes decoded as UTF-8 into a text writer: lets in-process tests capture <c>cat</c> as text.</summary>
    private sealed class TextWriterStream(TextWriter writer) : Stream
    {
        private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            // The decoder keeps a UTF-8 sequence split across writes until its last byte arrives.
            var chars = new char[_decoder.GetCharCount(buffer, flush: false)];
            int written = _decoder.GetChars(buffer, chars, flush: false);
            writer.Write(chars, 0, written);
        }

        public override void Flush() => writer.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
