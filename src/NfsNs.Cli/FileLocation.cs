using NfsNs.Client;

namespace NfsNs.Cli;

/// <summary>One side of <c>cp</c>: an <c>nfs://</c> URL or a path on the local file system.</summary>
public sealed record FileLocation
{
    /// <summary>Set when the location is remote.</summary>
    public NfsUrl? Url { get; private init; }

    /// <summary>Set when the location is local (as typed: relative to the current directory or absolute).</summary>
    public string? LocalPath { get; private init; }

    public bool IsRemote => Url is not null;

    public static FileLocation Remote(NfsUrl url) => new() { Url = url };

    public static FileLocation Local(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new() { LocalPath = path };
    }

    /// <summary>
    /// Anything starting with <c>nfs:</c> is a URL (and must be a valid one); any other <c>scheme://</c> is refused
    /// rather than taken for a local directory named "scheme:"; everything else is a local path.
    /// </summary>
    public static FileLocation Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (NfsUrl.LooksLikeNfsUrl(text)) return Remote(NfsUrl.Parse(text));
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0 && !text[..scheme].Contains('/'))
            throw new UsageException($"'{text}': only nfs:// URLs and local paths are supported");
        if (text.Length == 0) throw new UsageException("a path is empty");
        return Local(text);
    }

    public override string ToString() => Url?.ToString() ?? LocalPath!;
}
