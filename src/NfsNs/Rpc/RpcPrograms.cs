namespace NfsNs.Rpc;

/// <summary>A well-known RPC program: its number, the protocol name used in messages and its name in <c>/etc/rpc</c>.</summary>
public sealed record RpcProgramInfo(uint Number, string ProtocolName, string RpcName);

/// <summary>
/// The programs NFS depends on, by number, so that messages say "MOUNT v3" instead of "program 100005 version 3".
/// Numbers are the IANA-assigned ones listed in RFC 5531 appendix / <c>/etc/rpc</c>.
/// </summary>
public static class RpcPrograms
{
    public const uint Portmapper = 100000;
    public const uint Nfs = 100003;
    public const uint Mount = 100005;
    public const uint NetworkLockManager = 100021;
    public const uint StatusMonitor = 100024;

    public static IReadOnlyList<RpcProgramInfo> WellKnown { get; } =
    [
        new(Portmapper, "PORTMAP", "portmapper"),
        new(Nfs, "NFS", "nfs"),
        new(Mount, "MOUNT", "mountd"),
        new(NetworkLockManager, "NLM", "nlockmgr"),
        new(StatusMonitor, "NSM", "status"),
    ];

    public static RpcProgramInfo? Find(uint program)
    {
        foreach (var info in WellKnown)
            if (info.Number == program) return info;
        return null;
    }

    /// <summary>"MOUNT" for a known program, else "program 123456".</summary>
    public static string Name(uint program) => Find(program)?.ProtocolName ?? $"program {program}";

    /// <summary>"MOUNT v3".</summary>
    public static string Describe(uint program, uint version) => $"{Name(program)} v{version}";

    /// <summary>"MOUNT v3 procedure 1".</summary>
    public static string Describe(uint program, uint version, uint procedure) =>
        ProcedureName(program, version, procedure) is { } name
            ? $"{Name(program)} v{version} {name}"
            : $"{Name(program)} v{version} procedure {procedure}";

    // RFC 1813 §3 and appendix I: procedure names of NFSv3 and MOUNT v3, for messages people read.
    private static readonly string[] s_nfs3 =
    [
        "NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE", "CREATE", "MKDIR", "SYMLINK",
        "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR", "READDIRPLUS", "FSSTAT", "FSINFO", "PATHCONF", "COMMIT",
    ];
    private static readonly string[] s_mount3 = ["NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"];
    // RFC 1813 appendix II (NLM v4) and XNFS chapter 11 (NSM v1); 16–19 of NLM are unassigned.
    private static readonly string[] s_nlm4 =
    [
        "NULL", "TEST", "LOCK", "CANCEL", "UNLOCK", "GRANTED", "TEST_MSG", "LOCK_MSG", "CANCEL_MSG", "UNLOCK_MSG",
        "GRANTED_MSG", "TEST_RES", "LOCK_RES", "CANCEL_RES", "UNLOCK_RES", "GRANTED_RES", "", "", "", "", "SHARE",
        "UNSHARE", "NM_LOCK", "FREE_ALL",
    ];
    private static readonly string[] s_nsm1 = ["NULL", "STAT", "MON", "UNMON", "UNMON_ALL", "SIMU_CRASH", "NOTIFY"];

    /// <summary>The procedure's name where we know the protocol (NFSv3, MOUNT v3, NLM v4, NSM v1), else null.</summary>
    public static string? ProcedureName(uint program, uint version, uint procedure)
    {
        string[]? names = (program, version) switch
        {
            (100003, 3) => s_nfs3,
            (100005, 3) => s_mount3,
            (100021, 4) => s_nlm4,
            (100024, 1) => s_nsm1,
            _ => null,
        };
        return names is not null && procedure < names.Length && names[procedure].Length > 0 ? names[procedure] : null;
    }
}
