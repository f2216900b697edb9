using System.Net;

namespace NfsNs.Peers;

/// <summary>How a <see cref="GaneshaServer"/> is configured and how long it may take to start and stop.</summary>
public sealed record GaneshaOptions
{
    public static GaneshaOptions Default { get; } = new();

    /// <summary>Also run rpc.statd and enable ganesha's NLM v4 (port 32803), for lock tests.</summary>
    public bool EnableNlm { get; init; }

    /// <summary>
    /// ganesha's <c>Bind_Addr</c>: the IPv4 address its NFS, MOUNT and NLM listeners bind to. The default is loopback
    /// (<see cref="GaneshaServer.Address"/>); a <see cref="TenantNetwork"/> server binds its
    /// <see cref="TenantNetwork.ServerAddress"/>; <see cref="IPAddress.Any"/> listens on every address of the namespace.
    /// rpcbind and rpc.statd listen on every address whatever this is.
    /// </summary>
    public IPAddress BindAddress { get; init; } = IPAddress.Loopback;

    /// <summary>Export read-only (Access_Type = RO) instead of read-write.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Bound on each daemon's start (until it answers on its port), with the log tail in the error.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long ganesha may take to exit after SIGTERM before it gets SIGKILL (it usually takes about 1 s).</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
