using System.Globalization;

namespace NfsNs.Cli.Output;

/// <summary>
/// A one-line progress display on standard error: bytes done and total, percentage, average MB/s and time left.
/// Draws only when enabled (the CLI enables it when standard error is a terminal, so that redirected output and
/// logs never see it), at most every <see cref="RedrawInterval"/>, and erases its line when disposed.
/// Thread-safe: parallel transfers may report into one bar.
/// </summary>
public sealed class ProgressBar : IDisposable
{
    public static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);

    private const int MaxLabelLength = 30;

    // "\r" returns to the start of the line; ESC [ K erases from the cursor to its end (ECMA-48 EL).
    private const string EraseToEndOfLine = "\u001b[K";

    private readonly TextWriter _output;
    private readonly bool _enabled;
    private readonly long? _totalBytes;
    private readonly string? _label;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Lock _lock = new();
    private long _lastDrawTimestamp;
    private long _bytesDone;
    private bool _drawn;
    private bool _disposed;

    /// <param name="output">Where to draw (standard error).</param>
    /// <param name="enabled">False makes every call a no-op.</param>
    /// <param name="totalBytes">Expected total, when known (shows percentage and time left).</param>
    /// <param name="label">Shown first, shortened from the left when long (the end of a path says most).</param>
    public ProgressBar(TextWriter output, bool enabled, long? totalBytes, string? label = null, TimeProvider? time = null)
    {
        _output = output;
        _enabled = enabled;
        _totalBytes = totalBytes;
        _label = label is null || label.Length <= MaxLabelLength ? label : "…" + label[^(MaxLabelLength - 1)..];
        _time = time ?? TimeProvider.System;
        _startTimestamp = _time.GetTimestamp();
        // The first drawing waits one interval too: an operation that ends sooner leaves no flicker behind.
        _lastDrawTimestamp = _startTimestamp;
    }

    /// <summary>A bar on the console's standard error, enabled when that is a terminal.</summary>
    public static ProgressBar ForConsole(CliConsole console, long? totalBytes, string? label = null) =>
        new(console.Error, console.ErrorIsTerminal, totalBytes, label);

    public long BytesDone => Interlocked.Read(ref _bytesDone);

    /// <summary>Sets the number of bytes done so far.</summary>
    public void Report(long bytesDone)
    {
        Interlocked.Exchange(ref _bytesDone, bytesDone);
        MaybeDraw();
    }

    /// <summary>Adds <paramref name="bytes"/> to the bytes done.</summary>
    public void Advance(long bytes)
    {
        Interlocked.Add(ref _bytesDone, bytes);
        MaybeDraw();
    }

    private void MaybeDraw()
    {
        if (!_enabled) return;
        lock (_lock)
        {
            if (_disposed) return;
            long now = _time.GetTimestamp();
            if (_time.GetElapsedTime(_lastDrawTimestamp, now) < RedrawInterval) return;
            _lastDrawTimestamp = now;
            string line = Format(_label, BytesDone, _totalBytes, _time.GetElapsedTime(_startTimestamp, now));
            _output.Write("\r" + line + EraseToEndOfLine);
            _output.Flush();
            _drawn = true;
        }
    }

    /// <summary>Erases the line, so that what is printed next starts on a clean one.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            if (!_drawn) return;
            _output.Write("\r" + EraseToEndOfLine);
            _output.Flush();
        }
    }

    /// <summary>The text of the bar, e.g. <c>file  45.2 MB / 100.0 MB  45%  12.3 MB/s  ETA 0:05</c>.</summary>
    public static string Format(string? label, long bytesDone, long? totalBytes, TimeSpan elapsed)
    {
        double seconds = elapsed.TotalSeconds;
        double bytesPerSecond = seconds > 0 ? bytesDone / seconds : 0;
        var parts = new List<string>(5);
        if (!string.IsNullOrEmpty(label)) parts.Add(LsFormatter.SafeText(label));
        if (totalBytes is long total)
        {
            parts.Add($"{FormatBytes(bytesDone)} / {FormatBytes(total)}");
            long percent = total <= 0 ? 100 : Math.Clamp(bytesDone * 100 / total, 0, 100);
            parts.Add($"{percent,3}%");
        }
        else
        {
            parts.Add(FormatBytes(bytesDone));
        }
        parts.Add(bytesPerSecond > 0
            ? (bytesPerSecond / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB/s"
            : "-- MB/s");
        if (totalBytes is long expected)
        {
            long remaining = Math.Max(0, expected - bytesDone);
            parts.Add("ETA " + (bytesPerSecond > 0 ? FormatDuration(TimeSpan.FromSeconds(remaining / bytesPerSecond)) : "--:--"));
        }
        return string.Join("  ", parts);
    }

    private static readonly string[] Units = ["kB", "MB", "GB", "TB", "PB", "EB"];

    /// <summary>Decimal units (1 MB = 10^6 bytes), matching the MB/s figure.</summary>
    public static string FormatBytes(long bytes)
    {
        if (bytes < 1000) return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        double value = bytes;
        int unit = -1;
        while (value >= 999.95 && unit < Units.Length - 1)
        {
            value /= 1000;
            unit++;
        }
        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    /// <summary><c>m:ss</c>, or <c>h:mm:ss</c> from an hour on; <c>--:--</c> past 99 hours (no useful estimate).</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        if (duration.TotalHours >= 100 || duration < TimeSpan.Zero) return "--:--";
        long total = (long)Math.Ceiling(duration.TotalSeconds);
        long hours = total / 3600, minutes = total / 60 % 60, seconds = total % 60;
        return hours > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{hours}:{minutes:00}:{seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{minutes}:{seconds:00}");
    }
}
