using NfsNs.Protocols.Nlm4;

namespace NfsNs.Server.Locking;

/// <summary>A DOS share reservation (NLM SHARE): what its owner opened the file for and what it denies to others.</summary>
public sealed record ShareReservation<TFile>(TFile File, LockHost Host, NetObj OwnerHandle, Nlm4ShareAccess Access, Nlm4ShareMode Deny)
    where TFile : notnull;

/// <summary>
/// Whole-file DOS share reservations (XNFS NLM_SHARE): a reservation is refused when its access is denied by
/// another owner's deny mode, or its deny mode denies another owner's access. An owner is (host, oh); its second
/// SHARE of a file replaces its first, as Linux lockd does. Bounded per host and in all: a client can present any
/// number of caller_names, each a host of its own. Thread-safe.
/// </summary>
public sealed class ShareReservationTable<TFile> where TFile : notnull
{
    private readonly Lock _lock = new();
    private readonly List<ShareReservation<TFile>> _shares = [];
    private readonly int _maxPerHost;
    private readonly int _max;

    public ShareReservationTable(int maxPerHost = 4096, int max = 65536)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPerHost);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        _maxPerHost = maxPerHost;
        _max = max;
    }

    public IReadOnlyList<ShareReservation<TFile>> Reservations
    {
        get { lock (_lock) return [.. _shares]; }
    }

    public int CountOf(LockHost host)
    {
        lock (_lock) return _shares.Count(s => s.Host == host);
    }

    /// <summary>SHARE: Granted, Denied (a conflicting reservation) or DeniedNoLocks (the host's or the table's limit).</summary>
    public Nlm4Status Share(TFile file, LockHost host, NetObj ownerHandle, Nlm4ShareAccess access, Nlm4ShareMode deny)
    {
        ArgumentNullException.ThrowIfNull(host);
        lock (_lock)
        {
            bool Mine(ShareReservation<TFile> s) => SameFile(s, file) && s.Host == host && s.OwnerHandle == ownerHandle;
            foreach (var other in _shares)
            {
                if (!SameFile(other, file) || Mine(other)) continue;
                if (((uint)access & (uint)other.Deny) != 0 || ((uint)deny & (uint)other.Access) != 0) return Nlm4Status.Denied;
            }
            int replaced = _shares.RemoveAll(Mine);
            if (replaced == 0 && (_shares.Count >= _max || _shares.Count(s => s.Host == host) >= _maxPerHost)) return Nlm4Status.DeniedNoLocks;
            _shares.Add(new ShareReservation<TFile>(file, host, ownerHandle, access, deny));
            return Nlm4Status.Granted;
        }
    }

    /// <summary>UNSHARE: drops the owner's reservation of the file (none is not an error).</summary>
    public bool Unshare(TFile file, LockHost host, NetObj ownerHandle)
    {
        lock (_lock) return _shares.RemoveAll(s => SameFile(s, file) && s.Host == host && s.OwnerHandle == ownerHandle) > 0;
    }

    /// <summary>Drops every reservation of the hosts <paramref name="match"/> selects; returns how many.</summary>
    public int ReleaseHosts(Func<LockHost, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (_lock) return _shares.RemoveAll(s => match(s.Host));
    }

    private static bool SameFile(ShareReservation<TFile> share, TFile file) => EqualityComparer<TFile>.Default.Equals(share.File, file);
}
