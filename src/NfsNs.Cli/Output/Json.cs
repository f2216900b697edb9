using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NfsNs.Cli.Output;

/// <summary>
/// JSON output of <c>--json</c>: camelCase names, enums as camelCase strings, nulls left out, one value per line.
/// Reflection-based serialization (the CLI is not trimmed).
/// </summary>
public static class Json
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // File names are data: keep them readable ('é' stays 'é'); the encoder still escapes control characters.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Writes <paramref name="value"/> as one line of JSON.</summary>
    public static void Write<T>(TextWriter output, T value) =>
        output.WriteLine(JsonSerializer.Serialize(value, Options));

    /// <summary>Writes one line of JSON built by hand, for shapes that have no type of their own.</summary>
    public static void Write(TextWriter output, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Options.Encoder }))
            write(writer);
        output.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    /// <summary>
    /// Starts a JSON array written one element per line as elements arrive, so that a listing of a huge directory
    /// is never held in memory as one string. Dispose to close the array.
    /// </summary>
    public static ArrayWriter WriteArray(TextWriter output) => new(output);

    public sealed class ArrayWriter : IDisposable
    {
        private readonly TextWriter _output;
        private bool _any;
        private bool _closed;

        internal ArrayWriter(TextWriter output)
        {
            _output = output;
            _output.Write('[');
        }

        public void Add<T>(T element)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _output.Write(_any ? ",\n" : "\n");
            _output.Write(JsonSerializer.Serialize(element, Options));
            _any = true;
        }

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            _output.WriteLine(_any ? "\n]" : "]");
        }
    }
}
