using NfsNs.Cli.Output;
using NfsNs.Protocols.Nfs3;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns ls</c>.</summary>
public sealed record LsOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary><c>-l</c>: one line per entry with mode, links, owner, size and time (<see cref="Output.LsFormatter"/>).</summary>
    public bool Long { get; init; }

    /// <summary><c>-R</c>: list subdirectories too.</summary>
    public bool Recursive { get; init; }

    /// <summary><c>--json</c>: a JSON array of entries instead of text (<see cref="Output.Json"/>).</summary>
    public bool Json { get; init; }
}

/// <summary>Lists a directory (or shows one file) on an NFS server.</summary>
public static class LsCommand
{
    public static async Task RunAsync(LsOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        string path = mount.PathInExport;
        var attributes = await mount.GetAttributesAsync(path, cancellationToken);
        using var json = options.Json ? Json.WriteArray(options.Console.Out) : null;
        var formatter = LsFormatter.ForLocalTime();
        if (attributes.Type != Nfs3FileType.Directory)
        {
            string? target = attributes.Type == Nfs3FileType.Symlink && (options.Long || options.Json) ? await mount.ReadLinkAsync(path, cancellationToken) : null;
            Print(options, json, formatter, mount, [(NfsPath.Name(mount.ServerPath(path)), mount.ServerPath(path), attributes, target)]);
            return;
        }
        var pending = new Queue<string>();
        pending.Enqueue(path);
        bool first = true;
        while (pending.TryDequeue(out var directory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rows = new List<(string Name, string Path, Fattr3? Attributes, string? Target)>();
            await foreach (var entry in mount.ListAsync(directory, cancellationToken))
            {
                if (entry.Name is "." or "..") continue;
                string child = NfsPath.Combine(directory, entry.Name);
                var a = entry.Attributes;
                // READDIR (no PLUS) gives names only: -l, -R and --json need the attributes.
                if (a is null && (options.Long || options.Recursive || options.Json))
                    a = await mount.GetAttributesAsync(child, cancellationToken);
                string? target = a?.Type == Nfs3FileType.Symlink && (options.Long || options.Json) ? await mount.ReadLinkAsync(child, cancellationToken) : null;
                rows.Add((entry.Name, mount.ServerPath(child), a, target));
            }
            rows.Sort((x, y) => string.CompareOrdinal(x.Name, y.Name));
            if (options.Recursive && !options.Json)
            {
                if (!first) options.Console.Out.WriteLine();
                options.Console.Out.WriteLine($"{mount.ServerPath(directory)}:");
            }
            first = false;
            Print(options, json, formatter, mount, rows);
            if (options.Recursive)
                foreach (var row in rows)
                    if (row.Attributes?.Type == Nfs3FileType.Directory)
                        pending.Enqueue(NfsPath.Combine(directory, row.Name));
        }
    }

    private static void Print(LsOptions options, Json.ArrayWriter? json, LsFormatter formatter, NfsMount mount,
        IReadOnlyList<(string Name, string Path, Fattr3? Attributes, string? Target)> rows)
    {
        if (json is not null)
        {
            foreach (var row in rows) json.Add(Remote.ToJson(row.Name, row.Path, row.Attributes!, row.Target));
            return;
        }
        if (options.Long)
        {
            foreach (string line in formatter.FormatLong(rows.Select(r => Remote.ToLsEntry(r.Name, r.Attributes!, r.Target))))
                options.Console.Out.WriteLine(line);
            return;
        }
        foreach (var row in rows) options.Console.Out.WriteLine(LsFormatter.SafeText(row.Name));
    }
}
