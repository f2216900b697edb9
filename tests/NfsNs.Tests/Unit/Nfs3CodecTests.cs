using NfsNs.Protocols.Nfs3;
using NfsNs.Xdr;
using static NfsNs.Tests.Unit.ProtocolTestSupport;

namespace NfsNs.Tests.Unit;

public class Nfs3CodecTests
{
    internal static readonly NfsFileHandle Handle8 = new([1, 2, 3, 4, 5, 6, 7, 8]);
    internal static readonly NfsFileHandle Handle4 = new([0xAA, 0xBB, 0xCC, 0xDD]);

    internal static readonly Fattr3 SampleAttributes = new(
        Nfs3FileType.Regular, Mode: 0x1A4, Nlink: 1, Uid: 1000, Gid: 100, Size: 5, Used: 4096, Rdev: new SpecData(0, 0),
        Fsid: 0x1122334455667788, FileId: 42,
        Atime: new NfsTime(1700000000, 1), Mtime: new NfsTime(1700000001, 2), Ctime: new NfsTime(1700000002, 3));

    // fattr3 of SampleAttributes, field by field (RFC 1813 §2.5): 84 bytes.
    internal const string SampleAttributesHex =
        "00000001 000001A4 00000001 000003E8 00000064" +   // type REG, mode 0644, nlink, uid 1000, gid 100
        "0000000000000005 0000000000001000" +              // size, used
        "00000000 00000000" +                              // rdev
        "1122334455667788 000000000000002A" +              // fsid, fileid
        "6553F100 00000001 6553F101 00000002 6553F102 00000003"; // atime, mtime, ctime

    private static readonly WccData SampleWcc = new(new WccAttr(10, new NfsTime(5, 6), new NfsTime(7, 8)), SampleAttributes);

    [Fact]
    public void Lookup_args_golden_bytes()
    {
        Assert.Equal(Hex("00000008 0102030405060708  00000003 61626300"), Encode(new DirOpArgs(Handle8, "abc")));
    }

    [Fact]
    public void Write_args_golden_bytes()
    {
        var args = new WriteArgs(Handle4, 0x100, StableHow.FileSync, "xyz"u8.ToArray());
        var expected = Hex("00000004 AABBCCDD  0000000000000100  00000003  00000002  00000003 78797A00");
        Assert.Equal(expected, Encode(args));
        var decoded = Decode(expected, WriteArgs.Read);
        Assert.Equal("xyz"u8.ToArray(), decoded.Data.ToArray());
        Assert.Equal((Handle4, 0x100ul, StableHow.FileSync), (decoded.File, decoded.Offset, decoded.Stable));
    }

    [Fact]
    public void Setattr_args_golden_bytes()
    {
        var args = new SetAttrArgs(Handle4, new Sattr3 { Mode = 0x1ED, Size = 0, Mtime = SetTime.ServerTime }, new NfsTime(9, 10));
        Assert.Equal(Hex(
            "00000004 AABBCCDD" +
            "00000001 000001ED  00000000  00000000  00000001 0000000000000000" + // mode 0755, no uid, no gid, size 0
            "00000000  00000001" +                                               // atime DONT_CHANGE, mtime SET_TO_SERVER_TIME
            "00000001 00000009 0000000A"), Encode(args));                        // guard: ctime 9.10
    }

    [Fact]
    public void Create_exclusive_args_golden_bytes()
    {
        var args = new CreateArgs(new DirOpArgs(Handle4, "f"), CreateMode.Exclusive, null, 0x0102030405060708);
        Assert.Equal(Hex("00000004 AABBCCDD 00000001 66000000  00000002 0102030405060708"), Encode(args));
    }

    [Fact]
    public void Getattr_reply_golden_bytes()
    {
        var reply = Hex("00000000" + SampleAttributesHex);
        Assert.Equal(4 + 84, reply.Length);
        var caller = ScriptedProtocolCaller.Replying(reply);
        var attributes = new Nfs3Client(caller).GetAttrAsync(Handle8).GetAwaiter().GetResult();
        Assert.Equal(SampleAttributes, attributes);
        Assert.Equal((uint)Nfs3Procedure.GetAttr, caller.Calls.Single().Procedure);
        Assert.Equal(Hex("00000008 0102030405060708"), caller.Calls.Single().Args);
        Assert.Equal(reply, Encode(w => { Nfs3Reply.WriteStatus(w, Nfs3Status.Ok); attributes.Write(w); }));
    }

    [Fact]
    public void Read_reply_with_five_bytes_is_padded_and_copied_into_the_destination()
    {
        var reply = Hex("00000000  00000000  00000005  00000001  00000005 68656C6C6F000000");
        var destination = new byte[16];
        var caller = ScriptedProtocolCaller.Replying(reply);
        var result = new Nfs3Client(caller).ReadAsync(Handle4, 0, 16, destination).GetAwaiter().GetResult();
        Assert.Equal(5, result.Count);
        Assert.True(result.Eof);
        Assert.Null(result.Attributes);
        Assert.Equal("hello"u8.ToArray(), destination[..5]);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(result.Data, out var segment));
        Assert.Same(destination, segment.Array);
        Assert.Equal(Hex("00000004 AABBCCDD 0000000000000000 00000010"), caller.Calls.Single().Args);
        Assert.Equal(reply, Encode(w => { Nfs3Reply.WriteStatus(w, Nfs3Status.Ok); result.Write(w); }));
    }

    [Fact]
    public void Readdirplus_reply_with_two_entries_golden_bytes()
    {
        var reply = Hex(
            "00000000  00000000  0102030405060708" +                 // OK, no dir attributes, cookieverf
            "00000001  0000000000000010  00000001 2E000000  0000000000000001  00000000  00000001 00000004 AABBCCDD" +
            "00000001  0000000000000011  00000004 66696C65  0000000000000002  00000001" + SampleAttributesHex + "  00000000" +
            "00000000  00000001");                                   // end of list, eof
        var result = new Nfs3Client(ScriptedProtocolCaller.Replying(reply)).ReadDirPlusAsync(Handle4, 0, 0, 512, 4096).GetAwaiter().GetResult();
        Assert.Equal(0x0102030405060708ul, result.CookieVerifier);
        Assert.True(result.Eof);
        Assert.Null(result.DirAttributes);
        Assert.Equal(2, result.Entries.Count);
        Assert.Equal(new DirEntryPlus(0x10, ".", 1, null, Handle4), result.Entries[0]);
        Assert.Equal(new DirEntryPlus(0x11, "file", 2, SampleAttributes, null), result.Entries[1]);
        Assert.Equal(reply, Encode(w => { Nfs3Reply.WriteStatus(w, Nfs3Status.Ok); result.Write(w); }));
    }

    [Fact]
    public void Every_args_type_round_trips()
    {
        var sattr = new Sattr3 { Mode = 0x1FF, Uid = 1, Gid = 2, Size = 1 << 40, Atime = SetTime.ClientTime(new NfsTime(3, 4)), Mtime = SetTime.ServerTime };
        var where = new DirOpArgs(Handle8, "name");
        AssertRoundTrip(Handle8, NfsFileHandle.Read);
        AssertRoundTrip(default(NfsFileHandle), NfsFileHandle.Read);
        AssertRoundTrip(where, DirOpArgs.Read);
        AssertRoundTrip(new SetAttrArgs(Handle8, sattr, null), SetAttrArgs.Read);
        AssertRoundTrip(new SetAttrArgs(Handle8, Sattr3.Empty, new NfsTime(1, 2)), SetAttrArgs.Read);
        AssertRoundTrip(new AccessArgs(Handle4, Access3.Read | Access3.Execute), AccessArgs.Read);
        AssertRoundTrip(new FileRangeArgs(Handle4, ulong.MaxValue, 65536), FileRangeArgs.Read);
        AssertRoundTrip(new WriteArgs(Handle4, 7, StableHow.Unstable, new byte[] { 1, 2, 3, 4, 5, 6, 7 }), WriteArgs.Read, compareValues: false);
        AssertRoundTrip(new WriteArgs(Handle4, 7, StableHow.DataSync, ReadOnlyMemory<byte>.Empty), WriteArgs.Read, compareValues: false);
        AssertRoundTrip(new CreateArgs(where, CreateMode.Unchecked, sattr, 0), CreateArgs.Read);
        AssertRoundTrip(new CreateArgs(where, CreateMode.Guarded, Sattr3.Empty, 0), CreateArgs.Read);
        AssertRoundTrip(new CreateArgs(where, CreateMode.Exclusive, null, 99), CreateArgs.Read);
        AssertRoundTrip(new MkdirArgs(where, sattr), MkdirArgs.Read);
        AssertRoundTrip(new SymlinkArgs(where, sattr, "../target/of/link"), SymlinkArgs.Read);
        AssertRoundTrip(new MknodArgs(where, Nfs3FileType.CharacterDevice, sattr, new SpecData(1, 3)), MknodArgs.Read);
        AssertRoundTrip(new MknodArgs(where, Nfs3FileType.Fifo, sattr, default), MknodArgs.Read);
        AssertRoundTrip(new MknodArgs(where, Nfs3FileType.Regular, null, default), MknodArgs.Read);
        AssertRoundTrip(new RenameArgs(where, new DirOpArgs(Handle4, "other")), RenameArgs.Read);
        AssertRoundTrip(new LinkArgs(Handle4, where), LinkArgs.Read);
        AssertRoundTrip(new ReadDirArgs(Handle8, 12, 34, 4096), ReadDirArgs.Read);
        AssertRoundTrip(new ReadDirPlusArgs(Handle8, 12, 34, 1024, 32768), ReadDirPlusArgs.Read);
    }

    [Fact]
    public void Every_result_type_round_trips()
    {
        AssertRoundTrip(SampleAttributes, Fattr3.Read);
        AssertRoundTrip(SampleWcc, WccData.Read);
        AssertRoundTrip(WccData.Empty, WccData.Read);
        AssertRoundTrip(new LookupResult(Handle8, SampleAttributes, null), LookupResult.Read);
        AssertRoundTrip(new AccessResult(Access3.Lookup | Access3.Read, SampleAttributes), AccessResult.Read);
        AssertRoundTrip(new ReadLinkResult("/some/where", null), ReadLinkResult.Read);
        var read = AssertRoundTrip(new ReadResult(3, false, SampleAttributes) { Data = new byte[] { 7, 8, 9 } }, ReadResult.Read, compareValues: false);
        Assert.Equal(new byte[] { 7, 8, 9 }, read.Data.ToArray());
        AssertRoundTrip(new WriteResult(4096, StableHow.FileSync, 0xDEADBEEFCAFEF00D, SampleWcc), WriteResult.Read);
        AssertRoundTrip(new CreateResult(Handle4, SampleAttributes, SampleWcc), CreateResult.Read);
        AssertRoundTrip(new CreateResult(null, null, WccData.Empty), CreateResult.Read);
        AssertRoundTrip(new RenameResult(SampleWcc, WccData.Empty), RenameResult.Read);
        AssertRoundTrip(new LinkResult(SampleAttributes, SampleWcc), LinkResult.Read);
        var dir = AssertRoundTrip(new ReadDirResult([new DirEntry(1, ".", 1), new DirEntry(2, "..", 2), new DirEntry(77, "ünïcödé", 3)], 5, true, SampleAttributes),
            ReadDirResult.Read, compareValues: false);
        Assert.Equal("ünïcödé", dir.Entries[2].Name);
        AssertRoundTrip(new ReadDirResult([], 0, false, null), ReadDirResult.Read, compareValues: false);
        AssertRoundTrip(new ReadDirPlusResult([new DirEntryPlus(9, "x", 10, SampleAttributes, Handle8)], 6, false, null),
            ReadDirPlusResult.Read, compareValues: false);
        AssertRoundTrip(new FsStatResult(SampleAttributes, 1000, 500, 400, 100, 50, 40, 0), FsStatResult.Read);
        var fsinfo = AssertRoundTrip(new FsInfoResult(null, 1048576, 65536, 4096, 1048576, 65536, 4096, 8192, ulong.MaxValue,
            new NfsTime(0, 1), FsProperties.Link | FsProperties.Symlink | FsProperties.Homogeneous | FsProperties.CanSetTime), FsInfoResult.Read);
        Assert.Equal(8192u, fsinfo.DirPreferred);
        AssertRoundTrip(new PathConfResult(SampleAttributes, 32000, 255, true, true, false, true), PathConfResult.Read);
        AssertRoundTrip(new CommitResult(0x1234, SampleWcc), CommitResult.Read);
    }

    [Fact]
    public void Fattr3_is_84_bytes_and_post_op_attr_is_a_flag_then_the_attributes()
    {
        Assert.Equal(Hex(SampleAttributesHex), Encode(SampleAttributes));
        Assert.Equal(Hex("00000001" + SampleAttributesHex), Encode(w => Fattr3.WritePostOp(w, SampleAttributes)));
        Assert.Equal(Hex("00000000"), Encode(w => Fattr3.WritePostOp(w, null)));
    }

    [Fact]
    public void File_handles_over_64_bytes_are_refused_on_both_sides()
    {
        Assert.Throws<ArgumentException>(() => new NfsFileHandle(new byte[65]));
        Assert.Equal(64, new NfsFileHandle(new byte[64]).Length);
        var wire = Encode(w => w.WriteOpaque(new byte[65]));
        var e = Assert.Throws<XdrException>(() => Decode(wire, NfsFileHandle.Read));
        Assert.Contains("nfs_fh3", e.Message);
    }

    [Fact]
    public void Names_over_255_bytes_are_refused_on_both_sides()
    {
        Assert.Equal(255, new DirOpArgs(Handle4, new string('a', 255)).Name.Length);
        var e = Assert.Throws<ArgumentException>(() => new DirOpArgs(Handle4, new string('a', 256)));
        Assert.Contains("256 bytes", e.Message);
        Assert.Throws<ArgumentException>(() => new DirOpArgs(Handle4, new string('é', 128))); // 256 bytes in UTF-8
        Assert.Throws<ArgumentException>(() => new SymlinkArgs(new DirOpArgs(Handle4, "l"), Sattr3.Empty, new string('p', 1025)));

        var longName = Encode(w => { Handle4.Write(w); w.WriteString(new string('a', 256)); });
        Assert.Throws<XdrException>(() => Decode(longName, DirOpArgs.Read));
    }

    [Fact]
    public void Handle_equality_hash_and_hex()
    {
        var copy = new NfsFileHandle([1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Equal(Handle8, copy);
        Assert.True(Handle8 == copy);
        Assert.Equal(Handle8.GetHashCode(), copy.GetHashCode());
        Assert.NotEqual(Handle8, Handle4);
        Assert.Equal("0102030405060708", Handle8.ToString());
        Assert.Equal(Handle8, NfsFileHandle.Parse("0102030405060708"));
        Assert.Equal(default(NfsFileHandle), new NfsFileHandle([]));
        Assert.Throws<FormatException>(() => NfsFileHandle.Parse("xyz"));
    }

    [Fact]
    public void Invalid_discriminants_are_refused()
    {
        Assert.Throws<XdrException>(() => Decode(Hex("00000003"), SetTime.Read));               // time_how 3
        Assert.Throws<XdrException>(() => Decode(Hex("00000008" + SampleAttributesHex[8..]), Fattr3.Read)); // ftype3 8
        var badStable = Encode(w => { Handle4.Write(w); w.WriteUInt64(0); w.WriteUInt32(0); w.WriteUInt32(3); w.WriteOpaque([]); });
        Assert.Throws<XdrException>(() => Decode(badStable, WriteArgs.Read));
        Assert.Throws<XdrException>(() => Decode(Hex("00000002"), WccData.Read));               // bool 2
    }

    [Fact]
    public void Write_args_whose_count_differs_from_the_data_are_refused()
    {
        var wire = Encode(w => { Handle4.Write(w); w.WriteUInt64(0); w.WriteUInt32(4); w.WriteUInt32(0); w.WriteOpaque([1, 2, 3]); });
        Assert.Throws<XdrException>(() => Decode(wire, WriteArgs.Read));
    }

    [Fact]
    public void A_hostile_directory_list_is_decoded_iteratively_and_bounded_by_the_record()
    {
        const int count = 200_000;
        var big = new ReadDirResult(Enumerable.Range(0, count).Select(i => new DirEntry((ulong)i, "n", (ulong)i)).ToArray(), 1, true, null);
        var bytes = Encode(big);
        Assert.Equal(count, Decode(bytes, ReadDirResult.Read).Entries.Count);
        // Without its terminator the list runs into the end of the record, which is an error, not a hang.
        Assert.Throws<XdrException>(() => Decode(bytes[..^8], ReadDirResult.Read));
    }

    [Fact]
    public void Time_converts_to_and_from_DateTimeOffset()
    {
        var instant = new DateTimeOffset(2023, 11, 14, 22, 13, 20, TimeSpan.Zero).AddTicks(1234567);
        var time = NfsTime.FromDateTimeOffset(instant);
        Assert.Equal(new NfsTime(1700000000, 123456700), time);
        Assert.Equal(instant, time.ToDateTimeOffset());
        Assert.Throws<ArgumentOutOfRangeException>(() => NfsTime.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddTicks(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => NfsTime.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddSeconds(1L << 32)));
    }

    [Fact]
    public void Read_result_refuses_to_write_a_count_that_differs_from_its_data()
    {
        var result = new ReadResult(5, true, null);
        Assert.Throws<InvalidOperationException>(() => Encode(result));
    }
}
