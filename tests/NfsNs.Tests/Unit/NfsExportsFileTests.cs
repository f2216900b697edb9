using System.Net;
using NfsNs.Server;
using NfsNs.Server.FileSystem;

namespace NfsNs.Tests.Unit;

/// <summary>The exports file parser: golden good files and every error, each naming file, line and problem.</summary>
public sealed class NfsExportsFileTests
{
    private static readonly HashSet<string> ExistingDirectories = ["/srv/data", "/srv/other"];

    private static IReadOnlyList<NfsExportsFileEntry> Parse(string text) =>
        NfsExportsFile.Parse(text, "exports.conf", ExistingDirectories.Contains);

    [Fact]
    public void Golden_file_with_comments_blank_lines_and_every_option()
    {
        var entries = Parse("""
            # nfsns exports
            /export   /srv/data   rw,allow=127.0.0.0/8,squash=root,anonuid=1000,anongid=1001

            /media    memory      ro   # an in-memory export
            	/a//b/	/srv/other/	rw,allow=10.1.2.3,allow=fd00::/8,squash=none
            /all      memory      ro,squash=all
            """.Replace("\n", "\r\n", StringComparison.Ordinal));

        Assert.Equal(4, entries.Count);
        var export = entries[0];
        Assert.Equal(("/export", "/srv/data", 2), (export.Path, export.Directory, export.Line));
        Assert.False(export.IsMemory);
        Assert.False(export.Options.ReadOnly);
        Assert.Equal([IPNetwork.Parse("127.0.0.0/8")], export.Options.AllowedClients);
        Assert.Equal((SquashMode.Root, 1000u, 1001u), (export.Options.Squash, export.Options.AnonymousUid, export.Options.AnonymousGid));

        var media = entries[1];
        Assert.Equal(("/media", null, 4), (media.Path, media.Directory, media.Line));
        Assert.True(media.IsMemory);
        Assert.True(media.Options.ReadOnly);
        Assert.Empty(media.Options.AllowedClients);
        Assert.Equal((SquashMode.Root, 65534u, 65534u), (media.Options.Squash, media.Options.AnonymousUid, media.Options.AnonymousGid));

        var nested = entries[2];
        Assert.Equal(("/a/b", "/srv/other"), (nested.Path, nested.Directory));
        Assert.Equal([IPNetwork.Parse("10.1.2.3/32"), IPNetwork.Parse("fd00::/8")], nested.Options.AllowedClients);
        Assert.Equal(SquashMode.None, nested.Options.Squash);

        Assert.Equal(SquashMode.All, entries[3].Options.Squash);
        Assert.Equal(entries.Count, entries.Select(e => e.ExportId).Distinct().Count());
    }

    [Fact]
    public void Export_ids_depend_on_the_path_only_so_reordering_keeps_handles_valid()
    {
        var forward = Parse("/one memory ro\n/two memory ro\n");
        var reversed = Parse("/two memory ro\n/one memory ro\n");
        Assert.Equal(forward[0].ExportId, reversed[1].ExportId);
        Assert.Equal(forward[1].ExportId, reversed[0].ExportId);
        Assert.Equal(NfsExportsFile.ExportIdFor("/one/"), forward[0].ExportId);
    }

    [Fact]
    public void Created_exports_carry_the_entry_path_id_and_policy()
    {
        var entry = Parse("/media memory ro,squash=none")[0];
        var export = entry.CreateExport();
        Assert.Equal(("/media", entry.ExportId, true), (export.Path, export.ExportId, export.Options.ReadOnly));
        Assert.IsType<MemoryFileSystem>(export.Backend);
    }

    [Theory]
    [InlineData("/x memory", 1, "expected 3 fields (PATH DIRECTORY|memory OPTIONS), found 2")]
    [InlineData("/x memory ro extra", 1, "expected 3 fields (PATH DIRECTORY|memory OPTIONS), found 4")]
    [InlineData("# c\nexport memory ro", 2, "export path 'export' does not start with '/'")]
    [InlineData("/a/../b memory ro", 1, "export path '/a/../b' has a '.' or '..' component")]
    [InlineData("/x memory ro\n\n/x/ memory rw", 3, "export path /x is already exported on line 1")]
    [InlineData("/x srv/data ro", 1, "directory 'srv/data' is not an absolute path (or the word 'memory')")]
    [InlineData("/x /srv/missing ro", 1, "directory /srv/missing does not exist")]
    [InlineData("/x memory squash=all", 1, "options say neither ro nor rw; give one")]
    [InlineData("/x memory ro,rw", 1, "options ro and rw are both given")]
    [InlineData("/x memory rw,rw", 1, "option rw is given twice")]
    [InlineData("/x memory ro=1", 1, "option ro takes no value")]
    [InlineData("/x memory ro,,squash=all", 1, "empty option in 'ro,,squash=all'")]
    [InlineData("/x memory ro,", 1, "empty option in 'ro,'")]
    [InlineData("/x memory ro,no_root_squash", 1, "unknown option 'no_root_squash' (known: ro, rw, allow=CIDR, squash=root|all|none, anonuid=N, anongid=N)")]
    [InlineData("/x memory ro,allow=", 1, "option allow needs a value (allow=…)")]
    [InlineData("/x memory ro,allow=10.0.0.1/8", 1, "allow=10.0.0.1/8: not a network in CIDR form (address/prefix with no host bits set, e.g. 10.0.0.0/8)")]
    [InlineData("/x memory ro,allow=10.0.0.0/33", 1, "allow=10.0.0.0/33: not a network in CIDR form (address/prefix with no host bits set, e.g. 10.0.0.0/8)")]
    [InlineData("/x memory ro,allow=example.com", 1, "allow=example.com: not an IP address or a CIDR network")]
    [InlineData("/x memory ro,squash=some", 1, "squash=some: expected root, all or none")]
    [InlineData("/x memory ro,squash=all,squash=none", 1, "option squash is given twice")]
    [InlineData("/x memory ro,anonuid=-1", 1, "anonuid=-1: not a number from 0 to 4294967295")]
    [InlineData("/x memory ro,anongid=4294967296", 1, "anongid=4294967296: not a number from 0 to 4294967295")]
    [InlineData("/x memory ro,anonuid=1,anonuid=2", 1, "option anonuid is given twice")]
    public void Each_error_names_the_file_the_line_and_the_problem(string text, int line, string problem)
    {
        var error = Assert.Throws<NfsExportsFileException>(() => Parse(text));
        Assert.Equal(("exports.conf", line, problem), (error.FileName, error.Line, error.Problem));
        Assert.Equal($"exports.conf:{line}: {problem}", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n\n   \n")]
    public void A_file_that_exports_nothing_is_an_error(string text)
    {
        var error = Assert.Throws<NfsExportsFileException>(() => Parse(text));
        Assert.Equal("exports.conf: exports nothing (every line is blank or a comment)", error.Message);
        Assert.Null(error.Line);
    }

    [Fact]
    public void Load_names_a_missing_file()
    {
        string path = Path.Combine(Path.GetTempPath(), $"nfsns-no-such-exports-{Guid.NewGuid():N}");
        var error = Assert.Throws<NfsExportsFileException>(() => NfsExportsFile.Load(path));
        Assert.Equal($"{path}: no such file", error.Message);
    }

    [Fact]
    public void Load_reads_a_real_file_and_checks_real_directories()
    {
        string directory = Directory.CreateTempSubdirectory("nfsns-exports-").FullName;
        try
        {
            string path = Path.Combine(directory, "exports");
            File.WriteAllText(path, $"/data {directory} rw\n/missing {directory}/nope ro\n");
            var error = Assert.Throws<NfsExportsFileException>(() => NfsExportsFile.Load(path));
            Assert.Equal($"{path}:2: directory {directory}/nope does not exist", error.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
