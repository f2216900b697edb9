using NfsNs.Xdr;
using System.Buffers;

namespace NfsNs.Tests.Unit;

public class XdrTests
{
    private static byte[] Encode(Action<XdrWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new XdrWriter(buffer));
        return buffer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Golden_bytes_of_primitives_are_big_endian_and_padded()
    {
        var bytes = Encode(w =>
        {
            w.WriteUInt32(0x01020304);
            w.WriteInt64(-2);
            w.WriteBool(true);
            w.WriteString("abcde");
            w.WriteOpaque([9]);
        });
        Assert.Equal(Convert.FromHexString(
            "01020304" + "FFFFFFFFFFFFFFFE" + "00000001" + "00000005" + "6162636465000000" + "00000001" + "09000000"), bytes);
    }

    [Fact]
    public void Round_trip_of_random_opaque_lengths_keeps_alignment()
    {
        var random = new Random(1234);
        for (int length = 0; length < 70; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            var bytes = Encode(w => { w.WriteOpaque(data); w.WriteUInt32(0xCAFEBABE); });
            Assert.Equal(0, bytes.Length % 4);
            var reader = new XdrReader(bytes);
            Assert.Equal(data, reader.ReadOpaque(1000).ToArray());
            Assert.Equal(0xCAFEBABEu, reader.ReadUInt32());
            reader.EnsureFullyConsumed("test");
        }
    }

    [Fact]
    public void Every_truncation_throws_XdrException()
    {
        var bytes = Encode(w => { w.WriteUInt64(7); w.WriteString("hello"); w.WriteBool(false); });
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var truncated = bytes.AsMemory(0, cut);
            Assert.Throws<XdrException>(() =>
            {
                var r = new XdrReader(truncated);
                r.ReadUInt64();
                r.ReadString(255);
                r.ReadBool();
            });
        }
    }

    [Fact]
    public void Lengths_over_the_declared_maximum_are_refused_before_reading()
    {
        var bytes = Encode(w => w.WriteUInt32(0x7FFFFFFF));
        var e = Assert.Throws<XdrException>(() => { var r = new XdrReader(bytes); r.ReadOpaque(64, "file handle"); });
        Assert.Contains("file handle", e.Message);
    }

    [Fact]
    public void Invalid_boolean_is_refused()
    {
        var bytes = Encode(w => w.WriteUInt32(2));
        Assert.Throws<XdrException>(() => { var r = new XdrReader(bytes); r.ReadBool(); });
    }

    [Fact]
    public void Opaque_memory_is_a_slice_not_a_copy()
    {
        var bytes = Encode(w => w.WriteOpaque([1, 2, 3, 4, 5]));
        var r = new XdrReader(bytes);
        var slice = r.ReadOpaqueMemory(16);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(slice, out var segment));
        Assert.Same(bytes, segment.Array);
        Assert.Equal(4, segment.Offset);
    }
}

public class XdrTextTests
{
    [Theory]
    [InlineData(new byte[] { 0x62, 0x61, 0x64, 0xFF, 0xFE, 0x75 })]
    [InlineData(new byte[] { 0xC3 })]                    // truncated sequence
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]        // an encoded surrogate is not UTF-8
    [InlineData(new byte[] { 0x68, 0xC3, 0xA9, 0x80 })]  // valid é followed by a stray continuation byte
    public void Names_that_are_not_UTF8_round_trip_byte_for_byte(byte[] name)
    {
        string text = XdrText.Decode(name);
        Assert.Equal(name, XdrText.Encode(text));
        Assert.Equal(name.Length, XdrText.GetByteCount(text));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        new XdrWriter(buffer).WriteString(text);
        var reader = new XdrReader(buffer.WrittenMemory);
        Assert.Equal(text, reader.ReadString(255));
    }

    [Fact]
    public void Valid_UTF8_is_plain_text()
    {
        Assert.Equal("héllo ✓", XdrText.Decode("héllo ✓"u8));
        Assert.Equal("héllo ✓"u8.ToArray(), XdrText.Encode("héllo ✓"));
    }
}

public class NfsPathTests
{
    [Theory]
    [InlineData("/export", "/export/a/b", "/a/b")]
    [InlineData("/export", "/export", "/")]
    [InlineData("/export/", "/export//a/./b/", "/a/b")]
    [InlineData("/", "/a", "/a")]
    [InlineData("/", "/", "/")]
    public void RelativeTo_strips_the_ancestor_by_components(string ancestor, string path, string expected)
    {
        Assert.True(NfsNs.Client.NfsPath.IsPrefix(ancestor, path));
        Assert.Equal(expected, NfsNs.Client.NfsPath.RelativeTo(ancestor, path));
    }

    [Fact]
    public void A_prefix_must_end_at_a_component_boundary() =>
        Assert.False(NfsNs.Client.NfsPath.IsPrefix("/export", "/exports/a"));
}
