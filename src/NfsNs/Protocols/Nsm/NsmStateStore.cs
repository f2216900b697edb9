using System.Globalization;
using System.Text;

namespace NfsNs.Protocols.Nsm;

/// <summary>
/// What a status monitor must remember across restarts (XNFS chapter 11), kept in one directory per monitor — one
/// per network namespace, because each namespace is a host of its own to its peers:
/// <list type="bullet">
/// <item><c>state</c>: the NSM state number, odd while up. <see cref="Restart"/> moves it to the next odd number, so
/// peers that compare numbers see that this host restarted.</item>
/// <item><c>sm/NAME</c>: one file per monitored peer, holding the peer's last known state number. After a restart
/// these are the hosts to send SM_NOTIFY to (as <c>rpc.statd</c>'s <c>sm/</c> directory and sm-notify).</item>
/// </list>
/// Files are replaced atomically (write to a temporary file, then rename) so a crash leaves the old or new content,
/// never a torn number. Peer names are escaped into file names, so a hostile name cannot leave the directory.
/// </summary>
public sealed class NsmStateStore
{
    private readonly Lock _lock = new();
    private readonly string _monitoredDirectory;
    private int _state;

    private NsmStateStore(string directory, int state)
    {
        Directory = directory;
        _monitoredDirectory = Path.Combine(directory, "sm");
        _state = state;
    }

    /// <summary>The directory holding <c>state</c> and <c>sm/</c>.</summary>
    public string Directory { get; }

    /// <summary>The current state number (0 until the first <see cref="Restart"/> of a new directory).</summary>
    public int State
    {
        get { lock (_lock) return _state; }
    }

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/>; an unreadable state file is an error.</summary>
    public static NsmStateStore Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string full = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Path.Combine(full, "sm"));
        string statePath = Path.Combine(full, "state");
        int state = 0;
        if (File.Exists(statePath))
        {
            string text = File.ReadAllText(statePath).Trim();
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out state) || state < 0)
                throw new InvalidDataException($"NSM state file {statePath} holds \"{Truncate(text)}\", not a state number (remove it to start counting again)");
        }
        return new NsmStateStore(full, state);
    }

    /// <summary>
    /// Records a restart: the state becomes the next odd number (1 for a new store) and is written to disk before
    /// it is returned, so no peer is ever told a number that a crash could make us reuse.
    /// </summary>
    public int Restart()
    {
        lock (_lock)
        {
            int next = _state + 1;
            if (next % 2 == 0) next++;
            if (next < 0) next = 1; // after 2^31 restarts: start over rather than go negative
            WriteAtomically(Path.Combine(Directory, "state"), next.ToString(CultureInfo.InvariantCulture));
            _state = next;
            return next;
        }
    }

    /// <summary>Remembers that <paramref name="peer"/> is monitored (with its state when known).</summary>
    public void AddMonitored(string peer, int peerState = 0)
    {
        lock (_lock) WriteAtomically(MonitoredPath(peer), peerState.ToString(CultureInfo.InvariantCulture));
    }

    public void RemoveMonitored(string peer)
    {
        lock (_lock) File.Delete(MonitoredPath(peer));
    }

    /// <summary>The monitored peers and their last known state numbers (unreadable entries count as state 0).</summary>
    public IReadOnlyList<(string Peer, int State)> Monitored
    {
        get
        {
            lock (_lock)
            {
                var peers = new List<(string, int)>();
                foreach (string file in System.IO.Directory.EnumerateFiles(_monitoredDirectory))
                {
                    string name = Path.GetFileName(file);
                    if (name.StartsWith('.') || Unescape(name) is not { } peer) continue;
                    int.TryParse(SafeRead(file), NumberStyles.None, CultureInfo.InvariantCulture, out int state);
                    peers.Add((peer, state));
                }
                peers.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
                return peers;
            }
        }
    }

    private string MonitoredPath(string peer)
    {
        ArgumentException.ThrowIfNullOrEmpty(peer);
        if (Encoding.UTF8.GetByteCount(peer) > Nsm.MaxStringLength)
            throw new ArgumentException($"a monitored host name is at most {Nsm.MaxStringLength} bytes", nameof(peer));
        return Path.Combine(_monitoredDirectory, Escape(peer));
    }

    // File names: letters, digits, '.', '-', '_', ':' as they are; every other byte as %XX. So "10.0.0.3",
    // "fe80::1" and "server.example" stay readable, and "../x" or "a/b" cannot name another file.
    private static string Escape(string peer)
    {
        var builder = new StringBuilder();
        foreach (byte b in Encoding.UTF8.GetBytes(peer))
        {
            char c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or ':' || (c == '.' && builder.Length > 0)) builder.Append(c);
            else builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    private static string? Unescape(string name)
    {
        var bytes = new List<byte>(name.Length);
        for (int i = 0; i < name.Length; i++)
        {
            if (name[i] != '%') { bytes.Add((byte)name[i]); continue; }
            if (i + 2 >= name.Length || !byte.TryParse(name.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b))
                return null;
            bytes.Add(b);
            i += 2;
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    private static void WriteAtomically(string path, string content)
    {
        string temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.ASCII.GetBytes(content + "\n"));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>
    /// The default directory of a namespace's monitor: <c>$NFSNS_STATE_DIR</c>, else <c>/var/lib/nfsns</c> for root
    /// and <c>$XDG_STATE_HOME/nfsns</c> (or <c>~/.local/state/nfsns</c>) for others; then <c>nsm/</c> and the
    /// namespace's name when it has one (names survive re-creation of the namespace), else <c>inode-N</c>.
    /// </summary>
    public static string DefaultDirectory(string role, string? namespaceName, ulong namespaceInode)
    {
        string root = Environment.GetEnvironmentVariable("NFSNS_STATE_DIR") is { Length: > 0 } configured
            ? configured
            : Namespaces.LibC.geteuid() == 0
                ? "/var/lib/nfsns"
                : Path.Combine(Environment.GetEnvironmentVariable("XDG_STATE_HOME") is { Length: > 0 } xdg
                    ? xdg
                    : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state"), "nfsns");
        string leaf = namespaceName is { Length: > 0 } name ? Escape(name) : $"inode-{namespaceInode}";
        return Path.Combine(root, "nsm", role, leaf);
    }
}
