using NfsNs.Namespaces;
using NfsNs.Protocols.Nfs3;
using NfsNs.Rpc;

namespace NfsNs.Client;

/// <summary>
/// Everything that decides how a mount talks to its server. Defaults follow mount(8)/nfs(5) for TCP:
/// <c>timeo=600</c> (60 s), <c>retrans=2</c>, <c>hard</c>.
/// </summary>
public sealed record NfsMountOptions
{
    /// <summary>Server host name or address literal, resolved inside <see cref="Namespace"/>.</summary>
    public required string Host { get; init; }

    /// <summary>Path on the server as the user gave it (export plus path inside it).</summary>
    public string Path { get; init; } = "/";

    /// <summary>The namespace every socket of the mount is created in; null = the caller's current one at mount time.</summary>
    public NetworkNamespace? Namespace { get; init; }

    public int? NfsPort { get; init; }
    public int? MountPort { get; init; }

    public uint Uid { get; init; } = NativeIdentity.EffectiveUid;
    public uint Gid { get; init; } = NativeIdentity.EffectiveGid;
    public IReadOnlyList<uint>? SupplementaryGids { get; init; }
    public RpcAuthFlavor Auth { get; init; } = RpcAuthFlavor.Sys;

    /// <summary>timeo: how long before the first retransmission.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public int Retransmits { get; init; } = 2;
    public bool Soft { get; init; }

    /// <summary>Reconnect after a lost connection (re-sending pending calls with their XIDs). Tests turn it off for J2.</summary>
    public bool Reconnect { get; init; } = true;

    /// <summary><c>nconnect</c>: TCP connections to the server, calls spread over them round-robin (1 to 16).</summary>
    public int NConnect { get; init; } = 1;

    /// <summary>Largest READ/WRITE we ask for, whatever the server allows (R4: ganesha offers 64 MiB).</summary>
    public int MaxReadSize { get; init; } = 1 << 20;
    public int MaxWriteSize { get; init; } = 1 << 20;

    /// <summary>READ and WRITE requests one stream keeps in flight (read-ahead and write-behind depth).</summary>
    public int RequestsInFlight { get; init; } = 8;

    /// <summary>
    /// Bytes written UNSTABLE after which a stream sends a COMMIT in the background. Up to about twice this is held
    /// for a possible re-send; 8 MiB keeps a 1 GiB copy near 80 MiB RSS and still overlaps the server's fsync.
    /// </summary>
    public long MaxUncommittedBytes { get; init; } = 8L << 20;

    /// <summary>COMMIT rounds with a changed verifier before a write fails (W1).</summary>
    public int MaxCommitRounds { get; init; } = 4;

    /// <summary>READDIRPLUS sizes (RFC 1813 §3.3.17): dircount bounds the names and cookies, maxcount the whole reply.</summary>
    public uint DirCount { get; init; } = 64 * 1024;
    public uint DirMaxCount { get; init; } = 128 * 1024;

    public JukeboxPolicy? Jukebox { get; init; }

    /// <summary>
    /// nfs(5) <c>acregmin</c>: the least time attributes of a file that is not a directory are used from the cache
    /// before they are asked again (3 s). They are kept longer the longer they have been unchanged, up to
    /// <see cref="AcRegMax"/> (see <see cref="AttributeTimeouts"/> for the rule).
    /// </summary>
    public TimeSpan AcRegMin { get; init; } = AttributeTimeouts.Default.RegularMin;

    /// <summary>nfs(5) <c>acregmax</c>: the most time attributes of a file that is not a directory are used from the cache (60 s).</summary>
    public TimeSpan AcRegMax { get; init; } = AttributeTimeouts.Default.RegularMax;

    /// <summary>nfs(5) <c>acdirmin</c>: as <see cref="AcRegMin"/> for directories (30 s); it also bounds how long their cached LOOKUP results are used.</summary>
    public TimeSpan AcDirMin { get; init; } = AttributeTimeouts.Default.DirectoryMin;

    /// <summary>nfs(5) <c>acdirmax</c>: as <see cref="AcRegMax"/> for directories (60 s).</summary>
    public TimeSpan AcDirMax { get; init; } = AttributeTimeouts.Default.DirectoryMax;

    /// <summary>
    /// nfs(5) <c>noac</c>: nothing is answered from the attribute or LOOKUP cache; every question goes to the server.
    /// (Linux also makes writes synchronous; this client's writes stay UNSTABLE and are committed by flush and close.)
    /// </summary>
    public bool NoAc { get; init; }

    /// <summary>
    /// nfs(5) <c>nocto</c>: opening a file uses its cached attributes while fresh instead of always asking the server
    /// (close-to-open consistency, the default, always asks).
    /// </summary>
    public bool NoCto { get; init; }

    /// <summary>The timeouts this mount applies to its volume's caches: none with <see cref="NoAc"/>.</summary>
    public AttributeTimeouts AttributeTimeouts => NoAc ? AttributeTimeouts.None : new AttributeTimeouts(AcRegMin, AcRegMax, AcDirMin, AcDirMax);

    /// <summary>
    /// How long mounting may take before it gives up, even on a hard mount, as mount(8)'s <c>retry=</c> (2 minutes in
    /// the foreground). Null: the smaller of 2 minutes and timeo × (retrans + 1).
    /// </summary>
    public TimeSpan? MountTimeout { get; init; }

    internal TimeSpan EffectiveMountTimeout => MountTimeout
        ?? TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(2).Ticks, Timeout.Ticks * (Retransmits + 1)));

    /// <summary>The server's NLM port; null asks its rpcbind (as mount(8)'s <c>mountport</c> does for MOUNT).</summary>
    public int? NlmPort { get; init; }

    /// <summary>
    /// Where this namespace's client status monitor keeps its NSM state; null: <c>$NFSNS_STATE_DIR</c> or the
    /// default of <see cref="Protocols.Nsm.NsmStateStore.DefaultDirectory"/>. Only the first mount of a namespace
    /// that takes a lock decides it.
    /// </summary>
    public string? LockStateDirectory { get; init; }

    /// <summary>Where "server not responding, still trying" and "server OK" go (the CLI writes them to stderr).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>Builds options from a parsed URL (<c>nfs://host/path?uid=…&amp;netns=…</c>).</summary>
    public static NfsMountOptions FromUrl(NfsUrl url, NetworkNamespace? ns = null)
    {
        var defaults = new NfsMountOptions { Host = url.Host };
        return defaults with
        {
            Path = url.Path,
            Namespace = ns,
            NfsPort = url.NfsPort ?? url.Port,
            MountPort = url.MountPort,
            NlmPort = url.NlmPort,
            Uid = url.Uid ?? defaults.Uid,
            Gid = url.Gid ?? defaults.Gid,
            Auth = url.Auth == NfsAuthFlavor.None ? RpcAuthFlavor.None : RpcAuthFlavor.Sys,
            Timeout = url.Timeout ?? defaults.Timeout,
            Retransmits = url.Retrans ?? defaults.Retransmits,
            Soft = url.Soft,
            MaxReadSize = url.Rsize ?? defaults.MaxReadSize,
            MaxWriteSize = url.Wsize ?? defaults.MaxWriteSize,
            NConnect = url.NConnect ?? defaults.NConnect,
            // actimeo sets all four; one named on its own overrides it.
            AcRegMin = Seconds(url.AcRegMin ?? url.Actimeo) ?? defaults.AcRegMin,
            AcRegMax = Seconds(url.AcRegMax ?? url.Actimeo) ?? defaults.AcRegMax,
            AcDirMin = Seconds(url.AcDirMin ?? url.Actimeo) ?? defaults.AcDirMin,
            AcDirMax = Seconds(url.AcDirMax ?? url.Actimeo) ?? defaults.AcDirMax,
            NoAc = url.NoAc,
            NoCto = url.NoCto,
        };
    }

    private static TimeSpan? Seconds(int? seconds) => seconds is int s ? TimeSpan.FromSeconds(s) : null;
}

internal static partial class NativeIdentity
{
    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial uint getegid();

    public static uint EffectiveUid => LibC.geteuid();
    public static uint EffectiveGid => getegid();
}
