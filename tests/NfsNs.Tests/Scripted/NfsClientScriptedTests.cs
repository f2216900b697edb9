using NfsNs.Client;
using NfsNs.Protocols.Nfs3;
using NfsNs.Tests.Support;

namespace NfsNs.Tests.Scripted;

/// <summary>
/// The NFS client library (<see cref="NfsMount"/>, <see cref="NfsFileStream"/>) against a <see cref="ScriptedNfsServer"/>,
/// for the server behaviours of cases/nfs3.md that a real server cannot be made to show on demand: D1, D2, J1, W1,
/// short reads without EOF (R2), and a lost CREATE reply (J3).
/// </summary>
public class NfsClientScriptedTests
{
    private static readonly TimeSpan ListingLimit = TimeSpan.FromSeconds(5);

    private static async Task<List<NfsDirectoryEntry>> ListAllAsync(NfsMount mount, string path)
    {
        // Bounded: a client that loops forever over a broken server fails the test by cancellation, not by hanging it.
        using var cts = new CancellationTokenSource(ListingLimit);
        var entries = new List<NfsDirectoryEntry>();
        await foreach (var entry in mount.ListAsync(path, cts.Token))
        {
            entries.Add(entry);
            if (entries.Count > 10_000) Assert.Fail($"listing {path} returned over 10000 entries: the client is looping");
        }
        return entries;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static ScriptedNfsServer ServerWithDirectory(string directory, IEnumerable<string> names)
    {
        var server = ScriptedNfsServer.Start();
        server.AddDirectory(directory);
        foreach (string name in names) server.AddFile(NfsPath.Combine(directory, name), [1, 2, 3]);
        return server;
    }

    // ---- D1 ------------------------------------------------------------------------------------------------

    [Fact]
    public async Task D1_READDIRPLUS_refused_with_NOTSUPP_falls_back_to_READDIR_and_lists_the_same_names()
    {
        string[] names = ["alpha", "beta", "gamma", "delta", "epsilon"];
        await using var server = ServerWithDirectory("/dir", names);
        server.DirectoryPageSize = 2;
        await using var mount = await server.MountAsync();

        // The same server with READDIRPLUS: the names the fallback must reproduce.
        var withPlus = await ListAllAsync(mount, "/dir");
        Assert.Equal(names, withPlus.Select(e => e.Name));
        Assert.All(withPlus, e => Assert.NotNull(e.Handle));

        server.Handle(Nfs3Procedure.ReadDirPlus, _ => ScriptedNfsReply.Error(Nfs3Status.NotSupp));
        await using var fresh = await server.MountAsync();
        int before = server.NfsProcedures.Count;
        var listed = await ListAllAsync(fresh, "/dir");
        Assert.Equal(names, listed.Select(e => e.Name));
        Assert.All(listed, e => Assert.Null(e.Attributes));
        Assert.Equal(server.Find("/dir")!.Children.Select(c => c.FileId), listed.Select(e => e.FileId));
        // The refused READDIRPLUS, then READDIR from cookie 0 over three pages of two. "dir" is not looked up again:
        // both mounts share one volume, whose LOOKUP cache holds it from the first listing (acdirmin is 30 s).
        Assert.Same(mount.Volume, fresh.Volume);
        Assert.Equal([Nfs3Procedure.ReadDirPlus, Nfs3Procedure.ReadDir, Nfs3Procedure.ReadDir, Nfs3Procedure.ReadDir],
            server.NfsProcedures.Skip(before));
        var firstReadDir = server.NfsCalls(Nfs3Procedure.ReadDir)[0].Call.Arguments(ReadDirArgs.Read);
        Assert.Equal(0ul, firstReadDir.Cookie);

        // The mount remembers: a second listing goes straight to READDIR.
        before = server.NfsProcedures.Count;
        Assert.Equal(names, (await ListAllAsync(fresh, "/dir")).Select(e => e.Name));
        Assert.Equal([Nfs3Procedure.ReadDir, Nfs3Procedure.ReadDir, Nfs3Procedure.ReadDir],
            server.NfsProcedures.Skip(before));
        Assert.Empty(server.Failures);
    }

    // ---- D2 ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task D2_empty_page_without_EOF_fails_with_an_IO_error_naming_the_cookie(bool readDirPlusSupported)
    {
        await using var server = ServerWithDirectory("/dir", ["a", "b"]);
        server.Handle(Nfs3Procedure.ReadDirPlus, _ => readDirPlusSupported
            ? ScriptedNfsReply.Ok(new ReadDirPlusResult([], server.CookieVerifier, Eof: false, null))
            : ScriptedNfsReply.Error(Nfs3Status.NotSupp));
        server.Handle(Nfs3Procedure.ReadDir, _ => ScriptedNfsReply.Ok(new ReadDirResult([], server.CookieVerifier, Eof: false, null)));
        await using var mount = await server.MountAsync();

        var e = await Assert.ThrowsAsync<NfsClientException>(() => ListAllAsync(mount, "/dir"));
        Assert.IsAssignableFrom<IOException>(e);
        Assert.Contains("/export/dir", e.Message);
        Assert.Contains("empty page without EOF at cookie 0", e.Message);
        int pages = server.NfsCalls(Nfs3Procedure.ReadDirPlus).Count + server.NfsCalls(Nfs3Procedure.ReadDir).Count;
        Assert.True(pages <= 2, $"{pages} directory calls for one empty page");
        Assert.Empty(server.Failures);
    }

    [Fact]
    public async Task D2_cookie_that_does_not_advance_fails_instead_of_looping()
    {
        await using var server = ServerWithDirectory("/dir", ["a"]);
        var stuck = server.Find("/dir/a")!;
        server.Handle(Nfs3Procedure.ReadDirPlus, _ => ScriptedNfsReply.Ok(new ReadDirPlusResult(
            [new DirEntryPlus(stuck.FileId, "a", Cookie: 7, stuck.Attributes, stuck.Handle)], server.CookieVerifier, Eof: false, null)));
        await using var mount = await server.MountAsync();

        var e = await Assert.ThrowsAsync<NfsClientException>(() => ListAllAsync(mount, "/dir"));
        Assert.Contains("cookie did not advance past 7", e.Message);
        Assert.Equal(2, server.NfsCalls(Nfs3Procedure.ReadDirPlus).Count);
    }

    [Fact]
    public async Task D2_cookies_that_cycle_between_pages_fail_instead_of_looping()
    {
        // Each page advances the cookie, but they come round again: 0 → 1 → 2 → 1 → 2 … A check against the last
        // cookie alone never fires; only remembering the cookies already resumed from ends it.
        await using var server = ServerWithDirectory("/dir", ["a", "b"]);
        var a = server.Find("/dir/a")!;
        var b = server.Find("/dir/b")!;
        server.Handle(Nfs3Procedure.ReadDirPlus, call =>
        {
            var args = call.Arguments(ReadDirPlusArgs.Read);
            var next = args.Cookie == 1 ? b : a;
            ulong nextCookie = args.Cookie == 1 ? 2ul : 1ul;
            return ScriptedNfsReply.Ok(new ReadDirPlusResult(
                [new DirEntryPlus(next.FileId, next.Name, nextCookie, next.Attributes, next.Handle)], server.CookieVerifier, Eof: false, null));
        });
        await using var mount = await server.MountAsync();

        var e = await Assert.ThrowsAsync<NfsClientException>(() => ListAllAsync(mount, "/dir"));
        Assert.Contains("cookie 1", e.Message);
        Assert.True(server.NfsCalls(Nfs3Procedure.ReadDirPlus).Count <= 3, $"{server.NfsCalls(Nfs3Procedure.ReadDirPlus).Count} pages");
    }

    // ---- J1 ------------------------------------------------------------------------------------------------

    [Fact]
    public async Task J1_JUKEBOX_twice_then_OK_is_retried_and_succeeds_with_new_requests()
    {
        await using var server = ScriptedNfsServer.Start();
        server.AddFile("/f", [1, 2, 3, 4, 5]);
        int getAttrs = 0;
        server.Handle(Nfs3Procedure.GetAttr, _ => ++getAttrs <= 2 ? ScriptedNfsReply.Error(Nfs3Status.Jukebox) : null);
        // noac: the attributes LOOKUP returned would otherwise answer GetAttributesAsync without any GETATTR.
        await using var mount = await server.MountAsync(o => o with { NoAc = true });

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var attributes = await mount.GetAttributesAsync("/f");
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);

        Assert.Equal(5ul, attributes.Size);
        var calls = server.NfsCalls(Nfs3Procedure.GetAttr);
        Assert.Equal(3, calls.Count);
        // Each retry is a new request (new XID), so a duplicate request cache cannot replay the JUKEBOX answer.
        Assert.Equal(3, calls.Select(c => c.Call.Xid).Distinct().Count());
        Assert.All(calls, c => Assert.Equal(calls[0].Call.Body.ToArray(), c.Call.Body.ToArray()));
        // Backoff of 10 ms then 20 ms (the policy of ScriptedNfsServer.MountOptions), give or take timer granularity.
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(25), $"retried after only {elapsed.TotalMilliseconds} ms");
        Assert.Empty(server.Failures);
    }

    [Fact]
    public async Task J1_JUKEBOX_beyond_the_policy_s_attempts_fails_with_the_JUKEBOX_status()
    {
        await using var server = ScriptedNfsServer.Start();
        server.AddFile("/f");
        server.Handle(Nfs3Procedure.GetAttr, _ => ScriptedNfsReply.Error(Nfs3Status.Jukebox));
        await using var mount = await server.MountAsync(o => o with
        {
            Jukebox = new JukeboxPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(10) },
            NoAc = true, // else LOOKUP's attributes answer GetAttributesAsync without a GETATTR
        });

        var e = await Assert.ThrowsAsync<Nfs3Exception>(() => mount.GetAttributesAsync("/f"));
        Assert.Equal(Nfs3Status.Jukebox, e.Status);
        Assert.Equal(Nfs3Procedure.GetAttr, e.Procedure);
        Assert.Equal("/export/f", e.Path);
        Assert.Equal(2, server.NfsCalls(Nfs3Procedure.GetAttr).Count);
    }

    // ---- W1 ------------------------------------------------------------------------------------------------

    private static async Task<NfsMount> MountWith4KiBWrites(ScriptedNfsServer server, int maxCommitRounds = 4) =>
        await server.MountAsync(o => o with { MaxWriteSize = 4096, MaxCommitRounds = maxCommitRounds });

    [Fact]
    public async Task W1_verifier_change_at_COMMIT_resends_the_same_ranges_and_commits_again()
    {
        await using var server = ScriptedNfsServer.Start();
        await using var mount = await MountWith4KiBWrites(server);
        ulong v1 = server.WriteVerifier;
        int commits = 0;
        // The server reboots between the WRITEs and the first COMMIT: the data is lost and COMMIT brings a new verifier.
        server.Handle(Nfs3Procedure.Commit, _ =>
        {
            if (commits++ == 0) server.Restart();
            return null;
        });
        var data = RandomBytes(3 * 4096 + 100, seed: 1);

        var stream = await mount.OpenWriteAsync("/out");
        await stream.WriteAsync(data);
        await stream.DisposeAsync();

        ulong v2 = server.WriteVerifier;
        Assert.NotEqual(v1, v2);
        Assert.Equal(2, commits);
        var writesAndCommits = server.NfsProcedures.Where(p => p is Nfs3Procedure.Write or Nfs3Procedure.Commit).ToList();
        Assert.Equal([.. Enumerable.Repeat(Nfs3Procedure.Write, 4), Nfs3Procedure.Commit,
                .. Enumerable.Repeat(Nfs3Procedure.Write, 4), Nfs3Procedure.Commit], writesAndCommits);

        var writes = server.NfsCalls(Nfs3Procedure.Write).Select(c => c.Call.Arguments(WriteArgs.Read)).ToList();
        Assert.All(writes, w => Assert.Equal(StableHow.Unstable, w.Stable));
        var first = writes.Take(4).OrderBy(w => w.Offset).ToList();
        var resent = writes.Skip(4).OrderBy(w => w.Offset).ToList();
        Assert.Equal(new ulong[] { 0, 4096, 8192, 12288 }, first.Select(w => w.Offset));
        Assert.Equal(first.Select(w => w.Offset), resent.Select(w => w.Offset));
        for (int i = 0; i < first.Count; i++)
            Assert.True(first[i].Data.Span.SequenceEqual(resent[i].Data.Span), $"re-sent WRITE at {resent[i].Offset} differs from the original");

        // Only the re-sent data can have survived the restart.
        Assert.Equal(data, server.Find("/out")!.StableContent);
        Assert.Empty(server.Failures);
    }

    [Fact]
    public async Task W1_restart_during_a_long_write_with_background_commits_loses_nothing()
    {
        // Many COMMIT windows: COMMITs overlap later WRITEs. The server reboots at the third COMMIT, dropping every
        // uncommitted byte; whatever that COMMIT did not cover must be re-sent, and the stable content must be whole.
        await using var server = ScriptedNfsServer.Start();
        await using var mount = await server.MountAsync(o => o with { MaxWriteSize = 4096, MaxUncommittedBytes = 3 * 4096, RequestsInFlight = 2 });
        int commits = 0;
        server.Handle(Nfs3Procedure.Commit, _ =>
        {
            if (++commits == 3) server.Restart();
            return null;
        });
        var data = RandomBytes(40 * 4096 + 7, seed: 3);
        await using (var stream = await mount.OpenWriteAsync("/out"))
        {
            for (int offset = 0; offset < data.Length; offset += 5000)
                await stream.WriteAsync(data.AsMemory(offset, Math.Min(5000, data.Length - offset)));
        }
        Assert.True(commits >= 5, $"expected several COMMIT windows, saw {commits}");
        Assert.Equal(data, server.Find("/out")!.StableContent);
        Assert.Empty(server.Failures);
    }

    [Fact]
    public async Task W1_verifier_changing_on_every_call_fails_the_flush_after_MaxCommitRounds()
    {
        await using var server = ScriptedNfsServer.Start();
        await using var mount = await MountWith4KiBWrites(server, maxCommitRounds: 3);
        server.Handle(Nfs3Procedure.Write, _ =>
        {
            server.Restart();
            return null;
        });
        server.Handle(Nfs3Procedure.Commit, _ =>
        {
            server.Restart();
            return null;
        });
        var data = RandomBytes(2 * 4096, seed: 2);

        var stream = await mount.OpenWriteAsync("/out");
        await stream.WriteAsync(data);
        var e = await Assert.ThrowsAsync<NfsClientException>(() => stream.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("verifier changed in each of 3 rounds", e.Message);
        Assert.Contains("may not be on stable storage", e.Message);
        Assert.Equal(3, server.NfsCalls(Nfs3Procedure.Commit).Count);
        // Two WRITEs, then two re-sent after each of the first two COMMITs.
        Assert.Equal(6, server.NfsCalls(Nfs3Procedure.Write).Count);
        Assert.False(stream.CanWrite);
    }

    [Fact]
    public async Task Short_WRITEs_are_continued_from_where_the_server_stopped()
    {
        await using var server = ScriptedNfsServer.Start();
        await using var mount = await MountWith4KiBWrites(server);
        // RFC 1813 §3.3.7: count may be less than asked; this server writes at most 1000 bytes per call.
        server.Handle(Nfs3Procedure.Write, call => server.Write(call.Arguments(WriteArgs.Read), count: 1000));
        var data = RandomBytes(2 * 4096 + 10, seed: 4);

        await using (var stream = await mount.OpenWriteAsync("/out"))
            await stream.WriteAsync(data);

        Assert.Equal(data, server.Find("/out")!.StableContent);
        var writes = server.NfsCalls(Nfs3Procedure.Write).Select(c => c.Call.Arguments(WriteArgs.Read)).ToList();
        // 4096 = 4·1000 + 96: five calls per full chunk, each starting where the last one stopped; one for the tail.
        Assert.Equal(11, writes.Count);
        Assert.Contains(writes, w => w.Offset == 4000 && w.Data.Length == 96);
        Assert.Empty(server.Failures);
    }

    // ---- R2 (short reads) ----------------------------------------------------------------------------------

    [Theory]
    [InlineData(81920)]
    [InlineData(1000)]
    public async Task R2_short_reads_without_EOF_still_return_every_byte_in_order(int bufferSize)
    {
        await using var server = ScriptedNfsServer.Start();
        var content = RandomBytes(5 * 4096 + 1234, seed: 3);
        server.AddFile("/big", content);
        // RFC 1813 §3.3.6 lets a server return less than asked without EOF; this one always returns half.
        server.Handle(Nfs3Procedure.Read, call =>
        {
            var args = call.Arguments(FileRangeArgs.Read);
            return server.Read(args.File, args.Offset, Math.Max(1, args.Count / 2));
        });
        await using var mount = await server.MountAsync(o => o with { MaxReadSize = 4096 });

        await using var stream = await mount.OpenReadAsync("/big");
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, bufferSize).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(content, copy.ToArray());
        Assert.Equal(content.Length, stream.Position);
        Assert.Equal(0, await stream.ReadAsync(new byte[10]));
        Assert.All(server.NfsCalls(Nfs3Procedure.Read), c => Assert.Equal(4096u, c.Call.Arguments(FileRangeArgs.Read).Count));
        Assert.Empty(server.Failures);
    }

    // ---- J3 at NFS level -----------------------------------------------------------------------------------

    [Fact]
    public async Task J3_CREATE_whose_reply_is_lost_is_resent_with_the_same_XID_and_succeeds()
    {
        await using var server = ScriptedNfsServer.Start();
        await using var mount = await server.MountAsync(o => o with { Timeout = TimeSpan.FromMilliseconds(300), Retransmits = 3 });
        uint? performedXid = null;
        ScriptedNfsReply? cachedReply = null;
        server.Handle(Nfs3Procedure.Create, call =>
        {
            if (performedXid is null)
            {
                // The server creates the file, but its reply is lost.
                performedXid = call.Xid;
                cachedReply = server.Default(call);
                return ScriptedNfsReply.None;
            }
            // A duplicate request cache: the same XID gets the first execution's reply; a new XID would be a new
            // CREATE and fail with EXIST (GUARDED).
            return call.Xid == performedXid ? cachedReply : null;
        });

        await using (var stream = await mount.OpenWriteAsync("/new", FileMode.CreateNew).WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.Equal(server.Find("/new")!.Handle, stream.Handle);
        }

        // At least one retransmission; on a loaded machine the 300 ms timeout may fire again before the answer to
        // the first retransmission is read, so more are allowed — but every one is the same XID and the same bytes.
        var creates = server.NfsCalls(Nfs3Procedure.Create);
        Assert.True(creates.Count >= 2, $"expected a retransmission, saw {creates.Count} CREATE call(s)");
        Assert.All(creates, c => Assert.Equal(creates[0].Call.Xid, c.Call.Xid));
        Assert.All(creates, c => Assert.Equal(creates[0].Call.Record, c.Call.Record));
        Assert.NotEqual(creates[0].Connection, creates[1].Connection);
        Assert.Equal(CreateMode.Guarded, creates[0].Call.Arguments(CreateArgs.Read).Mode);
        Assert.Single(server.Find("/")!.Children);
        Assert.Empty(server.Failures);
    }
}
