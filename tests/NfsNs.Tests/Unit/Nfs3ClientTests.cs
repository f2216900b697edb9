using NfsNs.Protocols;
using NfsNs.Protocols.Nfs3;
using NfsNs.Xdr;
using static NfsNs.Tests.Unit.Nfs3CodecTests;
using static NfsNs.Tests.Unit.ProtocolTestSupport;

namespace NfsNs.Tests.Unit;

public class Nfs3ClientTests
{
    private static readonly JukeboxPolicy TinyDelays = new()
    {
        InitialDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2), MaxAttempts = 3,
    };

    private static byte[] Reply(Nfs3Status status, Action<XdrWriter>? body = null) =>
        Encode(w => { Nfs3Reply.WriteStatus(w, status); body?.Invoke(w); });

    private static byte[] WriteOkReply(uint count) =>
        Reply(Nfs3Status.Ok, new WriteResult(count, StableHow.FileSync, 42, WccData.Empty).Write);

    private static byte[] WriteJukeboxReply() => Reply(Nfs3Status.Jukebox, WccData.Empty.Write);

    [Fact]
    public async Task Jukebox_is_retried_with_the_same_arguments_then_succeeds()
    {
        var caller = ScriptedProtocolCaller.ReplyingInTurn(WriteJukeboxReply(), WriteJukeboxReply(), WriteOkReply(3));
        var result = await new Nfs3Client(caller, TinyDelays).WriteAsync(Handle4, 10, "abc"u8.ToArray(), StableHow.FileSync);
        Assert.Equal(3u, result.Count);
        Assert.Equal(42ul, result.Verifier);
        Assert.Equal(3, caller.Calls.Count);
        Assert.All(caller.Calls, call => Assert.Equal((uint)Nfs3Procedure.Write, call.Procedure));
        Assert.All(caller.Calls, call => Assert.Equal(caller.Calls[0].Args, call.Args));
    }

    [Fact]
    public async Task Jukebox_retries_of_read_fill_the_destination_once_the_data_comes()
    {
        var jukebox = Reply(Nfs3Status.Jukebox, w => Fattr3.WritePostOp(w, null));
        var ok = Reply(Nfs3Status.Ok, new ReadResult(2, true, null) { Data = new byte[] { 5, 6 } }.Write);
        var caller = ScriptedProtocolCaller.ReplyingInTurn(jukebox, ok);
        var destination = new byte[4];
        var result = await new Nfs3Client(caller, TinyDelays).ReadAsync(Handle4, 0, 4, destination);
        Assert.Equal(2, result.Count);
        Assert.Equal(new byte[] { 5, 6, 0, 0 }, destination);
        Assert.Equal(caller.Calls[0].Args, caller.Calls[1].Args);
    }

    [Fact]
    public async Task Jukebox_exhausted_throws_with_errno_EAGAIN()
    {
        var caller = ScriptedProtocolCaller.Replying(WriteJukeboxReply());
        var e = await Assert.ThrowsAsync<Nfs3Exception>(() =>
            new Nfs3Client(caller, TinyDelays).WriteAsync(Handle4, 0, "abc"u8.ToArray(), StableHow.Unstable));
        Assert.Equal(Nfs3Status.Jukebox, e.Status);
        Assert.Equal(Nfs3Procedure.Write, e.Procedure);
        Assert.Equal(LinuxErrno.EAGAIN, e.Errno);
        Assert.Equal(3, caller.Calls.Count);
        Assert.Equal("WRITE: NFS3ERR_JUKEBOX (server busy, try again later)", e.Message);
    }

    [Fact]
    public async Task Jukebox_wait_can_be_cancelled()
    {
        using var cts = new CancellationTokenSource();
        var caller = new ScriptedProtocolCaller((_, _) => { cts.Cancel(); return Reply(Nfs3Status.Jukebox); });
        var slow = new JukeboxPolicy { InitialDelay = TimeSpan.FromMinutes(1) };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new Nfs3Client(caller, slow).GetAttrAsync(Handle4, cts.Token));
        Assert.Single(caller.Calls);
    }

    [Fact]
    public void Jukebox_policy_doubles_up_to_its_maximum()
    {
        var policy = JukeboxPolicy.Default;
        Assert.Equal(10, policy.MaxAttempts);
        Assert.Equal(
            new[] { 250, 500, 1000, 2000, 4000, 5000, 5000 },
            Enumerable.Range(1, 7).Select(attempt => (int)policy.DelayAfter(attempt).TotalMilliseconds));
        Assert.Equal(TimeSpan.MaxValue, new JukeboxPolicy { InitialDelay = TimeSpan.FromDays(1), MaxDelay = TimeSpan.MaxValue }.DelayAfter(100));
        Assert.Throws<ArgumentOutOfRangeException>(() => new JukeboxPolicy { MaxAttempts = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new JukeboxPolicy { InitialDelay = TimeSpan.FromSeconds(-1) });
    }

    [Fact]
    public async Task Lookup_failure_carries_the_directory_attributes_and_takes_a_path()
    {
        var caller = ScriptedProtocolCaller.Replying(Reply(Nfs3Status.NoEnt, w => Fattr3.WritePostOp(w, SampleAttributes)));
        var e = await Assert.ThrowsAsync<Nfs3Exception>(() => new Nfs3Client(caller).LookupAsync(Handle4, "b"));
        Assert.Equal("LOOKUP: NFS3ERR_NOENT (no such file or directory)", e.Message);
        Assert.Equal(SampleAttributes, e.FailureDetails);
        Assert.Null(e.Path);
        var withPath = e.WithPath("/export/a/b");
        Assert.Equal("LOOKUP /export/a/b: NFS3ERR_NOENT (no such file or directory)", withPath.Message);
        Assert.Equal(("/export/a/b", Nfs3Status.NoEnt, Nfs3Procedure.Lookup), (withPath.Path, withPath.Status, withPath.Procedure));
        Assert.Same(e.FailureDetails, withPath.FailureDetails);
        Assert.Equal(new LinuxErrno(2, "ENOENT"), withPath.Errno);
    }

    [Fact]
    public async Task Failures_expose_their_wcc_data()
    {
        var wcc = new WccData(new WccAttr(1, new NfsTime(2, 3), new NfsTime(4, 5)), SampleAttributes);
        var client = new Nfs3Client(ScriptedProtocolCaller.Replying(Reply(Nfs3Status.NotEmpty, wcc.Write)));
        var e = await Assert.ThrowsAsync<Nfs3Exception>(() => client.RmdirAsync(Handle4, "d"));
        Assert.Equal(wcc, e.FailureDetails);
        Assert.Equal(LinuxErrno.ENOTEMPTY, e.Errno);

        var rename = new RenameResult(wcc, WccData.Empty);
        client = new Nfs3Client(ScriptedProtocolCaller.Replying(Reply(Nfs3Status.XDev, rename.Write)));
        e = await Assert.ThrowsAsync<Nfs3Exception>(() => client.RenameAsync(Handle4, "a", Handle8, "b"));
        Assert.Equal(rename, e.FailureDetails);

        client = new Nfs3Client(ScriptedProtocolCaller.Replying(Reply(Nfs3Status.Stale)));
        e = await Assert.ThrowsAsync<Nfs3Exception>(() => client.GetAttrAsync(Handle4));
        Assert.Null(e.FailureDetails);
        Assert.Equal(LinuxErrno.ESTALE, e.Errno);
    }

    [Theory]
    [InlineData(Nfs3Status.Perm, "NFS3ERR_PERM", 1, "EPERM")]
    [InlineData(Nfs3Status.Acces, "NFS3ERR_ACCES", 13, "EACCES")]
    [InlineData(Nfs3Status.NameTooLong, "NFS3ERR_NAMETOOLONG", 36, "ENAMETOOLONG")]
    [InlineData(Nfs3Status.DQuot, "NFS3ERR_DQUOT", 122, "EDQUOT")]
    [InlineData(Nfs3Status.Stale, "NFS3ERR_STALE", 116, "ESTALE")]
    [InlineData(Nfs3Status.NotSync, "NFS3ERR_NOT_SYNC", 22, "EINVAL")]
    [InlineData(Nfs3Status.BadCookie, "NFS3ERR_BAD_COOKIE", 22, "EINVAL")]
    [InlineData(Nfs3Status.NotSupp, "NFS3ERR_NOTSUPP", 95, "EOPNOTSUPP")]
    [InlineData(Nfs3Status.ServerFault, "NFS3ERR_SERVERFAULT", 121, "EREMOTEIO")]
    [InlineData(Nfs3Status.Jukebox, "NFS3ERR_JUKEBOX", 11, "EAGAIN")]
    [InlineData((Nfs3Status)4242, "NFS3ERR_#4242", 5, "EIO")]
    public async Task Status_maps_to_exception_name_and_errno(Nfs3Status status, string wireName, int errno, string errnoName)
    {
        var client = new Nfs3Client(ScriptedProtocolCaller.Replying(Reply(status, w => Fattr3.WritePostOp(w, null))), JukeboxPolicy.NoRetry);
        var e = await Assert.ThrowsAsync<Nfs3Exception>(() => client.AccessAsync(Handle4, Access3.Read));
        Assert.Equal(status, e.Status);
        Assert.StartsWith($"ACCESS: {wireName} (", e.Message);
        Assert.Equal(new LinuxErrno(errno, errnoName), e.Errno);
    }

    [Fact]
    public void Every_defined_status_has_a_name_a_description_and_an_errno()
    {
        foreach (var status in Enum.GetValues<Nfs3Status>().Where(s => s != Nfs3Status.Ok))
        {
            Assert.StartsWith("NFS3ERR_", status.WireName());
            Assert.DoesNotContain("#", status.WireName());
            Assert.NotEqual("unknown NFS error", status.Describe());
            Assert.True(status.ToErrno().Number > 0);
        }
        Assert.Equal("NFS3_OK", Nfs3Status.Ok.WireName());
        Assert.Equal((100003u, 3u), (Nfs3.Program, Nfs3.Version));
        Assert.Equal((100005u, 3u), (NfsNs.Protocols.Mount3.Mount3.Program, NfsNs.Protocols.Mount3.Mount3.Version));
        Assert.Equal(10008u, (uint)Nfs3Status.Jukebox);
        Assert.Equal(70u, (uint)Nfs3Status.Stale);
    }

    [Fact]
    public async Task Every_procedure_sends_its_number_and_decodes_its_reply()
    {
        var wcc = new WccData(null, SampleAttributes);
        var create = new CreateResult(Handle8, SampleAttributes, wcc);
        var cases = new (Nfs3Procedure Procedure, byte[] Reply, Func<Nfs3Client, Task<object>> Call, object Expected)[]
        {
            (Nfs3Procedure.SetAttr, Reply(Nfs3Status.Ok, wcc.Write), async c => await c.SetAttrAsync(Handle4, new Sattr3 { Mode = 0x1C0 }, null), wcc),
            (Nfs3Procedure.Lookup, Reply(Nfs3Status.Ok, new LookupResult(Handle8, null, SampleAttributes).Write), async c => await c.LookupAsync(Handle4, "x"), new LookupResult(Handle8, null, SampleAttributes)),
            (Nfs3Procedure.Access, Reply(Nfs3Status.Ok, new AccessResult(Access3.Read, null).Write), async c => await c.AccessAsync(Handle4, Access3.All), new AccessResult(Access3.Read, null)),
            (Nfs3Procedure.ReadLink, Reply(Nfs3Status.Ok, new ReadLinkResult("t", null).Write), async c => await c.ReadLinkAsync(Handle4), "t"),
            (Nfs3Procedure.Create, Reply(Nfs3Status.Ok, create.Write), async c => await c.CreateAsync(Handle4, "f", CreateMode.Guarded, null), create),
            (Nfs3Procedure.Mkdir, Reply(Nfs3Status.Ok, create.Write), async c => await c.MkdirAsync(Handle4, "d", Sattr3.Empty), create),
            (Nfs3Procedure.Symlink, Reply(Nfs3Status.Ok, create.Write), async c => await c.SymlinkAsync(Handle4, "l", "target", Sattr3.Empty), create),
            (Nfs3Procedure.Mknod, Reply(Nfs3Status.Ok, create.Write), async c => await c.MknodAsync(Handle4, "p", Nfs3FileType.Fifo, Sattr3.Empty), create),
            (Nfs3Procedure.Remove, Reply(Nfs3Status.Ok, wcc.Write), async c => await c.RemoveAsync(Handle4, "f"), wcc),
            (Nfs3Procedure.Rmdir, Reply(Nfs3Status.Ok, wcc.Write), async c => await c.RmdirAsync(Handle4, "d"), wcc),
            (Nfs3Procedure.Rename, Reply(Nfs3Status.Ok, new RenameResult(wcc, wcc).Write), async c => await c.RenameAsync(Handle4, "a", Handle4, "b"), new RenameResult(wcc, wcc)),
            (Nfs3Procedure.Link, Reply(Nfs3Status.Ok, new LinkResult(null, wcc).Write), async c => await c.LinkAsync(Handle8, Handle4, "h"), new LinkResult(null, wcc)),
            (Nfs3Procedure.FsStat, Reply(Nfs3Status.Ok, new FsStatResult(null, 1, 2, 3, 4, 5, 6, 7).Write), async c => await c.FsStatAsync(Handle4), new FsStatResult(null, 1, 2, 3, 4, 5, 6, 7)),
            (Nfs3Procedure.PathConf, Reply(Nfs3Status.Ok, new PathConfResult(null, 1, 255, true, false, false, true).Write), async c => await c.PathConfAsync(Handle4), new PathConfResult(null, 1, 255, true, false, false, true)),
            (Nfs3Procedure.Commit, Reply(Nfs3Status.Ok, new CommitResult(77, wcc).Write), async c => await c.CommitAsync(Handle4, 0, 0), new CommitResult(77, wcc)),
        };
        foreach (var (procedure, reply, call, expected) in cases)
        {
            var caller = ScriptedProtocolCaller.Replying(reply);
            Assert.Equal(expected, await call(new Nfs3Client(caller)));
            Assert.Equal((uint)procedure, caller.Calls.Single().Procedure);
        }
    }

    [Fact]
    public async Task Fsinfo_and_readdir_decode_every_field()
    {
        var fsinfo = new FsInfoResult(SampleAttributes, 1, 2, 3, 4, 5, 6, 7, 8, new NfsTime(0, 1000), FsProperties.CanSetTime);
        Assert.Equal(fsinfo, await new Nfs3Client(ScriptedProtocolCaller.Replying(Reply(Nfs3Status.Ok, fsinfo.Write))).FsInfoAsync(Handle4));

        var dir = new ReadDirResult([new DirEntry(3, "a", 30)], 9, false, null);
        var caller = ScriptedProtocolCaller.Replying(Reply(Nfs3Status.Ok, dir.Write));
        var decoded = await new Nfs3Client(caller).ReadDirAsync(Handle4, 30, 9, 1024);
        Assert.Equal(dir.Entries, decoded.Entries);
        Assert.Equal((9ul, false), (decoded.CookieVerifier, decoded.Eof));
        Assert.Equal(new ReadDirArgs(Handle4, 30, 9, 1024), Decode(caller.Calls.Single().Args, ReadDirArgs.Read));
    }

    [Fact]
    public async Task Null_sends_nothing_and_expects_nothing()
    {
        var caller = ScriptedProtocolCaller.Replying([]);
        await new Nfs3Client(caller).NullAsync();
        Assert.Empty(caller.Calls.Single().Args);
        await Assert.ThrowsAsync<XdrException>(() => new Nfs3Client(ScriptedProtocolCaller.Replying([0, 0, 0, 0])).NullAsync());
    }

    [Fact]
    public async Task Read_replies_that_disagree_with_themselves_or_the_request_are_refused()
    {
        var client = (byte[] reply) => new Nfs3Client(ScriptedProtocolCaller.Replying(reply));
        // count says 6, the opaque holds 5
        var mismatch = Hex("00000000 00000000 00000006 00000000 00000005 68656C6C6F000000");
        await Assert.ThrowsAsync<XdrException>(() => client(mismatch).ReadAsync(Handle4, 0, 16, new byte[16]));
        // 5 bytes returned for 4 requested
        var tooLong = Hex("00000000 00000000 00000005 00000000 00000005 68656C6C6F000000");
        var e = await Assert.ThrowsAsync<XdrException>(() => client(tooLong).ReadAsync(Handle4, 0, 4, new byte[16]));
        Assert.Contains("READ data", e.Message);
        // destination smaller than the request
        await Assert.ThrowsAsync<ArgumentException>(() => client(tooLong).ReadAsync(Handle4, 0, 8, new byte[4]));
    }

    [Fact]
    public async Task Every_truncation_of_a_reply_is_an_XdrException()
    {
        var replies = new (byte[] Reply, Func<Nfs3Client, Task> Call)[]
        {
            (Hex("00000000" + SampleAttributesHex), c => c.GetAttrAsync(Handle4)),
            (Reply(Nfs3Status.Ok, new ReadResult(5, true, SampleAttributes) { Data = "hello"u8.ToArray() }.Write), c => c.ReadAsync(Handle4, 0, 5, new byte[5])),
            (Reply(Nfs3Status.Ok, new ReadDirPlusResult([new DirEntryPlus(1, "f", 1, SampleAttributes, Handle8)], 1, true, SampleAttributes).Write),
                c => c.ReadDirPlusAsync(Handle4, 0, 0, 100, 1000)),
            (Reply(Nfs3Status.NoEnt, w => Fattr3.WritePostOp(w, SampleAttributes)), c => c.LookupAsync(Handle4, "x")),
            (Reply(Nfs3Status.Ok, new WriteResult(1, StableHow.Unstable, 1, new WccData(new WccAttr(1, default, default), SampleAttributes)).Write),
                c => c.WriteAsync(Handle4, 0, new byte[1], StableHow.Unstable)),
        };
        foreach (var (reply, call) in replies)
        {
            for (int cut = 0; cut < reply.Length; cut++)
                await Assert.ThrowsAsync<XdrException>(() => call(new Nfs3Client(ScriptedProtocolCaller.Replying(reply[..cut]))));
            await Assert.ThrowsAsync<XdrException>(() => call(new Nfs3Client(ScriptedProtocolCaller.Replying([.. reply, 0, 0, 0, 0]))));
        }
    }

    [Fact]
    public async Task Oversized_names_are_refused_before_anything_is_sent()
    {
        var caller = ScriptedProtocolCaller.Replying([]);
        var client = new Nfs3Client(caller);
        string tooLong = new('n', 256);
        await Assert.ThrowsAsync<ArgumentException>(() => client.LookupAsync(Handle4, tooLong));
        await Assert.ThrowsAsync<ArgumentException>(() => client.CreateAsync(Handle4, tooLong, CreateMode.Unchecked, null));
        await Assert.ThrowsAsync<ArgumentException>(() => client.RenameAsync(Handle4, "ok", Handle4, tooLong));
        await Assert.ThrowsAsync<ArgumentException>(() => client.SymlinkAsync(Handle4, "ok", new string('t', 1025), Sattr3.Empty));
        Assert.Empty(caller.Calls);
    }

    [Fact]
    public async Task Oversized_names_and_handles_in_replies_are_XdrExceptions()
    {
        var longName = Reply(Nfs3Status.Ok, w =>
        {
            Fattr3.WritePostOp(w, null);
            w.WriteUInt64(0);
            w.WriteBool(true); w.WriteUInt64(1); w.WriteString(new string('n', 256)); w.WriteUInt64(1);
            w.WriteBool(false); w.WriteBool(true);
        });
        await Assert.ThrowsAsync<XdrException>(() => new Nfs3Client(ScriptedProtocolCaller.Replying(longName)).ReadDirAsync(Handle4, 0, 0, 4096));

        var bigHandle = Reply(Nfs3Status.Ok, w => { w.WriteOpaque(new byte[65]); Fattr3.WritePostOp(w, null); Fattr3.WritePostOp(w, null); });
        await Assert.ThrowsAsync<XdrException>(() => new Nfs3Client(ScriptedProtocolCaller.Replying(bigHandle)).LookupAsync(Handle4, "x"));
    }

    [Fact]
    public async Task Write_reply_claiming_more_than_was_sent_is_refused()
    {
        var client = new Nfs3Client(ScriptedProtocolCaller.Replying(WriteOkReply(4)));
        await Assert.ThrowsAsync<XdrException>(() => client.WriteAsync(Handle4, 0, "abc"u8.ToArray(), StableHow.FileSync));
    }
}
