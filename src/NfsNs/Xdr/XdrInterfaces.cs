namespace NfsNs.Xdr;

/// <summary>A value that can encode itself as XDR. Arguments of every RPC procedure implement this.</summary>
public interface IXdrWritable
{
    void Write(XdrWriter writer);
}

/// <summary>Decodes one value from a record; used for replies so that bulk data can be consumed while the record's buffer is alive.</summary>
public delegate T XdrDecoder<T>(ref XdrReader reader);

/// <summary>The XDR <c>void</c>: no bytes at all.</summary>
public readonly struct XdrVoid : IXdrWritable
{
    public static readonly XdrVoid Value;
    public void Write(XdrWriter writer) { }
    public static XdrVoid Read(ref XdrReader reader) => default;
}
