using NfsNs.Xdr;

namespace NfsNs.Tests.Support;

/// <summary>A single uint32 as procedure arguments or results.</summary>
public readonly record struct UInt32Value(uint Value) : IXdrWritable
{
    public void Write(XdrWriter writer) => writer.WriteUInt32(Value);
    public static uint Read(ref XdrReader reader) => reader.ReadUInt32();
    public static readonly XdrDecoder<uint> Decoder = Read;
}

/// <summary>Opaque bytes as procedure arguments or results.</summary>
public readonly record struct OpaqueValue(ReadOnlyMemory<byte> Data) : IXdrWritable
{
    public void Write(XdrWriter writer) => writer.WriteOpaque(Data.Span);
}
