using NfsNs.Server.FileSystem;
using NfsNs.Tests.Unit;

namespace NfsNs.Tests.Integration;

/// <summary>
/// The contract tests against a real temporary directory (needs root for open_by_handle_at), plus what only a real
/// directory can show: restarts, symlinks made behind the server's back, directories moved out of the export.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalFileSystemTests : FileSystemContractTests
{
    private readonly string _state = Directory.CreateTempSubdirectory("nfsns-fs-state-").FullName;
    private readonly string _export;
    private readonly List<LocalFileSystem> _instances = [];

    public LocalFileSystemTests()
    {
        _export = Path.Combine(_state, "export");
        Directory.CreateDirectory(_export);
        File.SetUnixFileMode(_export, (UnixFileMode)0x1ED);
    }

    private LocalFileSystem NewInstance()
    {
        var codec = new HandleCodec(1, HandleCodec.LoadOrCreateSecret(Path.Combine(_state, "secret")));
        var fs = new LocalFileSystem(_export, codec);
        _instances.Add(fs);
        return fs;
    }

    protected override IFileSystem CreateFileSystem() => NewInstance();

    public override void Dispose()
    {
        foreach (var fs in _instances) fs.Dispose();
        // rm, not Directory.Delete: a failed test may leave names that are not UTF-8, which .NET cannot name.
        NfsNs.Peers.ProcessRunner.RunAsync("rm", ["-rf", "--", _state], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().EnsureSuccess();
        base.Dispose();
    }

    [Fact]
    public async Task Handles_stay_valid_for_a_new_instance_with_the_same_secret()
    {
        var d = await Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None);
        var f = await WriteFile(d.Handle, "f", "kept"u8.ToArray());
        var restarted = NewInstance();
        Assert.Equal(RootHandle, restarted.RootHandle);
        Assert.Equal(f.Attributes.FileId, (await restarted.GetAttributesAsync(Root, f.Handle, None)).FileId);
        var buffer = new byte[4];
        await restarted.ReadAsync(Root, f.Handle, 0, buffer, None);
        Assert.Equal("kept"u8.ToArray(), buffer);
        await restarted.MakeDirectoryAsync(Root, d.Handle, "sub", AttributeChanges.None, None);

        var otherSecret = new LocalFileSystem(_export, HandleCodec.CreateEphemeral(1));
        _instances.Add(otherSecret);
        Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => otherSecret.GetAttributesAsync(Root, f.Handle, None).AsTask()));
    }

    [Fact]
    public async Task Names_and_link_targets_that_are_not_UTF8_reach_the_disk_and_come_back_byte_for_byte()
    {
        // "bad\xFF\xFE" as the XDR layer decodes it: each invalid byte is an escape (XdrText).
        string name = NfsNs.Xdr.XdrText.Decode([0x62, 0x61, 0x64, 0xFF, 0xFE]);
        string target = NfsNs.Xdr.XdrText.Decode([0x74, 0xFF]);
        var file = await WriteFile(RootHandle, name, "odd"u8.ToArray());
        await Fs.SymlinkAsync(Root, RootHandle, "link", target, AttributeChanges.None, None);

        var onDisk = await NfsNs.Peers.ProcessRunner.RunAsync("bash",
            ["-c", "test -f \"$1/$(printf 'bad\\xff\\xfe')\" && readlink \"$1/link\" | od -An -tx1", "sh", _export], TimeSpan.FromSeconds(10));
        Assert.Equal(0, onDisk.ExitCode);
        Assert.Equal("74 ff 0a", onDisk.Stdout.Trim());

        var page = await Fs.ReadDirectoryAsync(Root, RootHandle, 0, 0, 100, withObjects: false, None);
        Assert.Contains(page.Entries, e => e.Name == name);
        Assert.Equal(target, await Fs.ReadLinkAsync(Root, (await Fs.LookupAsync(Root, RootHandle, "link", None)).Handle, None));
        Assert.Equal(file.Attributes.FileId, (await Fs.LookupAsync(Root, RootHandle, name, None)).Attributes.FileId);
        await Fs.RemoveAsync(Root, RootHandle, name, None);
        await Fs.RemoveAsync(Root, RootHandle, "link", None);
        Assert.Empty(Directory.GetFileSystemEntries(_export));
    }

    [Fact]
    public async Task A_symlink_to_etc_made_on_the_server_is_never_followed()
    {
        File.CreateSymbolicLink(Path.Combine(_export, "etc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(_export, "passwd"), "/etc/passwd");
        var etc = await Fs.LookupAsync(Root, RootHandle, "etc", None);
        Assert.Equal(FileType.SymbolicLink, etc.Attributes.Type);
        Assert.Equal("/etc", await Fs.ReadLinkAsync(Root, etc.Handle, None));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() => Fs.LookupAsync(Root, etc.Handle, "passwd", None).AsTask()));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() =>
            Fs.CreateAsync(Root, etc.Handle, "evil", CreateMode.Unchecked, AttributeChanges.None, 0, None).AsTask()));
        var passwd = await Fs.LookupAsync(Root, RootHandle, "passwd", None);
        Assert.Equal(FileType.SymbolicLink, passwd.Attributes.Type);
        await Assert.ThrowsAsync<FileSystemException>(() => Fs.ReadAsync(Root, passwd.Handle, 0, new byte[100], None).AsTask());
        await Assert.ThrowsAsync<FileSystemException>(() =>
            Fs.WriteAsync(Root, passwd.Handle, 0, "x"u8.ToArray(), WriteStability.FileSync, None).AsTask());
        await Assert.ThrowsAsync<FileSystemException>(() =>
            Fs.SetAttributesAsync(Root, passwd.Handle, new AttributeChanges { Size = 0 }, null, None).AsTask());
        Assert.False(File.Exists("/etc/evil"));
        Assert.True(new FileInfo("/etc/passwd").Length > 0);
    }

    [Fact]
    public async Task A_directory_moved_out_of_the_export_goes_stale()
    {
        var d = await Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None);
        Directory.Move(Path.Combine(_export, "d"), Path.Combine(_state, "outside"));
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() => Fs.GetAttributesAsync(Root, d.Handle, None).AsTask()));
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() =>
            Fs.MakeDirectoryAsync(Root, d.Handle, "x", AttributeChanges.None, None).AsTask()));
    }

    [Fact]
    public async Task New_objects_belong_to_the_caller_on_disk()
    {
        var home = await DirectoryOwnedBy(Alice, "alice");
        await Fs.CreateAsync(Alice, home.Handle, "f", CreateMode.Guarded, new AttributeChanges { Mode = 0x1A0 }, 0, None);
        var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u:%g:%a", Path.Combine(_export, "alice", "f")])
        {
            RedirectStandardOutput = true,
        })!;
        string output = await stat.StandardOutput.ReadToEndAsync();
        Assert.True(stat.WaitForExit(10_000));
        Assert.Equal("1000:1000:640", output.Trim());
    }
}
