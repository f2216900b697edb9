namespace NfsNs.Client;

/// <summary>Path arithmetic for server paths: always '/'-separated, never touching the local file system.</summary>
public static class NfsPath
{
    /// <summary>"/a//b/./c/" → "/a/b/c"; "" → "/". ".." is kept: only the server knows what it means.</summary>
    public static string Normalize(string path)
    {
        var parts = Components(path);
        return parts.Count == 0 ? "/" : "/" + string.Join('/', parts);
    }

    public static List<string> Components(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            if (part != ".") parts.Add(part);
        return parts;
    }

    public static string Parent(string path)
    {
        string normal = Normalize(path);
        int slash = normal.LastIndexOf('/');
        return slash <= 0 ? "/" : normal[..slash];
    }

    public static string Name(string path)
    {
        string normal = Normalize(path);
        return normal[(normal.LastIndexOf('/') + 1)..];
    }

    public static string Combine(string directory, string name) => Normalize(Normalize(directory) + "/" + name);

    /// <summary>
    /// <paramref name="path"/> relative to <paramref name="ancestor"/>, starting with '/': ("/export", "/export/a/b") →
    /// "/a/b"; the ancestor itself → "/". The caller has checked <see cref="IsPrefix"/>.
    /// </summary>
    public static string RelativeTo(string ancestor, string path)
    {
        string a = Normalize(ancestor), p = Normalize(path);
        return a == "/" ? p : p.Length == a.Length ? "/" : Normalize(p[a.Length..]);
    }

    /// <summary>True when <paramref name="prefix"/> is <paramref name="path"/> or one of its ancestors, by whole components.</summary>
    public static bool IsPrefix(string prefix, string path)
    {
        string p = Normalize(prefix), full = Normalize(path);
        if (p == "/") return true;
        return full == p || full.StartsWith(p + "/", StringComparison.Ordinal);
    }
}
