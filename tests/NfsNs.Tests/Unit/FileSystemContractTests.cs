using System.Text;
using NfsNs.Server.FileSystem;

namespace NfsNs.Tests.Unit;

/// <summary>
/// The behaviour every <see cref="IFileSystem"/> backend owes the NFS handlers; run once per backend by subclassing
/// (memory here, the local directory backend in Integration/).
/// </summary>
public abstract class FileSystemContractTests : IDisposable
{
    protected static readonly CallerIdentity Root = CallerIdentity.Root;
    protected static readonly CallerIdentity Alice = new(1000, 1000, [1000]);
    protected static readonly CallerIdentity Bob = new(1001, 1001, [1001]);
    protected static readonly CancellationToken None = CancellationToken.None;

    private IFileSystem? _fs;

    protected IFileSystem Fs => _fs ??= CreateFileSystem();

    protected FileHandle RootHandle => Fs.RootHandle;

    /// <summary>A fresh, empty file system whose root is owned by root with mode 0755.</summary>
    protected abstract IFileSystem CreateFileSystem();

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected static async Task<FileSystemError> ErrorOf(Func<Task> operation)
    {
        var e = await Assert.ThrowsAsync<FileSystemException>(operation);
        return e.Error;
    }

    protected async Task<FileObject> WriteFile(FileHandle dir, string name, byte[] content, CallerIdentity? caller = null)
    {
        caller ??= Root;
        var file = await Fs.CreateAsync(caller, dir, name, CreateMode.Guarded, AttributeChanges.None, 0, None);
        await Fs.WriteAsync(caller, file.Handle, 0, content, WriteStability.FileSync, None);
        return file;
    }

    protected async Task<List<DirectoryEntry>> ListAll(FileHandle dir, int pageSize, CallerIdentity? caller = null)
    {
        var all = new List<DirectoryEntry>();
        ulong cookie = 0, verifier = 0;
        for (int page = 0; page < 100_000; page++)
        {
            var result = await Fs.ReadDirectoryAsync(caller ?? Root, dir, cookie, verifier, pageSize, withObjects: false, None);
            Assert.True(result.Entries.Count <= pageSize);
            all.AddRange(result.Entries);
            if (result.EndOfDirectory) return all;
            Assert.NotEmpty(result.Entries);
            cookie = result.Entries[^1].Cookie;
            verifier = result.CookieVerifier;
        }
        throw new InvalidOperationException("listing did not end");
    }

    /// <summary>A directory owned by <paramref name="owner"/> with the given mode, made by root.</summary>
    protected async Task<FileObject> DirectoryOwnedBy(CallerIdentity owner, string name, uint mode = 0x1ED)
    {
        var dir = await Fs.MakeDirectoryAsync(Root, RootHandle, name, AttributeChanges.None, None);
        await Fs.SetAttributesAsync(Root, dir.Handle, new AttributeChanges { Uid = owner.Uid, Gid = owner.Gid, Mode = mode }, null, None);
        return dir;
    }

    [Fact]
    public async Task H1_mkdir_rmdir_then_readdir_of_the_parent_works()
    {
        var d = await Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None);
        Assert.Equal(FileType.Directory, d.Attributes.Type);
        Assert.Equal(2u, d.Attributes.LinkCount);
        await Fs.RemoveDirectoryAsync(Root, RootHandle, "d", None);
        var names = (await ListAll(RootHandle, 10)).Select(e => e.Name).ToList();
        Assert.Equal([".", ".."], names.Order(StringComparer.Ordinal));
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() => Fs.GetAttributesAsync(Root, d.Handle, None).AsTask()));
    }

    [Fact]
    public async Task H2_handle_of_a_directory_survives_rename_into_another_directory()
    {
        var a = await Fs.MakeDirectoryAsync(Root, RootHandle, "a", AttributeChanges.None, None);
        var b = await Fs.MakeDirectoryAsync(Root, RootHandle, "b", AttributeChanges.None, None);
        var d = await Fs.MakeDirectoryAsync(Root, a.Handle, "d", AttributeChanges.None, None);
        await Fs.RenameAsync(Root, a.Handle, "d", b.Handle, "moved", None);
        var sub = await Fs.MakeDirectoryAsync(Root, d.Handle, "sub", AttributeChanges.None, None);
        var found = await Fs.LookupAsync(Root, b.Handle, "moved", None);
        Assert.Equal(d.Attributes.FileId, found.Attributes.FileId);
        var again = await Fs.LookupAsync(Root, found.Handle, "sub", None);
        Assert.Equal(sub.Attributes.FileId, again.Attributes.FileId);
        var parent = await Fs.LookupAsync(Root, d.Handle, "..", None);
        Assert.Equal(b.Attributes.FileId, parent.Attributes.FileId);
        Assert.Equal(FileSystemError.NotFound, await ErrorOf(() => Fs.LookupAsync(Root, a.Handle, "d", None).AsTask()));
    }

    [Fact]
    public async Task H3_link_gives_the_same_file_id_and_two_links()
    {
        var f = await WriteFile(RootHandle, "f", [1, 2, 3]);
        var attributes = await Fs.LinkAsync(Root, f.Handle, RootHandle, "g", None);
        Assert.Equal(2u, attributes.LinkCount);
        var g = await Fs.LookupAsync(Root, RootHandle, "g", None);
        Assert.Equal(f.Attributes.FileId, g.Attributes.FileId);
        Assert.Equal(2u, g.Attributes.LinkCount);
        await Fs.RemoveAsync(Root, RootHandle, "f", None);
        Assert.Equal(1u, (await Fs.GetAttributesAsync(Root, g.Handle, None)).LinkCount);
        Assert.Equal(FileSystemError.NotPermitted,
            await ErrorOf(() => Fs.LinkAsync(Root, RootHandle, RootHandle, "rootlink", None).AsTask()));
    }

    [Fact]
    public async Task R1_five_GiB_sparse_file_has_an_exact_size_and_reads_correctly_far_out()
    {
        const ulong fiveGiB = 5UL << 30;
        var f = await Fs.CreateAsync(Root, RootHandle, "sparse", CreateMode.Unchecked, AttributeChanges.None, 0, None);
        await Fs.WriteAsync(Root, f.Handle, (4UL << 30) + 1, "hello"u8.ToArray(), WriteStability.Unstable, None);
        await Fs.WriteAsync(Root, f.Handle, fiveGiB - 10, "0123456789"u8.ToArray(), WriteStability.Unstable, None);
        await Fs.CommitAsync(Root, f.Handle, 0, 0, None);
        var attributes = await Fs.GetAttributesAsync(Root, f.Handle, None);
        Assert.Equal(fiveGiB, attributes.Size);
        Assert.True(attributes.UsedBytes < 16 << 20, $"a sparse file uses {attributes.UsedBytes} bytes");
        var buffer = new byte[7];
        var read = await Fs.ReadAsync(Root, f.Handle, 4UL << 30, buffer, None);
        Assert.Equal((7, false), (read.Count, read.EndOfFile));
        Assert.Equal("\0hello\0"u8.ToArray(), buffer);
        buffer = new byte[20];
        read = await Fs.ReadAsync(Root, f.Handle, fiveGiB - 10, buffer, None);
        Assert.Equal((10, true), (read.Count, read.EndOfFile));
        Assert.Equal("0123456789"u8.ToArray(), buffer[..10]);
    }

    [Fact]
    public async Task R2_end_of_file_is_exact()
    {
        byte[] content = new byte[100 * 1024];
        new Random(3).NextBytes(content);
        var f = await WriteFile(RootHandle, "f", content);
        var buffer = new byte[40 * 1024];
        var read = await Fs.ReadAsync(Root, f.Handle, 90 * 1024, buffer, None);
        Assert.Equal((10 * 1024, true), (read.Count, read.EndOfFile));
        Assert.Equal(content[(90 * 1024)..], buffer[..read.Count]);
        read = await Fs.ReadAsync(Root, f.Handle, 60 * 1024, buffer, None);
        Assert.Equal((40 * 1024, true), (read.Count, read.EndOfFile));
        read = await Fs.ReadAsync(Root, f.Handle, 20 * 1024, buffer, None);
        Assert.Equal((40 * 1024, false), (read.Count, read.EndOfFile));
        read = await Fs.ReadAsync(Root, f.Handle, 100 * 1024, new byte[4096], None);
        Assert.Equal((0, true), (read.Count, read.EndOfFile));
    }

    [Fact]
    public async Task D3_listing_2500_files_in_small_pages_gives_each_once()
    {
        var dir = await Fs.MakeDirectoryAsync(Root, RootHandle, "many", AttributeChanges.None, None);
        for (int i = 0; i < 2500; i++)
            await Fs.CreateAsync(Root, dir.Handle, $"file{i:D4}", CreateMode.Guarded, AttributeChanges.None, 0, None);
        var entries = await ListAll(dir.Handle, 37);
        var names = entries.Select(e => e.Name).ToList();
        Assert.Equal(2502, names.Count);
        Assert.Equal(2502, names.Distinct().Count());
        Assert.Contains(".", names);
        Assert.Contains("..", names);
        Assert.Equal(2502, entries.Select(e => e.Cookie).Distinct().Count());
        Assert.DoesNotContain(0UL, entries.Select(e => e.Cookie));
    }

    [Fact]
    public async Task D4_resuming_at_the_cookie_of_entry_100_gives_entry_101()
    {
        var dir = await Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None);
        for (int i = 0; i < 300; i++)
            await Fs.CreateAsync(Root, dir.Handle, $"f{i}", CreateMode.Guarded, AttributeChanges.None, 0, None);
        var all = await ListAll(dir.Handle, 1000);
        var page = await Fs.ReadDirectoryAsync(Root, dir.Handle, all[100].Cookie, 0, 5, withObjects: true, None);
        Assert.Equal(all[101].Name, page.Entries[0].Name);
        Assert.Equal(all[105].Name, page.Entries[4].Name);
        Assert.False(page.EndOfDirectory);
        var looked = await Fs.LookupAsync(Root, dir.Handle, all[101].Name, None);
        Assert.Equal(looked.Handle, page.Entries[0].Object!.Handle);
        Assert.Equal(looked.Attributes.FileId, page.Entries[0].FileId);
        // Same directory, same order and cookies on a second listing; verifier changes only when the directory does.
        var first = await Fs.ReadDirectoryAsync(Root, dir.Handle, 0, 0, 10, false, None);
        var second = await Fs.ReadDirectoryAsync(Root, dir.Handle, 0, 0, 10, false, None);
        Assert.Equal(first.Entries.Select(e => (e.Name, e.Cookie)), second.Entries.Select(e => (e.Name, e.Cookie)));
        Assert.Equal(first.CookieVerifier, second.CookieVerifier);
        await Fs.CreateAsync(Root, dir.Handle, "new", CreateMode.Guarded, AttributeChanges.None, 0, None);
        var third = await Fs.ReadDirectoryAsync(Root, dir.Handle, 0, 0, 10, false, None);
        Assert.NotEqual(first.CookieVerifier, third.CookieVerifier);
    }

    [Fact]
    public async Task Dot_dot_of_the_root_is_the_root()
    {
        var up = await Fs.LookupAsync(Root, RootHandle, "..", None);
        var root = await Fs.GetAttributesAsync(Root, RootHandle, None);
        Assert.Equal(root.FileId, up.Attributes.FileId);
        Assert.Equal(RootHandle, up.Handle);
        var upUp = await Fs.LookupAsync(Root, up.Handle, "..", None);
        Assert.Equal(RootHandle, upUp.Handle);
        var dotDot = (await ListAll(RootHandle, 10)).Single(e => e.Name == "..");
        Assert.Equal(root.FileId, dotDot.FileId);
        Assert.Equal(FileSystemError.Invalid, await ErrorOf(() => Fs.LookupAsync(Root, RootHandle, "../etc", None).AsTask()));
    }

    [Fact]
    public async Task Symlink_is_returned_as_a_link_and_never_followed()
    {
        var link = await Fs.SymlinkAsync(Root, RootHandle, "etc", "/etc", AttributeChanges.None, None);
        Assert.Equal(FileType.SymbolicLink, link.Attributes.Type);
        Assert.Equal("/etc", await Fs.ReadLinkAsync(Root, link.Handle, None));
        var looked = await Fs.LookupAsync(Root, RootHandle, "etc", None);
        Assert.Equal(FileType.SymbolicLink, looked.Attributes.Type);
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() => Fs.LookupAsync(Root, link.Handle, "passwd", None).AsTask()));
        Assert.NotEqual(FileSystemError.Io, await ErrorOf(() => Fs.ReadAsync(Root, link.Handle, 0, new byte[10], None).AsTask()));
        Assert.NotEqual(FileSystemError.Io, await ErrorOf(() => Fs.WriteAsync(Root, link.Handle, 0, new byte[1], WriteStability.FileSync, None).AsTask()));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() =>
            Fs.CreateAsync(Root, link.Handle, "x", CreateMode.Unchecked, AttributeChanges.None, 0, None).AsTask()));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() =>
            Fs.ReadDirectoryAsync(Root, link.Handle, 0, 0, 10, false, None).AsTask()));
        // A file symlink too: writing through a handle of the link never touches the target.
        var target = await WriteFile(RootHandle, "target", "original"u8.ToArray());
        var fileLink = await Fs.SymlinkAsync(Root, RootHandle, "tolink", "target", AttributeChanges.None, None);
        await Assert.ThrowsAsync<FileSystemException>(() =>
            Fs.WriteAsync(Root, fileLink.Handle, 0, "changed"u8.ToArray(), WriteStability.FileSync, None).AsTask());
        Assert.Equal(FileSystemError.Exists, await ErrorOf(() =>
            Fs.CreateAsync(Root, RootHandle, "tolink", CreateMode.Guarded, AttributeChanges.None, 0, None).AsTask()));
        var buffer = new byte[8];
        await Fs.ReadAsync(Root, target.Handle, 0, buffer, None);
        Assert.Equal("original"u8.ToArray(), buffer);
    }

    [Fact]
    public async Task Exclusive_create_retry_with_the_same_verifier_succeeds_and_another_fails()
    {
        var first = await Fs.CreateAsync(Alice, (await DirectoryOwnedBy(Alice, "home")).Handle, "x", CreateMode.Exclusive, AttributeChanges.None, 0x1122334455667788, None);
        var home = await Fs.LookupAsync(Root, RootHandle, "home", None);
        var retry = await Fs.CreateAsync(Alice, home.Handle, "x", CreateMode.Exclusive, AttributeChanges.None, 0x1122334455667788, None);
        Assert.Equal(first.Attributes.FileId, retry.Attributes.FileId);
        Assert.Equal(first.Handle, retry.Handle);
        Assert.Equal(FileSystemError.Exists, await ErrorOf(() =>
            Fs.CreateAsync(Alice, home.Handle, "x", CreateMode.Exclusive, AttributeChanges.None, 0x99, None).AsTask()));
        Assert.Equal(FileSystemError.Exists, await ErrorOf(() =>
            Fs.CreateAsync(Alice, home.Handle, "x", CreateMode.Guarded, AttributeChanges.None, 0, None).AsTask()));
        Assert.Equal(Alice.Uid, first.Attributes.Uid);
        // The client's follow-up SETATTR (RFC 1813 section 3.3.8) sets the real attributes.
        var set = await Fs.SetAttributesAsync(Alice, first.Handle, new AttributeChanges { Mode = 0x1A4, ModifyTime = TimeChange.ServerTime }, null, None);
        Assert.Equal(0x1A4u, set.Mode);
        await Fs.WriteAsync(Alice, first.Handle, 0, "data"u8.ToArray(), WriteStability.FileSync, None);
    }

    [Fact]
    public async Task Unchecked_create_of_an_existing_file_truncates_only_when_asked()
    {
        var f = await WriteFile(RootHandle, "f", new byte[100]);
        var again = await Fs.CreateAsync(Root, RootHandle, "f", CreateMode.Unchecked, AttributeChanges.None, 0, None);
        Assert.Equal(100ul, again.Attributes.Size);
        var truncated = await Fs.CreateAsync(Root, RootHandle, "f", CreateMode.Unchecked, new AttributeChanges { Size = 0 }, 0, None);
        Assert.Equal(f.Attributes.FileId, truncated.Attributes.FileId);
        Assert.Equal(0ul, truncated.Attributes.Size);
    }

    [Fact]
    public async Task Rename_replaces_targets_by_POSIX_rules()
    {
        await WriteFile(RootHandle, "a", "A"u8.ToArray());
        var b = await WriteFile(RootHandle, "b", "B"u8.ToArray());
        var dir = await Fs.MakeDirectoryAsync(Root, RootHandle, "dir", AttributeChanges.None, None);
        var full = await Fs.MakeDirectoryAsync(Root, RootHandle, "full", AttributeChanges.None, None);
        await WriteFile(full.Handle, "inside", []);
        await Fs.MakeDirectoryAsync(Root, RootHandle, "empty", AttributeChanges.None, None);

        await Fs.RenameAsync(Root, RootHandle, "a", RootHandle, "b", None);
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() => Fs.GetAttributesAsync(Root, b.Handle, None).AsTask()));
        var buffer = new byte[1];
        await Fs.ReadAsync(Root, (await Fs.LookupAsync(Root, RootHandle, "b", None)).Handle, 0, buffer, None);
        Assert.Equal("A"u8.ToArray(), buffer);

        Assert.Equal(FileSystemError.IsDirectory, await ErrorOf(() => Fs.RenameAsync(Root, RootHandle, "b", RootHandle, "dir", None).AsTask()));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() => Fs.RenameAsync(Root, RootHandle, "dir", RootHandle, "b", None).AsTask()));
        var notEmpty = await ErrorOf(() => Fs.RenameAsync(Root, RootHandle, "dir", RootHandle, "full", None).AsTask());
        Assert.True(notEmpty is FileSystemError.NotEmpty or FileSystemError.Exists, notEmpty.ToString());
        Assert.Equal(FileSystemError.Invalid, await ErrorOf(() => Fs.RenameAsync(Root, RootHandle, "full", full.Handle, "loop", None).AsTask()));
        await Fs.RenameAsync(Root, RootHandle, "dir", RootHandle, "empty", None);
        var moved = await Fs.LookupAsync(Root, RootHandle, "empty", None);
        Assert.Equal(dir.Attributes.FileId, moved.Attributes.FileId);
        await Fs.RenameAsync(Root, RootHandle, "b", full.Handle, "b", None);
        Assert.Equal(FileSystemError.NotFound, await ErrorOf(() => Fs.RenameAsync(Root, RootHandle, "nothing", RootHandle, "x", None).AsTask()));
    }

    [Fact]
    public async Task Remove_and_rmdir_check_types_and_emptiness()
    {
        var d = await Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None);
        await WriteFile(d.Handle, "f", []);
        Assert.Equal(FileSystemError.NotEmpty, await ErrorOf(() => Fs.RemoveDirectoryAsync(Root, RootHandle, "d", None).AsTask()));
        Assert.Equal(FileSystemError.NotDirectory, await ErrorOf(() => Fs.RemoveDirectoryAsync(Root, d.Handle, "f", None).AsTask()));
        var isDir = await ErrorOf(() => Fs.RemoveAsync(Root, RootHandle, "d", None).AsTask());
        Assert.True(isDir is FileSystemError.IsDirectory or FileSystemError.NotPermitted, isDir.ToString());
        Assert.Equal(FileSystemError.NotFound, await ErrorOf(() => Fs.RemoveAsync(Root, RootHandle, "missing", None).AsTask()));
        Assert.Equal(FileSystemError.Exists, await ErrorOf(() => Fs.MakeDirectoryAsync(Root, RootHandle, "d", AttributeChanges.None, None).AsTask()));
        Assert.Equal(FileSystemError.NameTooLong, await ErrorOf(() =>
            Fs.MakeDirectoryAsync(Root, RootHandle, new string('n', 256), AttributeChanges.None, None).AsTask()));
    }

    [Fact]
    public async Task Removed_file_handle_is_stale()
    {
        var f = await WriteFile(RootHandle, "f", [1]);
        await Fs.RemoveAsync(Root, RootHandle, "f", None);
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() => Fs.GetAttributesAsync(Root, f.Handle, None).AsTask()));
        Assert.Equal(FileSystemError.Stale, await ErrorOf(() => Fs.ReadAsync(Root, f.Handle, 0, new byte[1], None).AsTask()));
    }

    [Fact]
    public async Task Forged_or_tampered_handles_are_bad_handles()
    {
        var f = await WriteFile(RootHandle, "f", [1]);
        byte[] bytes = f.Handle.Span.ToArray();
        for (int i = 0; i < bytes.Length; i++)
        {
            byte[] tampered = (byte[])bytes.Clone();
            tampered[i] ^= 0x01;
            Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => Fs.GetAttributesAsync(Root, new FileHandle(tampered), None).AsTask()));
        }
        Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => Fs.GetAttributesAsync(Root, new FileHandle(bytes.AsSpan(0, bytes.Length - 1)), None).AsTask()));
        Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => Fs.GetAttributesAsync(Root, new FileHandle(new byte[32]), None).AsTask()));
        Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => Task.FromResult(new FileHandle(new byte[65]))));
        Assert.True(f.Handle.Length <= 32, $"handle is {f.Handle.Length} bytes");
    }

    [Fact]
    public async Task Permissions_are_checked_as_the_caller()
    {
        var home = await DirectoryOwnedBy(Alice, "alice", mode: 0x1ED); // 0755
        var mine = await WriteFile(home.Handle, "mine", "secret"u8.ToArray(), Alice);
        Assert.Equal(Alice.Uid, mine.Attributes.Uid);
        Assert.Equal(Alice.Gid, mine.Attributes.Gid);
        await Fs.SetAttributesAsync(Alice, mine.Handle, new AttributeChanges { Mode = 0x180 }, null, None); // 0600

        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() => Fs.ReadAsync(Bob, mine.Handle, 0, new byte[6], None).AsTask()));
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() =>
            Fs.CreateAsync(Bob, home.Handle, "intruder", CreateMode.Guarded, AttributeChanges.None, 0, None).AsTask()));
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() => Fs.RemoveAsync(Bob, home.Handle, "mine", None).AsTask()));
        Assert.Equal(FileSystemError.NotPermitted, await ErrorOf(() =>
            Fs.SetAttributesAsync(Bob, mine.Handle, new AttributeChanges { Mode = 0x1FF }, null, None).AsTask()));
        Assert.Equal(FileSystemError.NotPermitted, await ErrorOf(() =>
            Fs.SetAttributesAsync(Alice, mine.Handle, new AttributeChanges { Uid = Bob.Uid }, null, None).AsTask()));
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() =>
            Fs.MakeDirectoryAsync(Alice, RootHandle, "x", AttributeChanges.None, None).AsTask()));

        Assert.Equal(AccessRights.None, await Fs.AccessAsync(Bob, mine.Handle, AccessRights.Read | AccessRights.Modify, None));
        Assert.Equal(AccessRights.Read | AccessRights.Modify, await Fs.AccessAsync(Alice, mine.Handle, AccessRights.Read | AccessRights.Modify | AccessRights.Execute, None));
        Assert.Equal(AccessRights.Lookup | AccessRights.Read, await Fs.AccessAsync(Bob, home.Handle, AccessRights.All, None));
        Assert.Equal(AccessRights.Read | AccessRights.Modify | AccessRights.Extend, await Fs.AccessAsync(Root, mine.Handle, AccessRights.All, None));

        // Root bypasses permission bits.
        var buffer = new byte[6];
        await Fs.ReadAsync(Root, mine.Handle, 0, buffer, None);
        Assert.Equal("secret"u8.ToArray(), buffer);

        // A closed directory blocks lookups for others; sticky bit protects others' entries.
        await Fs.SetAttributesAsync(Alice, home.Handle, new AttributeChanges { Mode = 0x1C0 }, null, None); // 0700
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() => Fs.LookupAsync(Bob, home.Handle, "mine", None).AsTask()));
        var tmp = await DirectoryOwnedBy(Root, "tmp", mode: 0x3FF); // 01777
        await WriteFile(tmp.Handle, "alices", [], Alice);
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() => Fs.RemoveAsync(Bob, tmp.Handle, "alices", None).AsTask()));
        await Fs.RemoveAsync(Alice, tmp.Handle, "alices", None);
    }

    [Fact]
    public async Task Guarded_setattr_checks_ctime_and_sizes_truncate()
    {
        var f = await WriteFile(RootHandle, "f", new byte[1000]);
        var now = await Fs.GetAttributesAsync(Root, f.Handle, None);
        Assert.Equal(FileSystemError.NotSync, await ErrorOf(() => Fs.SetAttributesAsync(Root, f.Handle,
            new AttributeChanges { Size = 10 }, new FileTime(1, 2), None).AsTask()));
        var set = await Fs.SetAttributesAsync(Root, f.Handle, new AttributeChanges
        {
            Size = 10, ModifyTime = TimeChange.To(new FileTime(1_000_000_000, 5000)),
        }, now.ChangeTime, None);
        Assert.Equal(10ul, set.Size);
        Assert.Equal(new FileTime(1_000_000_000, 5000), set.ModifyTime);
    }

    [Fact]
    public async Task Squashing_maps_root_or_everyone_to_the_anonymous_user()
    {
        var squashed = new SquashingFileSystem(Fs, SquashMode.Root, 65534, 65534);
        var open = await DirectoryOwnedBy(Root, "open", mode: 0x1FF);
        var byRoot = await squashed.CreateAsync(Root, open.Handle, "r", CreateMode.Guarded, AttributeChanges.None, 0, None);
        Assert.Equal((65534u, 65534u), (byRoot.Attributes.Uid, byRoot.Attributes.Gid));
        var byAlice = await squashed.CreateAsync(Alice, open.Handle, "a", CreateMode.Guarded, AttributeChanges.None, 0, None);
        Assert.Equal(Alice.Uid, byAlice.Attributes.Uid);
        Assert.Equal(FileSystemError.AccessDenied, await ErrorOf(() =>
            squashed.MakeDirectoryAsync(Root, RootHandle, "x", AttributeChanges.None, None).AsTask()));

        var all = new SquashingFileSystem(Fs, SquashMode.All, 4242, 4343);
        var byAliceSquashed = await all.CreateAsync(Alice, open.Handle, "b", CreateMode.Guarded, AttributeChanges.None, 0, None);
        Assert.Equal((4242u, 4343u), (byAliceSquashed.Attributes.Uid, byAliceSquashed.Attributes.Gid));
    }

    [Fact]
    public async Task Read_only_export_refuses_every_mutation_even_for_root()
    {
        var f = await WriteFile(RootHandle, "f", [1, 2]);
        var readOnly = new ReadOnlyFileSystem(Fs);
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.WriteAsync(Root, f.Handle, 0, new byte[1], WriteStability.FileSync, None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.CreateAsync(Root, RootHandle, "n", CreateMode.Unchecked, AttributeChanges.None, 0, None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.MakeDirectoryAsync(Root, RootHandle, "n", AttributeChanges.None, None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.RemoveAsync(Root, RootHandle, "f", None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.RenameAsync(Root, RootHandle, "f", RootHandle, "g", None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.SetAttributesAsync(Root, f.Handle, new AttributeChanges { Size = 0 }, null, None).AsTask()));
        Assert.Equal(FileSystemError.ReadOnly, await ErrorOf(() => readOnly.LinkAsync(Root, f.Handle, RootHandle, "l", None).AsTask()));
        Assert.Equal(AccessRights.Read, await readOnly.AccessAsync(Root, f.Handle, AccessRights.All, None));
        var read = await readOnly.ReadAsync(Root, f.Handle, 0, new byte[10], None);
        Assert.Equal((2, true), (read.Count, read.EndOfFile));
    }

    [Fact]
    public async Task Mknod_creates_a_fifo_and_refuses_regular_files()
    {
        var fifo = await Fs.MakeNodeAsync(Root, RootHandle, "pipe", FileType.Fifo, default, AttributeChanges.None, None);
        Assert.Equal(FileType.Fifo, fifo.Attributes.Type);
        Assert.Equal(FileSystemError.BadType, await ErrorOf(() =>
            Fs.MakeNodeAsync(Root, RootHandle, "reg", FileType.Regular, default, AttributeChanges.None, None).AsTask()));
        Assert.Equal(FileSystemError.NotPermitted, await ErrorOf(() =>
            Fs.MakeNodeAsync(Alice, RootHandle, "dev", FileType.CharacterDevice, new DeviceNumber(1, 3), AttributeChanges.None, None).AsTask()));
    }

    [Fact]
    public async Task Statistics_and_limits_are_reported()
    {
        var statistics = await Fs.GetStatisticsAsync(Root, RootHandle, None);
        Assert.True(statistics.TotalBytes > 0 && statistics.FreeBytes <= statistics.TotalBytes);
        var limits = await Fs.GetLimitsAsync(Root, RootHandle, None);
        Assert.True(limits.MaxFileSize >= 5UL << 30);
        Assert.Equal(255u, limits.MaxNameLength);
        Assert.True(limits.SupportsHardLinks && limits.SupportsSymbolicLinks);
    }
}

public sealed class MemoryFileSystemTests : FileSystemContractTests
{
    protected override IFileSystem CreateFileSystem() => new MemoryFileSystem();

    [Fact]
    public async Task Handles_of_another_instance_are_bad_handles()
    {
        var other = new MemoryFileSystem();
        Assert.Equal(FileSystemError.BadHandle, await ErrorOf(() => Fs.GetAttributesAsync(Root, other.RootHandle, None).AsTask()));
    }
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class HandleCodecTests
{
    [Fact]
    public void Round_trips_and_rejects_other_exports_and_secrets()
    {
        byte[] secret = new byte[32];
        var codec = new HandleCodec(7, secret);
        var handle = codec.Encode([1, 2, 3]);
        Assert.Equal([1, 2, 3], codec.Decode(handle).ToArray());
        Assert.Equal(FileSystemError.BadHandle, Assert.Throws<FileSystemException>(() => new HandleCodec(8, secret).Decode(handle)).Error);
        secret[0] = 1;
        Assert.Equal(FileSystemError.BadHandle, Assert.Throws<FileSystemException>(() => new HandleCodec(7, secret).Decode(handle)).Error);
        Assert.Equal(FileHandle.MaxLength, codec.Encode(new byte[HandleCodec.MaxIdentityLength]).Length);
        Assert.Throws<FileSystemException>(() => codec.Encode(new byte[HandleCodec.MaxIdentityLength + 1]));
    }

    [Fact]
    public void Secret_file_is_created_once_with_mode_0600()
    {
        string dir = Directory.CreateTempSubdirectory("nfsns-secret-").FullName;
        try
        {
            string path = Path.Combine(dir, "handle-secret");
            byte[] first = HandleCodec.LoadOrCreateSecret(path);
            Assert.Equal(HandleCodec.SecretLength, first.Length);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(first, HandleCodec.LoadOrCreateSecret(path));
            Assert.Single(Directory.GetFiles(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
