using NfsNs.Cli.Output;
using NfsNs.Client;
using NfsNs.Protocols.Nfs3;

namespace NfsNs.Cli.Commands;

/// <summary>What the commands share: mounting a URL's export and turning NFS attributes into plain listing rows.</summary>
internal static class Remote
{
    /// <summary>Mounts the export holding <paramref name="url"/>; the path inside it is <see cref="NfsMount.PathInExport"/>.</summary>
    public static async Task<NfsMount> MountAsync(NfsUrl url, CancellationToken cancellationToken)
    {
        // A hard mount's "not responding, still trying" must reach the user, as the kernel's does.
        var mount = await NfsMount.MountAsync(url, o => o with { Warn = message => Console.Error.WriteLine($"nfsns: {message}") }, cancellationToken);
        Output.MountStatistics.Watch(mount);
        return mount;
    }

    /// <summary>The path of <paramref name="url"/> inside <paramref name="mount"/>'s export, or a usage error when it is elsewhere.</summary>
    public static string PathIn(NfsMount mount, NfsUrl url)
    {
        string path = NfsPath.Normalize(url.Path);
        if (!NfsPath.IsPrefix(mount.ExportPath, path))
            throw new UsageException($"{url} is not in the export {mount.ExportPath} of {mount}: NFS cannot rename or link across exports");
        return NfsPath.RelativeTo(mount.ExportPath, path);
    }

    public static FileKind Kind(Nfs3FileType type) => type switch
    {
        Nfs3FileType.Regular => FileKind.Regular,
        Nfs3FileType.Directory => FileKind.Directory,
        Nfs3FileType.Symlink => FileKind.Symlink,
        Nfs3FileType.BlockDevice => FileKind.BlockDevice,
        Nfs3FileType.CharacterDevice => FileKind.CharacterDevice,
        Nfs3FileType.Socket => FileKind.Socket,
        Nfs3FileType.Fifo => FileKind.Fifo,
        _ => FileKind.Unknown,
    };

    public static LsEntry ToLsEntry(string name, Fattr3 attributes, string? symlinkTarget) => new(
        name, Kind(attributes.Type), attributes.Mode, attributes.Nlink, attributes.Uid, attributes.Gid,
        attributes.Size, attributes.Mtime.ToDateTimeOffset(), symlinkTarget);

    /// <summary>The JSON shape of one file for <c>ls --json</c> and <c>stat --json</c>.</summary>
    public static object ToJson(string name, string path, Fattr3 a, string? symlinkTarget) => new
    {
        name,
        path,
        type = Kind(a.Type).ToString().ToLowerInvariant(),
        mode = Convert.ToString(a.Mode & 0xFFF, 8).PadLeft(4, '0'),
        nlink = a.Nlink,
        uid = a.Uid,
        gid = a.Gid,
        size = a.Size,
        used = a.Used,
        fileId = a.FileId,
        fsid = a.Fsid.ToString("x16"), // a string: 64-bit ids lose precision as JSON numbers in JavaScript
        atime = a.Atime.ToDateTimeOffset(),
        mtime = a.Mtime.ToDateTimeOffset(),
        ctime = a.Ctime.ToDateTimeOffset(),
        symlinkTarget,
    };
}
