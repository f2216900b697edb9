using NfsNs.Cli.Output;

namespace NfsNs.Tests.Unit;

public class CliOutputTests
{
    [Theory]
    [InlineData(FileKind.Directory, 0x1ED, "drwxr-xr-x")] // 0755
    [InlineData(FileKind.Regular, 0x1A4, "-rw-r--r--")] // 0644
    [InlineData(FileKind.Symlink, 0x1FF, "lrwxrwxrwx")] // 0777
    [InlineData(FileKind.Regular, 0x9ED, "-rwsr-xr-x")] // 04755
    [InlineData(FileKind.Regular, 0x9A4, "-rwSr--r--")] // 04644
    [InlineData(FileKind.Directory, 0x5E8, "drwxr-s---")] // 02750
    [InlineData(FileKind.Directory, 0x3FF, "drwxrwxrwt")] // 01777
    [InlineData(FileKind.Directory, 0x3FE, "drwxrwxrwT")] // 01776
    [InlineData(FileKind.BlockDevice, 0x1B0, "brw-rw----")]
    [InlineData(FileKind.CharacterDevice, 0x1B6, "crw-rw-rw-")]
    [InlineData(FileKind.Socket, 0x1FF, "srwxrwxrwx")]
    [InlineData(FileKind.Fifo, 0x180, "prw-------")]
    [InlineData(FileKind.Unknown, 0, "?---------")]
    public void Mode_strings_match_ls(FileKind kind, uint mode, string expected) =>
        Assert.Equal(expected, LsFormatter.FormatMode(kind, mode));

    private static readonly DateTimeOffset Now = new(2025, 6, 15, 12, 0, 0, TimeSpan.Zero);
    private static readonly LsFormatter Formatter = new(Now, TimeZoneInfo.Utc);

    [Fact]
    public void Recent_times_show_the_clock_older_and_future_ones_the_year()
    {
        Assert.Equal("Jun  3 09:05", Formatter.FormatTime(new DateTimeOffset(2025, 6, 3, 9, 5, 0, TimeSpan.Zero)));
        Assert.Equal("Jan 20 23:59", Formatter.FormatTime(new DateTimeOffset(2025, 1, 20, 23, 59, 0, TimeSpan.Zero)));
        Assert.Equal("Nov 11  2024", Formatter.FormatTime(new DateTimeOffset(2024, 11, 11, 8, 0, 0, TimeSpan.Zero)));
        Assert.Equal("Jul  1  2025", Formatter.FormatTime(new DateTimeOffset(2025, 7, 1, 0, 0, 0, TimeSpan.Zero)));
        // Shown in the formatter's zone, not the timestamp's offset.
        Assert.Equal("Jun  3 07:05", Formatter.FormatTime(new DateTimeOffset(2025, 6, 3, 9, 5, 0, TimeSpan.FromHours(2))));
    }

    [Fact]
    public void Long_listing_aligns_columns_and_shows_link_targets()
    {
        var time = new DateTimeOffset(2025, 6, 1, 10, 30, 0, TimeSpan.Zero);
        var lines = Formatter.FormatLong(
        [
            new LsEntry("dir", FileKind.Directory, 0x1ED, 12, 0, 0, 4096, time),
            new LsEntry("big", FileKind.Regular, 0x1A4, 1, 1000, 100, 5368709120, time),
            new LsEntry("link", FileKind.Symlink, 0x1FF, 1, 0, 0, 3, time, "big"),
            new LsEntry("evil\n\u001b[2J", FileKind.Regular, 0x1A4, 1, 0, 0, 0, time),
        ]);
        Assert.Equal(
        [
            "drwxr-xr-x 12    0   0       4096 Jun  1 10:30 dir",
            "-rw-r--r--  1 1000 100 5368709120 Jun  1 10:30 big",
            "lrwxrwxrwx  1    0   0          3 Jun  1 10:30 link -> big",
            "-rw-r--r--  1    0   0          0 Jun  1 10:30 evil??[2J",
        ], lines);
        Assert.Empty(Formatter.FormatLong([]));
    }

    private sealed class ManualTime : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    [Fact]
    public void Progress_bar_is_throttled_and_erases_its_line()
    {
        var time = new ManualTime();
        var output = new StringWriter();
        var bar = new ProgressBar(output, enabled: true, totalBytes: 100_000_000, label: "f", time: time);
        bar.Report(1_000);
        Assert.Equal("", output.ToString()); // nothing before the first interval: quick operations leave no trace

        time.Advance(TimeSpan.FromSeconds(5));
        bar.Report(50_000_000);
        Assert.Equal("\rf  50.0 MB / 100.0 MB   50%  10.0 MB/s  ETA 0:05\u001b[K", output.ToString());

        time.Advance(TimeSpan.FromMilliseconds(50));
        bar.Advance(1_000_000);
        Assert.Equal(1, output.ToString().Split('\r').Length - 1); // within 100 ms: not redrawn
        Assert.Equal(51_000_000, bar.BytesDone);

        time.Advance(TimeSpan.FromMilliseconds(60));
        bar.Advance(0);
        Assert.Equal(2, output.ToString().Split('\r').Length - 1);

        bar.Dispose();
        Assert.EndsWith("\r\u001b[K", output.ToString());
        bar.Dispose();
        bar.Advance(1);
        Assert.Equal(3, output.ToString().Split('\r').Length - 1);
    }

    [Fact]
    public void Disabled_progress_bar_writes_nothing()
    {
        var time = new ManualTime();
        var output = new StringWriter();
        using (var bar = new ProgressBar(output, enabled: false, totalBytes: 10, time: time))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            bar.Report(5);
        }
        Assert.Equal("", output.ToString());
    }

    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(999L, "999 B")]
    [InlineData(1000L, "1.0 kB")]
    [InlineData(999_960L, "1.0 MB")]
    [InlineData(5_368_709_120L, "5.4 GB")]
    [InlineData(long.MaxValue, "9.2 EB")]
    public void Byte_counts_use_decimal_units(long bytes, string expected) =>
        Assert.Equal(expected, ProgressBar.FormatBytes(bytes));

    [Fact]
    public void Progress_text_without_total_or_rate()
    {
        Assert.Equal("12.3 MB  -- MB/s", ProgressBar.Format(null, 12_300_000, null, TimeSpan.Zero));
        Assert.Equal("0 B / 10 B    0%  -- MB/s  ETA --:--", ProgressBar.Format("", 0, 10, TimeSpan.FromSeconds(1)));
        Assert.Equal("1:01:01", ProgressBar.FormatDuration(TimeSpan.FromSeconds(3661)));
        Assert.Equal("--:--", ProgressBar.FormatDuration(TimeSpan.FromHours(200)));
    }

    private sealed record Sample(string FileName, FileKind Kind, long? Size, string? Missing = null);

    [Fact]
    public void Json_uses_camel_case_and_leaves_out_nulls()
    {
        var output = new StringWriter();
        Json.Write(output, new Sample("é\n", FileKind.CharacterDevice, 5));
        Assert.Equal("{\"fileName\":\"é\\n\",\"kind\":\"characterDevice\",\"size\":5}\n", output.ToString().Replace("\r\n", "\n"));

        output = new StringWriter();
        Json.Write(output, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("rtt", 1.5);
            w.WriteEndObject();
        });
        Assert.Equal("{\"rtt\":1.5}", output.ToString().TrimEnd());
    }

    [Fact]
    public void Json_arrays_stream_one_element_per_line()
    {
        var output = new StringWriter { NewLine = "\n" };
        using (var array = Json.WriteArray(output))
        {
            array.Add(new Sample("a", FileKind.Regular, 1));
            array.Add(new Sample("b", FileKind.Directory, null));
        }
        Assert.Equal("[\n{\"fileName\":\"a\",\"kind\":\"regular\",\"size\":1},\n{\"fileName\":\"b\",\"kind\":\"directory\"}\n]\n", output.ToString());

        output = new StringWriter { NewLine = "\n" };
        Json.WriteArray(output).Dispose();
        Assert.Equal("[]\n", output.ToString());
    }
}
