using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;

namespace NfsNs.Tests.Unit;

public class RpcReplyTests
{
    private static readonly RpcCallDescription Call = new(0x11223344, RpcPrograms.Mount, 3, 1, "127.0.0.1:20048 in namespace A");

    private static T Throws<T>(byte[] reply) where T : Exception =>
        Assert.Throws<T>(() =>
        {
            var reader = new XdrReader(reply);
            RpcReply.ReadSuccessHeader(ref reader, Call);
        });

    [Fact]
    public void Success_header_leaves_the_reader_at_the_results()
    {
        var reply = Convert.FromHexString(
            "11223344" + "00000001" + "00000000" + "00000001" + "00000004" + "CAFEBABE" + "00000000" + "0000002A");
        var reader = new XdrReader(reply);
        var verifier = RpcReply.ReadSuccessHeader(ref reader, Call);
        Assert.Equal(RpcAuthFlavor.Sys, verifier.Flavor);
        Assert.Equal(Convert.FromHexString("CAFEBABE"), verifier.Body.ToArray());
        Assert.Equal(42u, reader.ReadUInt32());
        reader.EnsureFullyConsumed("reply");
    }

    [Fact]
    public void Prog_mismatch_carries_the_supported_versions()
    {
        var e = Throws<RpcAcceptedException>(ScriptedRpcPeer.EncodeAcceptedReply(Call.Xid, RpcAcceptStat.ProgMismatch, low: 1, high: 2));
        Assert.Equal(RpcAcceptStat.ProgMismatch, e.Stat);
        Assert.Equal(1u, e.LowVersion);
        Assert.Equal(2u, e.HighVersion);
        Assert.Equal("MOUNT v3 MNT (xid 0x11223344) to 127.0.0.1:20048 in namespace A failed: " +
                     "the server supports MOUNT versions 1 to 2 only, not v3 (PROG_MISMATCH)", e.Message);
    }

    [Theory]
    [InlineData(RpcAcceptStat.ProgUnavail, "does not serve MOUNT (PROG_UNAVAIL)")]
    [InlineData(RpcAcceptStat.ProcUnavail, "does not implement procedure 1 of MOUNT v3 (PROC_UNAVAIL)")]
    [InlineData(RpcAcceptStat.GarbageArgs, "GARBAGE_ARGS")]
    [InlineData(RpcAcceptStat.SystemErr, "SYSTEM_ERR")]
    public void Accepted_errors_are_typed(RpcAcceptStat stat, string text)
    {
        var e = Throws<RpcAcceptedException>(ScriptedRpcPeer.EncodeAcceptedReply(Call.Xid, stat));
        Assert.Equal(stat, e.Stat);
        Assert.Contains(text, e.Message);
        Assert.Equal(Call, e.Call);
    }

    [Fact]
    public void Denied_replies_carry_reject_and_auth_stat()
    {
        var auth = Throws<RpcDeniedException>(ScriptedRpcPeer.EncodeDeniedReply(Call.Xid, RpcRejectStat.AuthError, RpcAuthStat.TooWeak));
        Assert.Equal(RpcRejectStat.AuthError, auth.RejectStat);
        Assert.Equal(RpcAuthStat.TooWeak, auth.AuthStat);
        Assert.Contains("AUTH_TOOWEAK", auth.Message);

        var mismatch = Throws<RpcDeniedException>(ScriptedRpcPeer.EncodeDeniedReply(Call.Xid, RpcRejectStat.RpcMismatch, low: 3, high: 4));
        Assert.Equal(RpcRejectStat.RpcMismatch, mismatch.RejectStat);
        Assert.Equal((3u, 4u), (mismatch.LowVersion, mismatch.HighVersion));
        Assert.Contains("RPC versions 3 to 4, not 2", mismatch.Message);
    }

    [Theory]
    [InlineData("11223345" + "00000001" + "00000000" + "00000000" + "00000000" + "00000000", "xid 0x11223345")]
    [InlineData("11223344" + "00000000" + "00000000", "msg_type 0")]
    [InlineData("11223344" + "00000001" + "00000007", "reply_stat 7")]
    [InlineData("11223344" + "00000001" + "00000000" + "00000000" + "00000000" + "00000009", "accept_stat 9")]
    [InlineData("11223344" + "00000001" + "00000001" + "00000005", "reject_stat 5")]
    [InlineData("11223344" + "00000001" + "00000000" + "00000000" + "00001000", "opaque_auth body length 4096")]
    [InlineData("11223344" + "000000", "truncated")]
    public void Malformed_headers_are_protocol_errors(string hex, string text)
    {
        var e = Throws<RpcProtocolException>(Convert.FromHexString(hex));
        Assert.Contains(text, e.Message);
        Assert.Contains("MOUNT v3 MNT", e.Message);
    }
}
