using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Rpc;
using NfsNs.Xdr;
using static NfsNs.Tests.Unit.ProtocolTestSupport;

namespace NfsNs.Tests.Unit;

/// <summary>NLM v4 and NSM v1 codecs against bytes laid out field by field from RFC 1813 appendix II and XNFS 10/11.</summary>
public class NlmNsmCodecTests
{
    private static readonly Nlm4Lock SampleLock = new("host", new NetObj([0xF1, 0xF2]), new NetObj([1, 2, 3, 4, 5]), 42,
        Offset: 0x1_0000_0000, Length: 100);

    private const string SampleLockHex =
        "00000004 686F7374" +                  // caller_name "host"
        "00000002 F1F20000" +                  // fh
        "00000005 01020304 05000000" +         // oh
        "0000002A" +                           // svid 42
        "00000001 00000000" +                  // l_offset 2^32 (64-bit in v4)
        "00000000 00000064";                   // l_len 100

    [Fact]
    public async Task Lock_golden_bytes()
    {
        var reply = Hex("00000001 07000000  00000003");   // cookie, NLM4_BLOCKED
        var caller = ScriptedProtocolCaller.Replying(reply);
        var args = new Nlm4LockArgs(new NetObj([7]), Block: true, Exclusive: true, SampleLock, Reclaim: false, State: 3);
        var result = await new Nlm4Client(caller).LockAsync(args);
        Assert.Equal(Nlm4Status.Blocked, result.Status);
        Assert.Equal(new NetObj([7]), result.Cookie);
        Assert.Equal((uint)Nlm4Procedure.Lock, caller.Calls.Single().Procedure);
        Assert.Equal(Hex("00000001 07000000  00000001 00000001" + SampleLockHex + "00000000 00000003"), caller.Calls.Single().Args);
        Assert.Equal(args, Decode(caller.Calls.Single().Args, Nlm4LockArgs.Read));
        Assert.Equal(reply, Encode(result));
        AssertEveryTruncationThrows(caller.Calls.Single().Args, Nlm4LockArgs.Read);
    }

    [Fact]
    public async Task Test_reply_carries_the_holder_only_when_denied()
    {
        var denied = Hex("00000000  00000001  00000000 00000007 00000001 AB000000 00000000 00000000 00000000 00000000");
        var caller = ScriptedProtocolCaller.ReplyingInTurn(denied, Hex("00000000 00000000"));
        var client = new Nlm4Client(caller);
        var args = new Nlm4TestArgs(NetObj.Empty, Exclusive: false, SampleLock);
        var first = await client.TestAsync(args);
        Assert.Equal(Nlm4Status.Denied, first.Status);
        Assert.Equal(new Nlm4Holder(false, 7, new NetObj([0xAB]), 0, 0), first.Holder);
        Assert.Equal(denied, Encode(first));
        var second = await client.TestAsync(args);
        Assert.Equal((Nlm4Status.Granted, (Nlm4Holder?)null), (second.Status, second.Holder));
        Assert.Equal(Hex("00000000 00000000" + SampleLockHex), caller.Calls[0].Args);
        AssertEveryTruncationThrows(denied, Nlm4TestResult.Read);
        Assert.Throws<InvalidOperationException>(() => Encode(new Nlm4TestResult(NetObj.Empty, Nlm4Status.Denied, null)));
    }

    [Fact]
    public void Cancel_unlock_share_and_notify_round_trip()
    {
        var cancel = new Nlm4CancelArgs(new NetObj([9]), true, false, SampleLock);
        Assert.Equal(Hex("00000001 09000000 00000001 00000000" + SampleLockHex), Encode(cancel));
        Assert.Equal(cancel, Decode(Encode(cancel), Nlm4CancelArgs.Read));
        var unlock = new Nlm4UnlockArgs(NetObj.Empty, SampleLock);
        Assert.Equal(Hex("00000000" + SampleLockHex), Encode(unlock));
        Assert.Equal(unlock, Decode(Encode(unlock), Nlm4UnlockArgs.Read));
        var share = new Nlm4ShareArgs(NetObj.Empty, "h", new NetObj([1]), new NetObj([2]), Nlm4ShareMode.DenyWrite, Nlm4ShareAccess.Read, true);
        Assert.Equal(Hex("00000000 00000001 68000000 00000001 01000000 00000001 02000000 00000002 00000001 00000001"), Encode(share));
        Assert.Equal(share, Decode(Encode(share), Nlm4ShareArgs.Read));
        var notify = new Nlm4Notify("abc", 5);
        Assert.Equal(Hex("00000003 61626300 00000005"), Encode(notify));
        Assert.Equal(notify, Decode(Encode(notify), Nlm4Notify.Read));
    }

    [Fact]
    public void Oversized_fields_are_refused_on_both_sides()
    {
        var tooLongName = Hex("00000401"); // caller_name of 1025 bytes > LM_MAXSTRLEN
        Assert.Throws<XdrException>(() => Decode(tooLongName, Nlm4Lock.Read));
        Assert.Throws<ArgumentException>(() => new NetObj(new byte[Nlm4.MaxNetObjSize + 1]));
        var bigNetObj = Hex("00000000 00000401");       // cookie, then an fh length of 1025
        Assert.Throws<XdrException>(() => Decode(Hex("00000000 00000000 00000000").Concat(bigNetObj).ToArray(), Nlm4TestArgs.Read));
        Assert.Throws<ArgumentException>(() => Encode(SampleLock with { CallerName = new string('x', 1025) }));
    }

    [Fact]
    public async Task Nsm_mon_notify_and_callback_golden_bytes()
    {
        var caller = ScriptedProtocolCaller.ReplyingInTurn(Hex("00000000 00000007"), Hex(""));
        var client = new NsmClient(caller);
        var mon = new Mon(new MonId("srv", new MyId("me", (int)Nlm4.Program, 4, 16)), new byte[16]);
        var result = await client.MonAsync(mon);
        Assert.Equal(new SmStatResult(NsmResult.Success, 7), result);
        Assert.Equal(Hex("00000003 73727600  00000002 6D650000 000186B5 00000004 00000010" + new string('0', 32)), caller.Calls[0].Args);
        Assert.Equal(mon.Id, Decode(caller.Calls[0].Args, Mon.Read).Id);
        await client.NotifyAsync("srv", 9);
        Assert.Equal((uint)NsmProcedure.Notify, caller.Calls[1].Procedure);
        Assert.Equal(Hex("00000003 73727600 00000009"), caller.Calls[1].Args);
        var status = new SmStatus("srv", 9, Enumerable.Range(1, 16).Select(i => (byte)i).ToArray());
        var bytes = Encode(status);
        Assert.Equal(status.Private, Decode(bytes, SmStatus.Read).Private);
        AssertEveryTruncationThrows(bytes, SmStatus.Read);
        Assert.Throws<InvalidOperationException>(() => Encode(mon with { Private = new byte[3] }));
    }

    [Fact]
    public void Procedure_names_of_nlm_and_nsm_are_known()
    {
        Assert.Equal("NLM v4 GRANTED", RpcPrograms.Describe(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Granted));
        Assert.Equal("NLM v4 FREE_ALL", RpcPrograms.Describe(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.FreeAll));
        Assert.Equal("NLM v4 procedure 17", RpcPrograms.Describe(Nlm4.Program, Nlm4.Version, 17));
        Assert.Equal("NSM v1 NOTIFY", RpcPrograms.Describe(Nsm.Program, Nsm.Version, (uint)NsmProcedure.Notify));
        Assert.Equal("NLM4_DENIED_GRACE_PERIOD", Nlm4Status.DeniedGracePeriod.WireName());
    }
}
