using System.Text;
using NfsNs.Xdr;

namespace NfsNs.Protocols;

/// <summary>Codec pieces shared by the protocol surfaces (MOUNT, NFS, …) that the XDR core does not know about.</summary>
internal static class XdrLists
{
    /// <summary>
    /// Reads an XDR linked list (RFC 4506 §4.19: <c>struct node { …; node *next; }</c>, as used by entry3,
    /// exportnode, groupnode, mountbody). Decoded iteratively, never by recursion, so a hostile list cannot exhaust
    /// the stack; every element consumes at least its four-byte "value follows" flag, so the element count is
    /// bounded by the record's size and a list can never outgrow the record that carried it.
    /// </summary>
    public static List<T> ReadLinkedList<T>(ref XdrReader reader, XdrDecoder<T> readItem)
    {
        var items = new List<T>();
        while (reader.ReadOptionalFlag())
            items.Add(readItem(ref reader));
        return items;
    }

    /// <summary>Writes a linked list: TRUE before every element, FALSE after the last.</summary>
    public static void WriteLinkedList<T>(XdrWriter writer, IEnumerable<T> items, Action<XdrWriter, T> writeItem)
    {
        foreach (var item in items)
        {
            writer.WriteBool(true);
            writeItem(writer, item);
        }
        writer.WriteBool(false);
    }

    /// <summary>
    /// Reads a counted array of 32-bit items (<c>T items&lt;&gt;</c> with no declared bound). The count may not
    /// exceed what the rest of the record could hold, so a hostile count cannot make us allocate.
    /// </summary>
    public static uint[] ReadUInt32Array(ref XdrReader reader, string what)
    {
        int count = reader.ReadLength(reader.Remaining / 4, what);
        var items = new uint[count];
        for (int i = 0; i < count; i++) items[i] = reader.ReadUInt32();
        return items;
    }

    /// <summary>
    /// Checks an outgoing string against its protocol maximum in encoded (UTF-8) bytes, which is what the limit
    /// counts, and throws a clear <see cref="ArgumentException"/> rather than letting a peer reject it.
    /// </summary>
    public static string CheckLength(string value, int maxBytes, string what, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        int length = XdrText.GetByteCount(value);
        if (length > maxBytes)
            throw new ArgumentException($"{what} is {length} bytes in UTF-8; the protocol allows at most {maxBytes}", paramName);
        return value;
    }

    /// <summary>Reads an enum value and checks it is one of the values its XDR definition declares.</summary>
    public static TEnum ReadEnum<TEnum>(ref XdrReader reader, string what) where TEnum : struct, Enum
    {
        uint raw = reader.ReadUInt32();
        var value = (TEnum)Enum.ToObject(typeof(TEnum), raw);
        if (!Enum.IsDefined(value))
            throw new XdrException($"{what} {raw} is not a value of the enumeration");
        return value;
    }
}
