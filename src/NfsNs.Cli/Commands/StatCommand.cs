using NfsNs.Cli.Output;
using NfsNs.Protocols.Nfs3;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns stat</c>.</summary>
public sealed record StatOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    public bool Json { get; init; }
}

/// <summary>Shows the attributes of one file.</summary>
public static class StatCommand
{
    public static async Task RunAsync(StatOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        string path = mount.PathInExport;
        var a = await mount.GetAttributesAsync(path, cancellationToken);
        string? target = a.Type == Nfs3FileType.Symlink ? await mount.ReadLinkAsync(path, cancellationToken) : null;
        string name = mount.ServerPath(path);
        if (options.Json)
        {
            Json.Write(options.Console.Out, Remote.ToJson(NfsPath.Name(name), name, a, target));
            return;
        }
        var o = options.Console.Out;
        o.WriteLine($"  File: {name}{(target is null ? "" : " -> " + target)}");
        o.WriteLine($"  Size: {a.Size,-15} Blocks: {a.Used / 512,-10} {Remote.Kind(a.Type).ToString().ToLowerInvariant()}");
        o.WriteLine($"Fileid: {a.FileId,-15} Fsid: {a.Fsid:x}  Links: {a.Nlink}");
        o.WriteLine($"Access: ({Convert.ToString(a.Mode & 0xFFF, 8).PadLeft(4, '0')}/{LsFormatter.FormatMode(Remote.Kind(a.Type), a.Mode)})  Uid: {a.Uid}  Gid: {a.Gid}");
        o.WriteLine($"Access: {Time(a.Atime)}");
        o.WriteLine($"Modify: {Time(a.Mtime)}");
        o.WriteLine($"Change: {Time(a.Ctime)}");
    }

    /// <summary>stat(1)'s form, with all nine digits of the server's nanoseconds.</summary>
    private static string Time(NfsTime time) =>
        $"{time.ToDateTimeOffset().ToLocalTime():yyyy-MM-dd HH:mm:ss}.{time.Nanoseconds:D9} {time.ToDateTimeOffset().ToLocalTime():zzz}";
}
