using System.Globalization;
using System.Text;

namespace NfsNs.Cli.Output;

/// <summary>The type of a directory entry, as <c>ls -l</c> shows it in the first column.</summary>
public enum FileKind
{
    Regular,
    Directory,
    Symlink,
    BlockDevice,
    CharacterDevice,
    Socket,
    Fifo,
    Unknown,
}

/// <summary>
/// One entry of a listing, in plain terms (no NFS types), for <see cref="LsFormatter"/> and for JSON output.
/// </summary>
/// <param name="Mode">Permission bits and set-uid, set-gid, sticky (the low 12 bits; higher bits are ignored).</param>
public sealed record LsEntry(
    string Name,
    FileKind Kind,
    uint Mode,
    ulong LinkCount,
    uint Uid,
    uint Gid,
    ulong Size,
    DateTimeOffset ModifiedTime,
    string? SymlinkTarget = null);

/// <summary>
/// Formats <c>ls -l</c> lines as GNU <c>ls -ln</c> does: mode string, link count, numeric uid and gid (right-aligned;
/// remote ids mean nothing to the local user database), size, time, name and <c>-&gt; target</c>, with columns aligned over a listing.
/// </summary>
public sealed class LsFormatter
{
    private readonly DateTimeOffset _now;
    private readonly TimeZoneInfo _zone;

    /// <param name="now">Decides which times are recent (shown with hour and minute) and which show the year.</param>
    /// <param name="zone">Zone the times are shown in (the local zone, in the CLI).</param>
    public LsFormatter(DateTimeOffset now, TimeZoneInfo zone)
    {
        _now = now;
        _zone = zone;
    }

    public static LsFormatter ForLocalTime() => new(DateTimeOffset.Now, TimeZoneInfo.Local);

    /// <summary>The lines of a listing, columns aligned over all of <paramref name="entries"/>.</summary>
    public IReadOnlyList<string> FormatLong(IEnumerable<LsEntry> entries)
    {
        var rows = entries.Select(e => new
        {
            Mode = FormatMode(e.Kind, e.Mode),
            Links = e.LinkCount.ToString(CultureInfo.InvariantCulture),
            Uid = e.Uid.ToString(CultureInfo.InvariantCulture),
            Gid = e.Gid.ToString(CultureInfo.InvariantCulture),
            Size = e.Size.ToString(CultureInfo.InvariantCulture),
            Time = FormatTime(e.ModifiedTime),
            Name = FormatName(e),
        }).ToList();
        if (rows.Count == 0) return [];
        int links = rows.Max(r => r.Links.Length), uid = rows.Max(r => r.Uid.Length), gid = rows.Max(r => r.Gid.Length),
            size = rows.Max(r => r.Size.Length);
        return rows.Select(r =>
            $"{r.Mode} {r.Links.PadLeft(links)} {r.Uid.PadLeft(uid)} {r.Gid.PadLeft(gid)} {r.Size.PadLeft(size)} {r.Time} {r.Name}")
            .ToList();
    }

    /// <summary>One line, without alignment to other entries.</summary>
    public string FormatLong(LsEntry entry) => FormatLong([entry])[0];

    /// <summary>The ten-character mode string, as <c>drwxr-sr-t</c> (set-id and sticky bits as s/S and t/T).</summary>
    public static string FormatMode(FileKind kind, uint mode)
    {
        Span<char> text = stackalloc char[10];
        text[0] = KindLetter(kind);
        for (int who = 0; who < 3; who++)
        {
            uint bits = mode >> (6 - 3 * who);
            text[1 + 3 * who] = (bits & 4) != 0 ? 'r' : '-';
            text[2 + 3 * who] = (bits & 2) != 0 ? 'w' : '-';
            text[3 + 3 * who] = (bits & 1) != 0 ? 'x' : '-';
        }
        // Set-uid (04000), set-gid (02000) and sticky (01000) replace the execute letter of user, group and other.
        ApplySpecialBit(text, 3, (mode & 0x800) != 0, 's');
        ApplySpecialBit(text, 6, (mode & 0x400) != 0, 's');
        ApplySpecialBit(text, 9, (mode & 0x200) != 0, 't');
        return new string(text);
    }

    private static void ApplySpecialBit(Span<char> text, int index, bool set, char letter)
    {
        if (set) text[index] = text[index] == 'x' ? letter : char.ToUpperInvariant(letter);
    }

    public static char KindLetter(FileKind kind) => kind switch
    {
        FileKind.Regular => '-',
        FileKind.Directory => 'd',
        FileKind.Symlink => 'l',
        FileKind.BlockDevice => 'b',
        FileKind.CharacterDevice => 'c',
        FileKind.Socket => 's',
        FileKind.Fifo => 'p',
        _ => '?',
    };

    private static readonly string[] MonthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>
    /// <c>Mar  3 14:05</c> for times in the last six months, <c>Mar  3  2023</c> otherwise (also for times in the
    /// future), as GNU ls.
    /// </summary>
    public string FormatTime(DateTimeOffset time)
    {
        var local = TimeZoneInfo.ConvertTime(time, _zone);
        bool recent = time <= _now && time > _now.AddSeconds(-SixMonthsSeconds);
        string month = MonthNames[local.Month - 1];
        string day = local.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2);
        return recent
            ? $"{month} {day} {local.Hour:00}:{local.Minute:00}"
            : $"{month} {day} {local.Year.ToString(CultureInfo.InvariantCulture).PadLeft(5)}";
    }

    /// <summary>Half of a Gregorian year, the threshold GNU ls uses.</summary>
    private const double SixMonthsSeconds = 31_556_952 / 2.0;

    private static string FormatName(LsEntry entry) =>
        entry.SymlinkTarget is null ? SafeText(entry.Name) : $"{SafeText(entry.Name)} -> {SafeText(entry.SymlinkTarget)}";

    /// <summary>
    /// A server controls names: control characters are shown as '?' (as ls does on a terminal), so that no name can
    /// break a line or send escape sequences to the terminal.
    /// </summary>
    public static string SafeText(string text)
    {
        if (!text.Any(char.IsControl)) return text;
        var builder = new StringBuilder(text.Length);
        foreach (char c in text) builder.Append(char.IsControl(c) ? '?' : c);
        return builder.ToString();
    }
}
