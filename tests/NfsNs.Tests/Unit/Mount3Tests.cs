using NfsNs.Protocols;
using NfsNs.Protocols.Mount3;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;
using NfsNs.Xdr;
using static NfsNs.Tests.Unit.ProtocolTestSupport;

namespace NfsNs.Tests.Unit;

public class Mount3Tests
{
    [Fact]
    public async Task Mnt_golden_bytes()
    {
        var reply = Hex("00000000  00000004 AABBCCDD  00000002 00000001 00000000");
        var caller = ScriptedProtocolCaller.Replying(reply);
        var result = await new Mount3Client(caller).MntAsync("/export");
        Assert.Equal(new NfsFileHandle([0xAA, 0xBB, 0xCC, 0xDD]), result.Handle);
        Assert.Equal([RpcAuthFlavor.Sys, RpcAuthFlavor.None], result.AuthFlavors);
        Assert.Equal((uint)Mount3Procedure.Mnt, caller.Calls.Single().Procedure);
        Assert.Equal(Hex("00000007 2F6578706F727400"), caller.Calls.Single().Args);
        Assert.Equal(reply, Encode(w => MountResult.WriteReply(w, MountStatus.Ok, result)));
    }

    [Fact]
    public async Task Mnt_refusal_is_a_Mount3Exception()
    {
        var caller = ScriptedProtocolCaller.Replying(Hex("0000000D"));
        var e = await Assert.ThrowsAsync<Mount3Exception>(() => new Mount3Client(caller).MntAsync("/export"));
        Assert.Equal("MOUNT /export: MNT3ERR_ACCES (permission denied)", e.Message);
        Assert.Equal((MountStatus.Acces, "/export"), (e.Status, e.Path));
        Assert.Equal(LinuxErrno.EACCES, e.Errno);
        Assert.Equal("MNT3ERR_NOTSUPP", MountStatus.NotSupp.WireName());
        Assert.Equal("MNT3ERR_#7", ((MountStatus)7).WireName());
        Assert.Equal("MNT3_OK", MountStatus.Ok.WireName());
    }

    [Fact]
    public async Task Export_golden_bytes_with_groups()
    {
        var reply = Hex(
            "00000001  00000007 2F6578706F727400" +         // exportnode "/export"
            "  00000001 00000001 2A000000  00000000" +       //   groups: "*"
            "00000001  00000002 2F620000" +                  // exportnode "/b"
            "  00000001 00000003 61626300  00000001 00000002 78790000  00000000" + // groups: "abc", "xy"
            "00000000");
        var caller = ScriptedProtocolCaller.Replying(reply);
        var exports = await new Mount3Client(caller).ExportAsync();
        Assert.Equal(2, exports.Count);
        Assert.Equal("/export", exports[0].Directory);
        Assert.Equal(["*"], exports[0].Groups);
        Assert.Equal("/b", exports[1].Directory);
        Assert.Equal(["abc", "xy"], exports[1].Groups);
        Assert.Equal((uint)Mount3Procedure.Export, caller.Calls.Single().Procedure);
        Assert.Equal(reply, Encode(w => ExportEntry.WriteList(w, exports)));
        AssertEveryTruncationThrows(reply, ExportEntry.ReadList);
    }

    [Fact]
    public async Task Dump_decodes_the_mount_list()
    {
        var entries = new[] { new MountEntry("client1", "/export"), new MountEntry("10.0.0.2", "/export/sub") };
        var reply = Encode(w => MountEntry.WriteList(w, entries));
        var caller = ScriptedProtocolCaller.Replying(reply);
        Assert.Equal(entries, await new Mount3Client(caller).DumpAsync());
        Assert.Equal((uint)Mount3Procedure.Dump, caller.Calls.Single().Procedure);
        AssertEveryTruncationThrows(reply, MountEntry.ReadList);
        Assert.Empty(await new Mount3Client(ScriptedProtocolCaller.Replying(Hex("00000000"))).DumpAsync());
    }

    [Fact]
    public async Task Void_procedures_send_their_numbers()
    {
        var caller = ScriptedProtocolCaller.Replying([]);
        var client = new Mount3Client(caller);
        await client.NullAsync();
        await client.UmntAsync("/export");
        await client.UmntAllAsync();
        Assert.Equal([0u, 3u, 4u], caller.Calls.Select(c => c.Procedure));
        Assert.Equal(Hex("00000007 2F6578706F727400"), caller.Calls[1].Args);
        Assert.Empty(caller.Calls[2].Args);
    }

    [Fact]
    public async Task Limits_are_enforced_on_both_sides()
    {
        var client = new Mount3Client(ScriptedProtocolCaller.Replying([]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.MntAsync(new string('p', 1025)));
        Assert.Equal(1024, new DirPath(new string('p', 1024)).Path.Length);

        var longGroup = Encode(w => { w.WriteBool(true); w.WriteString("/e"); w.WriteBool(true); w.WriteString(new string('g', 256)); w.WriteBool(false); w.WriteBool(false); });
        await Assert.ThrowsAsync<XdrException>(() => new Mount3Client(ScriptedProtocolCaller.Replying(longGroup)).ExportAsync());

        var bigHandle = Encode(w => { w.WriteUInt32(0); w.WriteOpaque(new byte[65]); w.WriteUInt32(0); });
        await Assert.ThrowsAsync<XdrException>(() => new Mount3Client(ScriptedProtocolCaller.Replying(bigHandle)).MntAsync("/e"));

        // A flavor count larger than the record could hold is refused before anything is allocated.
        var hugeCount = Hex("00000000 00000000 7FFFFFFF");
        await Assert.ThrowsAsync<XdrException>(() => new Mount3Client(ScriptedProtocolCaller.Replying(hugeCount)).MntAsync("/e"));
    }

    [Fact]
    public void A_hostile_export_list_is_decoded_iteratively()
    {
        const int count = 100_000;
        var bytes = Encode(w => ExportEntry.WriteList(w, Enumerable.Range(0, count).Select(_ => new ExportEntry("/", []))));
        Assert.Equal(count, Decode(bytes, ExportEntry.ReadList).Count);
    }

    [Fact]
    public void Mount_reply_round_trips_and_refuses_inconsistent_writes()
    {
        var ok = new MountResult(new NfsFileHandle([1, 2, 3]), [RpcAuthFlavor.Sys]);
        var bytes = Encode(w => MountResult.WriteReply(w, MountStatus.Ok, ok));
        var (status, result) = Decode(bytes, MountResult.ReadReply);
        Assert.Equal(MountStatus.Ok, status);
        Assert.Equal(ok.Handle, result!.Handle);
        Assert.Equal(ok.AuthFlavors, result.AuthFlavors);
        Assert.Equal(Hex("00000002"), Encode(w => MountResult.WriteReply(w, MountStatus.NoEnt, null)));
        Assert.Throws<ArgumentException>(() => Encode(w => MountResult.WriteReply(w, MountStatus.NoEnt, ok)));
        Assert.Equal(new DirPath("/x"), Decode(Encode(new DirPath("/x")), DirPath.Read));
    }
}
