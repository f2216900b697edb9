using System.Diagnostics;
using System.Net;
using System.Text;
using NfsNs.Client;
using NfsNs.Peers;
using NfsNs.Protocols.Nfs3;
using NfsNs.Protocols.Nlm4;
using NfsNs.Protocols.Nsm;
using NfsNs.Rpc;
using NfsNs.Server;
using NfsNs.Tests.Support;
using NfsNs.Xdr;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The embedded server's NLM v4 and NSM v1 over the wire, driven by <see cref="Nlm4Client"/> from "client hosts" at
/// 127.0.0.2, 127.0.0.3, … inside a test namespace, with an <see cref="NlmTestPeer"/> receiving GRANTED and SM_NOTIFY.
/// </summary>
[Trait("Category", "Integration")]
public sealed class NlmServerTests
{
    /// <summary>One client host (address + caller_name) and one process (svid) on it, with its own connection.</summary>
    private sealed class LockClient : IAsyncDisposable
    {
        private int _cookie;

        public LockClient(EmbeddedServerHost host, string address, string name, int svid, int state = 5)
        {
            Address = IPAddress.Parse(address);
            Name = name;
            Svid = svid;
            State = state;
            Connection = new RpcConnection(new BoundSocketFactory(host.Handle, Address), new IPEndPoint(IPAddress.Loopback, 2049), RpcTestHelpers.Fast);
            Nlm = new Nlm4Client(new RpcProgramClient(Connection, Nlm4.Program, Nlm4.Version, RpcCredentials.None));
            Nsm = new NsmClient(new RpcProgramClient(Connection, Protocols.Nsm.Nsm.Program, Protocols.Nsm.Nsm.Version, RpcCredentials.None));
        }

        public IPAddress Address { get; }
        public string Name { get; }
        public int Svid { get; }
        public int State { get; set; }
        public RpcConnection Connection { get; }
        public Nlm4Client Nlm { get; }
        public NsmClient Nsm { get; }
        public NetObj Owner => new(Encoding.ASCII.GetBytes($"{Svid}@{Name}").Take(Nlm4.MaxNetObjSize).ToArray());

        public NetObj NextCookie() => new(BitConverter.GetBytes(Interlocked.Increment(ref _cookie) + Svid * 1000));

        public Nlm4Lock Describe(NfsFileHandle file, ulong offset, ulong length) => new(Name, new NetObj(file.Bytes), Owner, Svid, offset, length);

        public async Task<Nlm4Status> LockAsync(NfsFileHandle file, ulong offset, ulong length, bool exclusive = true, bool block = false,
            bool reclaim = false, NetObj? cookie = null) =>
            (await Nlm.LockAsync(new Nlm4LockArgs(cookie ?? NextCookie(), block, exclusive, Describe(file, offset, length), reclaim, State))).Status;

        public Task<Nlm4TestResult> TestAsync(NfsFileHandle file, ulong offset, ulong length, bool exclusive = true) =>
            Nlm.TestAsync(new Nlm4TestArgs(NextCookie(), exclusive, Describe(file, offset, length)));

        public async Task<Nlm4Status> UnlockAsync(NfsFileHandle file, ulong offset, ulong length) =>
            (await Nlm.UnlockAsync(new Nlm4UnlockArgs(NextCookie(), Describe(file, offset, length)))).Status;

        public async Task<Nlm4Status> CancelAsync(NfsFileHandle file, ulong offset, ulong length, bool exclusive = true) =>
            (await Nlm.CancelAsync(new Nlm4CancelArgs(NextCookie(), true, exclusive, Describe(file, offset, length)))).Status;

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }

    private sealed class Setup : IAsyncDisposable
    {
        public required EmbeddedServerHost Host { get; init; }
        public required NlmTestPeer Peer { get; init; }
        public required NfsMount Mount { get; init; }
        public required NfsFileHandle File { get; init; }
        public NfsServer Server => Host.Server;

        public async ValueTask DisposeAsync()
        {
            await Mount.DisposeAsync();
            await Peer.DisposeAsync();
            await Host.DisposeAsync();
        }
    }

    /// <summary>A server whose call-backs go to an <see cref="NlmTestPeer"/>, with a file "f" and its handle.</summary>
    private static async Task<Setup> StartAsync(string prefix, TimeSpan? grace = null, Func<NfsServerOptions, NfsServerOptions>? configure = null)
    {
        NlmTestPeer? peer = null;
        var host = await EmbeddedServerHost.StartAsync(prefix, options =>
        {
            var adjusted = options with
            {
                CallbackResolver = (address, program, version, ct) => peer!.ResolveAsync(address, program, version, ct),
                CallbackRetryDelay = TimeSpan.FromMilliseconds(200),
                CallbackTimeout = TimeSpan.FromSeconds(3),
                GracePeriod = grace ?? TimeSpan.FromSeconds(3),
            };
            return configure?.Invoke(adjusted) ?? adjusted;
        });
        try
        {
            peer = new NlmTestPeer(host.Handle);
            var mount = await host.MountAsync();
            await using (var file = await mount.OpenWriteAsync("f")) await file.WriteAsync(new byte[64]);
            return new Setup { Host = host, Peer = peer, Mount = mount, File = await mount.LookupAsync("f") };
        }
        catch
        {
            if (peer is not null) await peer.DisposeAsync();
            await host.DisposeAsync();
            throw;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 15)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task An_exclusive_lock_blocks_others_until_unlocked_then_a_granted_call_back_hands_it_over()
    {
        await using var s = await StartAsync("nlm-grant");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 11);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 22);

        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 100));
        var test = await b.TestAsync(s.File, 50, 10);
        Assert.Equal(Nlm4Status.Denied, test.Status);
        Assert.Equal(new Nlm4Holder(true, 11, a.Owner, 0, 100), test.Holder);
        Assert.Equal(Nlm4Status.Denied, await b.LockAsync(s.File, 50, 10));

        var cookie = b.NextCookie();
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 50, 10, block: true, cookie: cookie));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 50, 10, block: true)); // a re-poll: not queued twice
        var waiting = Assert.Single(s.Server.WaitingLocks);
        Assert.Equal((22, "client-b"), (waiting.Owner.Svid, waiting.Owner.Host.Name));
        Assert.False(s.Peer.Granted.Reader.TryPeek(out _), "nothing is granted while A holds the lock");

        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        var (granted, from) = await NlmTestPeer.NextAsync(s.Peer.Granted);
        Assert.Equal(cookie, granted.Cookie);
        Assert.True(granted.Exclusive);
        Assert.Equal(b.Describe(s.File, 50, 10), granted.Lock);
        Assert.Equal(IPAddress.Loopback, from.Address); // the server called from its own address
        Assert.Contains((b.Address, Nlm4.Program), s.Peer.Lookups);

        var held = Assert.Single(s.Server.Locks);
        Assert.Equal(("client-b", 22, 50ul, 59ul, true), (held.Owner.Host.Name, held.Owner.Svid, held.Range.Start, held.Range.End, held.Exclusive));
        Assert.Empty(s.Server.WaitingLocks);
        // The client's re-poll after the grant is simply granted; A now sees B as the holder.
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 50, 10, block: true));
        Assert.Equal(new Nlm4Holder(true, 22, b.Owner, 50, 10), (await a.TestAsync(s.File, 0, 0, exclusive: false)).Holder);
        Assert.Equal("127.0.0.3", Assert.Single(s.Server.MonitoredClients.Keys, k => k == "127.0.0.3"));
    }

    [Fact]
    public async Task Shared_locks_coexist_and_cancel_removes_a_waiting_request()
    {
        await using var s = await StartAsync("nlm-cancel");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        await using var c = new LockClient(s.Host, "127.0.0.4", "client-c", svid: 3);

        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 0, exclusive: false));
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 10, 10, exclusive: false));
        Assert.Equal(Nlm4Status.Granted, (await c.TestAsync(s.File, 0, 0, exclusive: false)).Status);
        Assert.Equal(2, s.Server.Locks.Count);

        Assert.Equal(Nlm4Status.Blocked, await c.LockAsync(s.File, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Denied, await c.CancelAsync(s.File, 0, 0, exclusive: false)); // not what was queued
        Assert.Equal(Nlm4Status.Granted, await c.CancelAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Denied, await c.CancelAsync(s.File, 0, 0));                    // nothing left to cancel
        Assert.Empty(s.Server.WaitingLocks);

        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Granted, await b.UnlockAsync(s.File, 0, 0));
        Assert.Empty(s.Server.Locks);
        await Task.Delay(300);
        Assert.False(s.Peer.Granted.Reader.TryRead(out _), "a cancelled request must not be granted");
    }

    [Fact]
    public async Task A_granted_call_back_the_client_refuses_releases_the_lock_again()
    {
        await using var s = await StartAsync("nlm-refuse");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        s.Peer.GrantedAnswer = Nlm4Status.Denied;

        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        await NlmTestPeer.NextAsync(s.Peer.Granted);
        await WaitUntilAsync(() => s.Server.Locks.Count == 0, "the refused lock to be released");
        Assert.Contains(s.Host.Log, line => line.Contains("took back", StringComparison.Ordinal) && line.Contains("NLM4_DENIED", StringComparison.Ordinal));
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 0));
    }

    [Fact]
    public async Task Taking_back_a_refused_grant_leaves_what_the_owner_held_before_it()
    {
        await using var s = await StartAsync("nlm-takeback");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        s.Peer.GrantedAnswer = Nlm4Status.Denied;

        // B holds [0, 10) shared and waits to make it [0, 100) exclusive; A's lock in [50, 60) is in the way.
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 0, 10, exclusive: false));
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 200, 10, exclusive: true));
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 50, 10));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 100, block: true));
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 50, 10));
        await NlmTestPeer.NextAsync(s.Peer.Granted);
        await WaitUntilAsync(() => s.Host.Log.Any(l => l.Contains("took back", StringComparison.Ordinal)), "the refused lock to be taken back");

        // B gave up its request, not the locks it held: [0, 10) stays shared (and [200, 210) untouched).
        Assert.Equal([("[0, 10)", false), ("[200, 210)", true)], s.Server.Locks.Select(l => (l.Range.ToString(), l.Exclusive)));
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 10, 90));
        Assert.Equal(Nlm4Status.Denied, await a.LockAsync(s.File, 0, 10));
    }

    [Fact]
    public async Task A_granted_call_back_that_cannot_be_delivered_releases_the_lock_after_its_attempts()
    {
        await using var s = await StartAsync("nlm-unreach", configure: o => o with
        {
            // Nothing is registered for the clients: every attempt fails at once.
            CallbackResolver = (_, _, _, _) => Task.FromResult<IPEndPoint?>(null),
            CallbackRetryDelay = TimeSpan.FromMilliseconds(50),
        });
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        await WaitUntilAsync(() => s.Server.Locks.Count == 0, "the undeliverable lock to be released");
        Assert.Contains(s.Host.Log, line => line.Contains("after 5 GRANTED attempts: 127.0.0.3 has no NLM v4 registered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_re_polls_its_granted_lock_keeps_it_even_when_the_call_back_then_fails()
    {
        var lookupMayFail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var s = await StartAsync("nlm-settle", configure: o => o with
        {
            CallbackResolver = async (_, _, _, ct) =>
            {
                await lookupMayFail.Task.WaitAsync(ct);
                return null;
            },
        });
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        Assert.Equal("client-b", Assert.Single(s.Server.Locks).Owner.Host.Name);
        // B polls again (as Linux clients do every 30 s) before the GRANTED call-back got through: it learns it holds the lock.
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 0, 0, block: true));
        lookupMayFail.SetResult();
        await WaitUntilAsync(() => s.Host.Log.Any(l => l.Contains("GRANTED call-back", StringComparison.Ordinal)), "the call-back to fail");
        await Task.Delay(500);
        Assert.Equal("client-b", Assert.Single(s.Server.Locks).Owner.Host.Name);
        Assert.DoesNotContain(s.Host.Log, l => l.Contains("took back", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Call_backs_find_the_clients_services_through_the_clients_rpcbind_and_never_call_the_server_itself()
    {
        // No resolver: the server asks rpcbind on port 111 of each client's address, through its own socket factory.
        await using var host = await EmbeddedServerHost.StartAsync("nlm-rpcbind", o => o with
        {
            CallbackRetryDelay = TimeSpan.FromMilliseconds(100),
            CallbackTimeout = TimeSpan.FromSeconds(3),
            GracePeriod = TimeSpan.FromSeconds(2),
        });
        await using var peer = new NlmTestPeer(host.Handle, IPAddress.Parse("127.0.0.3"), withRpcbind: true);
        await using var mount = await host.MountAsync();
        await using (var file = await mount.OpenWriteAsync("f")) await file.WriteAsync(new byte[8]);
        var fh = await mount.LookupAsync("f");
        await using var a = new LockClient(host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(host, "127.0.0.3", "client-b", svid: 2);
        await using var local = new LockClient(host, "127.0.0.1", "client-local", svid: 3);

        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(fh, 0, 0));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(fh, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(fh, 0, 0));
        var (granted, _) = await NlmTestPeer.NextAsync(peer.Granted);
        Assert.Equal(2, granted.Lock.Svid);

        // A client on the server's own loopback address: "its" NLM is the server's own, which is never called.
        Assert.Equal(Nlm4Status.Blocked, await local.LockAsync(fh, 0, 0, block: true));
        Assert.Equal(Nlm4Status.Granted, await b.UnlockAsync(fh, 0, 0));
        await WaitUntilAsync(() => host.Server.Locks.Count == 0, "the lock of the loopback client to be taken back");
        Assert.Contains(host.Log, line => line.Contains("after 1 GRANTED attempt: NLM v4 of 127.0.0.1 resolves to 127.0.0.1:2049, which is this server itself", StringComparison.Ordinal));

        // After a restart: b's status monitor is told through its rpcbind; a (no rpcbind) and 127.0.0.1 (ourselves) are
        // given up. (Each holds a lock at the restart: a clean stop forgets clients that hold nothing.)
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(fh, 100, 10));
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(fh, 200, 10));
        Assert.Equal(Nlm4Status.Granted, await local.LockAsync(fh, 300, 10));
        await host.RestartAsync();
        var (notify, _) = await NlmTestPeer.NextAsync(peer.Notified);
        Assert.Equal(new StatChange("127.0.0.1", host.Server.NsmState!.Value), notify);
        await WaitUntilAsync(() => host.Log.Count(l => l.Contains("NSM: gave up telling", StringComparison.Ordinal)) == 2, "two notifications given up");
        Assert.False(peer.Notified.Reader.TryRead(out _), "the server must not notify itself");
        await WaitUntilAsync(() => !Directory.EnumerateFiles(Path.Combine(host.LockStateDirectory, "sm")).Any(), "sm/ to be emptied");
    }

    [Fact]
    public async Task After_a_restart_clients_are_notified_and_the_grace_period_admits_only_reclaims()
    {
        await using var s = await StartAsync("nlm-grace", grace: TimeSpan.FromSeconds(3));
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1, state: 41);
        Assert.Null(s.Server.GraceEndsAt); // a first start needs no grace period
        int firstState = s.Server.NsmState!.Value;
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 10));
        Assert.True(File.Exists(Path.Combine(s.Host.LockStateDirectory, "sm", "127.0.0.2")));

        await s.Host.RestartAsync();
        Assert.True(s.Server.InGracePeriod);
        Assert.NotNull(s.Server.GraceEndsAt);
        int newState = s.Server.NsmState!.Value;
        Assert.True(newState > firstState && newState % 2 == 1, $"state {firstState} → {newState}");
        var (notify, _) = await NlmTestPeer.NextAsync(s.Peer.Notified);
        Assert.Equal(new StatChange("127.0.0.1", newState), notify);
        Assert.Contains((a.Address, Protocols.Nsm.Nsm.Program), s.Peer.Lookups);
        Assert.Empty(s.Server.Locks);

        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);
        Assert.Equal(Nlm4Status.DeniedGracePeriod, await b.LockAsync(s.File, 20, 10));
        Assert.Equal(Nlm4Status.DeniedGracePeriod, (await b.TestAsync(s.File, 0, 10)).Status);
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 10, reclaim: true));
        Assert.Equal(Nlm4Status.Denied, await b.LockAsync(s.File, 5, 1, reclaim: true)); // reclaims conflict like any lock

        await WaitUntilAsync(() => !s.Server.InGracePeriod, "the grace period to end");
        Assert.Equal(Nlm4Status.Denied, await b.LockAsync(s.File, 0, 10));
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 20, 10));
        Assert.Equal(Nlm4Status.DeniedGracePeriod, await b.LockAsync(s.File, 40, 10, reclaim: true)); // too late to reclaim
        Assert.Equal(2, s.Server.Locks.Count);

        // Monitoring lasts beyond the last unlock while the server runs (a crash must leave every client to tell);
        // a clean stop forgets the clients that hold nothing, so the next start has no grace period to wait out.
        await a.UnlockAsync(s.File, 0, 0);
        Assert.True(File.Exists(Path.Combine(s.Host.LockStateDirectory, "sm", "127.0.0.2")));
        await b.UnlockAsync(s.File, 0, 0);
        await s.Host.RestartAsync();
        Assert.False(s.Server.InGracePeriod);
        Assert.Null(s.Server.GraceEndsAt);
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 20, 10));
    }

    [Fact]
    public async Task A_clients_sm_notify_with_a_new_state_releases_its_locks_and_grants_waiters()
    {
        await using var s = await StartAsync("nlm-notify");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1, state: 5);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2, state: 9);

        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 10));
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 20, 10));
        Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 10, block: true));

        // Someone else naming A: ignored (it does not come from A's address). The same state: not a reboot.
        await b.Nsm.NotifyAsync("client-a", 7);
        await a.Nsm.NotifyAsync("client-a", 5);
        Assert.Equal(3, s.Server.Locks.Count + s.Server.WaitingLocks.Count);

        await a.Nsm.NotifyAsync("127.0.0.2", 7);
        var (granted, _) = await NlmTestPeer.NextAsync(s.Peer.Granted);
        Assert.Equal(2, granted.Lock.Svid);
        Assert.All(s.Server.Locks, l => Assert.Equal("client-b", l.Owner.Host.Name));
        Assert.Equal(2, s.Server.Locks.Count);
        Assert.DoesNotContain("127.0.0.2", s.Server.MonitoredClients.Keys);
        Assert.Contains(s.Host.Log, line => line.Contains("SM_NOTIFY: 127.0.0.2 restarted (state 7): released 1 lock", StringComparison.Ordinal));

        // FREE_ALL does the same for a host by name.
        await b.Nlm.FreeAllAsync(new Nlm4Notify("client-b", 11));
        Assert.Empty(s.Server.Locks);
    }

    [Fact]
    public async Task Bad_requests_get_specific_answers()
    {
        await using var s = await StartAsync("nlm-bad");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);

        var garbage = await Assert.ThrowsAsync<RpcAcceptedException>(() =>
            a.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Lock, RpcCredentials.None, new UInt32Value(7), XdrVoid.Read, CancellationToken.None));
        Assert.Equal(RpcAcceptStat.GarbageArgs, garbage.Stat);
        var unknown = await Assert.ThrowsAsync<RpcAcceptedException>(() =>
            a.Connection.CallAsync(Nlm4.Program, Nlm4.Version, 16, RpcCredentials.None, XdrVoid.Value, XdrVoid.Read, CancellationToken.None));
        Assert.Equal(RpcAcceptStat.ProcUnavail, unknown.Stat);

        var forged = new NfsFileHandle([.. s.File.Bytes[..^1], (byte)(s.File.Bytes[^1] ^ 1)]);
        Assert.Equal(Nlm4Status.StaleFileHandle, await a.LockAsync(forged, 0, 0));
        Assert.Equal(Nlm4Status.StaleFileHandle, await a.LockAsync(new NfsFileHandle([1, 2, 3]), 0, 0));
        Assert.Equal(Nlm4Status.Failed, await a.LockAsync(s.Mount.RootHandle, 0, 0)); // a directory
        Assert.Equal(Nlm4Status.FileTooBig, await a.LockAsync(s.File, (ulong)long.MaxValue, 2));
        Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, (ulong)long.MaxValue, 1));
        Assert.Equal(Nlm4Status.Denied, (await a.Nlm.GrantedAsync(new Nlm4TestArgs(a.NextCookie(), true, a.Describe(s.File, 0, 0)))).Status);

        var nsm = a.Nsm;
        Assert.Equal(new SmStatResult(NsmResult.Success, s.Server.NsmState!.Value), await nsm.StatAsync("anyone"));
        var mon = new Mon(new MonId("10.9.9.9", new MyId("me", (int)Nlm4.Program, 4, 16)), new byte[16]);
        Assert.Equal(NsmResult.Failure, (await nsm.MonAsync(mon)).Result);
        Assert.Equal(s.Server.NsmState!.Value, (await nsm.UnmonAllAsync(new MyId("me", 1, 1, 1))).State);
    }

    [Fact]
    public async Task Share_reservations_and_message_variants_work()
    {
        await using var s = await StartAsync("nlm-share");
        await using var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2);

        Task<Nlm4ShareResult> Share(LockClient client, Nlm4Procedure procedure, Nlm4ShareAccess access, Nlm4ShareMode deny) =>
            client.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)procedure, RpcCredentials.None,
                new Nlm4ShareArgs(client.NextCookie(), client.Name, new NetObj(s.File.Bytes), client.Owner, deny, access, false),
                Nlm4ShareResult.Read, CancellationToken.None);

        Assert.Equal(Nlm4Status.Granted, (await Share(a, Nlm4Procedure.Share, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyWrite)).Status);
        Assert.Equal(Nlm4Status.Denied, (await Share(b, Nlm4Procedure.Share, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyNone)).Status);
        Assert.Equal(Nlm4Status.Granted, (await Share(b, Nlm4Procedure.Share, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyNone)).Status);
        Assert.Equal(Nlm4Status.Granted, (await Share(a, Nlm4Procedure.Unshare, Nlm4ShareAccess.Read, Nlm4ShareMode.DenyWrite)).Status);
        Assert.Equal(Nlm4Status.Granted, (await Share(b, Nlm4Procedure.Share, Nlm4ShareAccess.ReadWrite, Nlm4ShareMode.DenyNone)).Status);
        Assert.Single(s.Server.ShareReservations);

        // LOCK_MSG and TEST_MSG reply at once and send their results back as LOCK_RES and TEST_RES.
        var cookie = a.NextCookie();
        await a.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.LockMsg, RpcCredentials.None,
            new Nlm4LockArgs(cookie, false, true, a.Describe(s.File, 0, 10), false, 5), XdrVoid.Read, CancellationToken.None);
        Assert.Equal((Nlm4Procedure.LockRes, cookie, Nlm4Status.Granted), await NlmTestPeer.NextAsync(s.Peer.Results));
        cookie = b.NextCookie();
        await b.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.TestMsg, RpcCredentials.None,
            new Nlm4TestArgs(cookie, true, b.Describe(s.File, 5, 1)), XdrVoid.Read, CancellationToken.None);
        Assert.Equal((Nlm4Procedure.TestRes, cookie, Nlm4Status.Denied), await NlmTestPeer.NextAsync(s.Peer.Results));
    }

    [Fact]
    public async Task Rpcinfo_inside_the_namespace_lists_nlockmgr_and_status()
    {
        await using var s = await StartAsync("nlm-rpcinfo");
        var rpcinfo = (await s.Host.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.Matches(@"100021\s+4\s+tcp\s+2049\s+nlockmgr", rpcinfo.Stdout);
        Assert.Matches(@"100024\s+1\s+tcp\s+2049\s+status", rpcinfo.Stdout);
        Assert.Equal(s.Server.NfsEndPoint, s.Server.NlmEndPoint);
    }

    [Fact]
    public async Task Locking_can_be_disabled_or_served_on_ports_of_its_own()
    {
        await using var off = await EmbeddedServerHost.StartAsync("nlm-off", o => o with { EnableLocking = false });
        Assert.Null(off.Server.NlmEndPoint);
        var rpcinfo = (await off.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.DoesNotContain("nlockmgr", rpcinfo.Stdout, StringComparison.Ordinal);

        await using var own = await EmbeddedServerHost.StartAsync("nlm-ports", o => o with { NlmPort = 0, NsmPort = 32766 });
        Assert.NotEqual(2049, own.Server.NlmEndPoint!.Port);
        Assert.Equal(32766, own.Server.NsmEndPoint!.Port);
        rpcinfo = (await own.Namespace.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.Matches($@"100021\s+4\s+tcp\s+{own.Server.NlmEndPoint.Port}\s+nlockmgr", rpcinfo.Stdout);
        Assert.Matches(@"100024\s+1\s+tcp\s+32766\s+status", rpcinfo.Stdout);
    }

    [Fact]
    public async Task Tshark_decodes_an_nlm_exchange_with_its_granted_call_back_without_malformed_packets()
    {
        await using var s = await StartAsync("nlm-wire");
        await using var capture = await TsharkCapture.StartAsync(s.Host.Namespace, $"port 2049 or port {s.Peer.EndPoint.Port}",
            rpcPorts: [s.Peer.EndPoint.Port]);
        await using (var a = new LockClient(s.Host, "127.0.0.2", "client-a", svid: 1))
        await using (var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: 2))
        {
            Assert.Equal(Nlm4Status.Granted, await a.LockAsync(s.File, 0, 100));
            Assert.Equal(Nlm4Status.Denied, (await b.TestAsync(s.File, 0, 0)).Status);
            Assert.Equal(Nlm4Status.Blocked, await b.LockAsync(s.File, 0, 0, block: true));
            Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
            await NlmTestPeer.NextAsync(s.Peer.Granted);
            await WaitUntilAsync(() => s.Host.Log.Any(l => l.Contains("client confirmed GRANTED", StringComparison.Ordinal)), "the GRANTED reply");
        }
        var summary = await capture.StopAsync();
        Assert.True(summary.IsWellFormed, string.Join('\n', summary.MalformedPackets));
        var nlm = (await capture.ListRpcAsync()).Where(p => p.Program.Split(',').Contains("100021")).ToList();
        var procedures = nlm.SelectMany(p => p.Procedure.Split(',')).ToHashSet();
        Assert.Superset(new HashSet<string> { "1", "2", "4", "5" }, procedures);
        var statuses = await TsharkCapture.ReadFieldsAsync(capture.FilePath, "nlm.stat", ["nlm.stat"], [s.Peer.EndPoint.Port]);
        Assert.Contains(statuses, line => line.Split(',').Contains("3")); // NLM4_BLOCKED decoded as a status
    }

    [Fact]
    public async Task Nfsns_serve_takes_lock_options_and_counts_locks_per_client()
    {
        await using var ns = await TestNamespace.CreateAsync("nlm-cli");
        using var handle = Namespaces.NetworkNamespace.Open(ns.Name);
        string stateDirectory = Path.Combine(ns.StateDirectory, "serve-nsm");
        await using var serve = await ServeProcess.StartAsync(
            ["serve", "--memory", "--netns", ns.Name, "--state-dir", stateDirectory, "--grace", "1.5"], "serving /export");
        Assert.Contains("NLM 127.0.0.1:2049", serve.Log);
        await using (var mount = await NfsMount.MountAsync($"nfs://127.0.0.1/export?netns={ns.Name}"))
        {
            await using (var file = await mount.OpenWriteAsync("f")) await file.WriteAsync(new byte[8]);
            var fh = await mount.LookupAsync("f");
            await using var connection = new RpcConnection(new BoundSocketFactory(handle, IPAddress.Parse("127.0.0.2")),
                new IPEndPoint(IPAddress.Loopback, 2049), RpcTestHelpers.Fast);
            var nlm = new Nlm4Client(new RpcProgramClient(connection, Nlm4.Program, Nlm4.Version, RpcCredentials.None));
            foreach (ulong offset in new ulong[] { 0, 10 })
            {
                var alock = new Nlm4Lock("cli-client", new NetObj(fh.Bytes), new NetObj([1]), 1, offset, 1);
                Assert.Equal(Nlm4Status.Granted, (await nlm.LockAsync(new Nlm4LockArgs(new NetObj([2]), false, true, alock, false, 3))).Status);
            }
        }
        await serve.SignalAsync("USR1");
        string stdout = await serve.StopAsync();
        Assert.Contains("LOCKS", stdout);
        Assert.Matches(@"127\.0\.0\.2\s.*\s2\r?\n", stdout);
        Assert.True(File.Exists(Path.Combine(stateDirectory, "sm", "127.0.0.2")), serve.Log);

        // The next start finds the monitored client: a grace period of 1.5 s.
        await using (var again = await ServeProcess.StartAsync(
            ["serve", "--memory", "--netns", ns.Name, "--state-dir", stateDirectory, "--grace", "1.5"], "serving /export"))
        {
            await Task.Delay(200);
            await again.StopAsync();
            Assert.Contains("grace period of 1.5 s for 1 client", again.Log);
        }

        await using var off = await ServeProcess.StartAsync(["serve", "--memory", "--netns", ns.Name, "--no-locking"], "serving /export");
        var rpcinfo = (await ns.RunAsync("rpcinfo", "-p", "127.0.0.1")).EnsureSuccess();
        Assert.DoesNotContain("nlockmgr", rpcinfo.Stdout, StringComparison.Ordinal);
        await off.StopAsync();
    }

    // ---- hostile clients ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Extreme_owners_ranges_and_requests_for_nothing_get_specific_answers()
    {
        await using var s = await StartAsync("nlm-extreme");
        await using var a = new LockClient(s.Host, "127.0.0.2", new string('a', Nlm4.MaxStringLength), svid: int.MinValue);
        await using var b = new LockClient(s.Host, "127.0.0.3", "client-b", svid: int.MaxValue);

        // The largest owner handle and caller_name the protocol allows, svid at both ends of its range.
        var bigOwner = new NetObj(Enumerable.Range(0, Nlm4.MaxNetObjSize).Select(i => (byte)i).ToArray());
        var alock = a.Describe(s.File, 0, 10) with { OwnerHandle = bigOwner };
        Assert.Equal(Nlm4Status.Granted, (await a.Nlm.LockAsync(new Nlm4LockArgs(a.NextCookie(), false, true, alock, false, 5))).Status);
        var test = await b.TestAsync(s.File, 5, 1);
        Assert.Equal((Nlm4Status.Denied, int.MinValue), (test.Status, test.Holder!.Svid));
        Assert.Equal(bigOwner, test.Holder.OwnerHandle);
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(s.File, 10, 0)); // [10, end) touches but does not overlap

        // Ranges past the largest file offset (2^63 - 1), including ones whose end overflows 64 bits.
        Assert.Equal(Nlm4Status.FileTooBig, await a.LockAsync(s.File, 1UL << 63, 0));
        Assert.Equal(Nlm4Status.FileTooBig, await a.LockAsync(s.File, ulong.MaxValue, 2));
        Assert.Equal(Nlm4Status.FileTooBig, await a.LockAsync(s.File, 5, ulong.MaxValue));
        Assert.Equal(Nlm4Status.FileTooBig, (await a.TestAsync(s.File, ulong.MaxValue, 0)).Status);
        Assert.Equal(Nlm4Status.FileTooBig, await a.UnlockAsync(s.File, ulong.MaxValue - 1, 5));

        // Requests for nothing (this owner of A's holds nothing): UNLOCK of a range never locked is fine, CANCEL of
        // no queued request is DENIED.
        Assert.Equal(Nlm4Status.Granted, await a.UnlockAsync(s.File, 0, 0));
        Assert.Equal(Nlm4Status.Denied, await a.CancelAsync(s.File, 1000, 10));
        // An owner handle one byte over the limit does not decode.
        var tooBig = await Assert.ThrowsAsync<RpcAcceptedException>(() => a.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Lock,
            RpcCredentials.None, new RawArgs(w =>
            {
                w.WriteOpaque([1]);
                w.WriteBool(false);
                w.WriteBool(true);
                w.WriteString("x");
                w.WriteOpaque(s.File.Bytes);
                w.WriteOpaque(new byte[Nlm4.MaxNetObjSize + 1]);
                w.WriteInt32(1);
                w.WriteUInt64(0);
                w.WriteUInt64(0);
                w.WriteBool(false);
                w.WriteInt32(1);
            }), XdrVoid.Read, CancellationToken.None));
        Assert.Equal(RpcAcceptStat.GarbageArgs, tooBig.Stat);
        Assert.Equal(2, s.Server.Locks.Count);

        // FREE_ALL frees only the sender's own locks, whatever name it gives.
        await b.Nlm.FreeAllAsync(new Nlm4Notify(a.Name, 99));
        Assert.Equal(2, s.Server.Locks.Count);
        await b.Nlm.FreeAllAsync(new Nlm4Notify("client-b", 99));
        Assert.Equal(a.Name, Assert.Single(s.Server.Locks).Owner.Host.Name);
    }

    private sealed class RawArgs(Action<XdrWriter> write) : IXdrWritable
    {
        public void Write(XdrWriter writer) => write(writer);
    }

    [Fact]
    public async Task A_handle_of_an_export_the_client_may_not_use_is_refused()
    {
        var open = EmbeddedServerHost.MemoryExport("/export");
        var closed = EmbeddedServerHost.MemoryExport("/private", new Server.NfsExportOptions
        {
            Squash = Server.FileSystem.SquashMode.None,
            AllowedClients = [IPNetwork.Parse("127.0.0.1/32"), IPNetwork.Parse("127.0.0.3/32")],
        }, exportId: 2);
        await using var host = await EmbeddedServerHost.StartAsync("nlm-exports", open, closed);
        await using var mount = await host.MountAsync("/private");
        await using (var file = await mount.OpenWriteAsync("f")) await file.WriteAsync(new byte[1]);
        var fh = await mount.LookupAsync("f");
        await using var a = new LockClient(host, "127.0.0.2", "client-a", svid: 1);
        await using var b = new LockClient(host, "127.0.0.3", "client-b", svid: 2);
        Assert.Equal(Nlm4Status.Failed, await a.LockAsync(fh, 0, 0));
        Assert.Equal(Nlm4Status.Failed, (await a.TestAsync(fh, 0, 0)).Status);
        Assert.Equal(Nlm4Status.Granted, await b.LockAsync(fh, 0, 0));
        Assert.Single(host.Server.Locks);
    }

    [Fact]
    public async Task One_address_cannot_exceed_the_servers_limits_by_changing_its_caller_name()
    {
        var limits = new Server.Locking.ByteRangeLockLimits { MaxLocksPerHost = 4, MaxLocks = 8, MaxQueuedPerHost = 2, MaxQueued = 4 };
        await using var s = await StartAsync("nlm-limits", configure: o => o with { LockLimits = limits });
        var clients = new List<LockClient>();
        try
        {
            for (int i = 0; i < 5; i++) clients.Add(new LockClient(s.Host, "127.0.0.2", $"name-{i}", svid: i + 1));
            int locked = 0, shared = 0;
            foreach (var client in clients)
            {
                for (ulong n = 0; n < 4; n++)
                {
                    var status = await client.LockAsync(s.File, n * 10 + (ulong)clients.IndexOf(client) * 100, 1);
                    Assert.True(status is Nlm4Status.Granted or Nlm4Status.DeniedNoLocks, $"{status}");
                    if (status == Nlm4Status.Granted) locked++;
                    var share = await client.Connection.CallAsync(Nlm4.Program, Nlm4.Version, (uint)Nlm4Procedure.Share, RpcCredentials.None,
                        new Nlm4ShareArgs(client.NextCookie(), client.Name, new NetObj(s.File.Bytes), new NetObj([(byte)n]),
                            Nlm4ShareMode.DenyNone, Nlm4ShareAccess.Read, false), Nlm4ShareResult.Read, CancellationToken.None);
                    Assert.True(share.Status is Nlm4Status.Granted or Nlm4Status.DeniedNoLocks, $"{share.Status}");
                    if (share.Status == Nlm4Status.Granted) shared++;
                }
            }
            Assert.Equal(8, locked);
            Assert.True(shared <= 8, $"{shared} share reservations held, over the server's limit of 8");
            Assert.True(s.Server.ShareReservations.Count <= 8);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }
}
