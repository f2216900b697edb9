using System.Net;
using NfsNs.Protocols.Nlm4;

namespace NfsNs.Server.Locking;

/// <summary>
/// A byte range [<see cref="Start"/>, <see cref="End"/>] with an inclusive end, so that "to the end of the file and
/// beyond" (an fcntl/NLM length of 0) is simply <see cref="End"/> = <see cref="ToEnd"/> and no arithmetic overflows.
/// </summary>
public readonly record struct LockRange
{
    /// <summary>The last byte of an unbounded range.</summary>
    public const ulong ToEnd = ulong.MaxValue;

    public LockRange(ulong start, ulong end)
    {
        if (end < start) throw new ArgumentOutOfRangeException(nameof(end), $"a lock range ends ({end}) before it starts ({start})");
        Start = start;
        End = end;
    }

    public ulong Start { get; }
    public ulong End { get; }

    /// <summary>
    /// The range of an NLM/fcntl (offset, length): length 0 reaches to the end; a range whose last byte would pass
    /// 2^64−1 also reaches to the end (the protocol layer answers NLM4_FBIG before that, see
    /// <see cref="IsBeyondMaxOffset"/>).
    /// </summary>
    public static LockRange FromOffsetLength(ulong offset, ulong length) =>
        length == 0 || length - 1 > ToEnd - offset ? new(offset, ToEnd) : new(offset, offset + length - 1);

    /// <summary>
    /// Whether (offset, length) reaches past 2^63−1, the largest offset a Linux file has (OFFSET_MAX): Linux lockd
    /// answers such requests NLM4_FBIG, and so do we, so a client sees the same limits from both servers.
    /// </summary>
    public static bool IsBeyondMaxOffset(ulong offset, ulong length) =>
        offset > long.MaxValue || (length != 0 && length - 1 > long.MaxValue - offset);

    /// <summary>The NLM length of the range: 0 for one that reaches to the end.</summary>
    public ulong Length => End == ToEnd ? 0 : End - Start + 1;

    public bool Overlaps(LockRange other) => Start <= other.End && other.Start <= End;

    /// <summary>Overlapping or touching (so that two same-type locks of one owner merge into one).</summary>
    public bool OverlapsOrTouches(LockRange other) =>
        Overlaps(other) || (End != ToEnd && End + 1 == other.Start) || (other.End != ToEnd && other.End + 1 == Start);

    public bool Contains(LockRange other) => Start <= other.Start && other.End <= End;

    /// <summary>The parts of this range that none of <paramref name="others"/> covers, in order.</summary>
    public List<LockRange> Without(IEnumerable<LockRange> others)
    {
        var pieces = new List<LockRange>();
        ulong next = Start;
        foreach (var other in others.Where(Overlaps).OrderBy(o => o.Start))
        {
            if (other.Start > next) pieces.Add(new LockRange(next, other.Start - 1));
            if (other.End >= End) return pieces;
            next = Math.Max(next, other.End + 1);
        }
        pieces.Add(new LockRange(next, End));
        return pieces;
    }

    public override string ToString() => End == ToEnd ? $"[{Start}, end)" : $"[{Start}, {End + 1})";
}

/// <summary>
/// A client host as the lock manager knows it: the caller_name it sends in every request and the address its calls
/// come from (where GRANTED call-backs go and whose status monitor tells us it rebooted). Linux lockd keys its
/// server-side hosts by the same pair.
/// </summary>
public sealed record LockHost(string Name, IPAddress Address)
{
    public override string ToString() => Name == Address.ToString() ? Name : $"{Name} ({Address})";
}

/// <summary>
/// A lock owner: a process (<see cref="Svid"/>, its pid on Linux clients) with its owner handle on one host. Locks
/// of one owner never conflict with each other; they merge, split, upgrade and downgrade as fcntl(2) locks do.
/// </summary>
public sealed record LockOwner(LockHost Host, int Svid, NetObj Handle)
{
    public override string ToString() => $"svid {Svid} on {Host}";
}
