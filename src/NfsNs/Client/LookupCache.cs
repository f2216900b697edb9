using NfsNs.Protocols.Nfs3;

namespace NfsNs.Client;

/// <summary>
/// The directory entry cache of a volume: (directory handle, name) → the handle the server's LOOKUP gave, recorded with
/// the directory's attribute-cache generation at the time (see <see cref="CachedAttributes.Generation"/>); an entry
/// from an older generation is dead. Bounded (least recently used dropped). Only positive results are kept. Not
/// thread-safe: <see cref="NfsVolume"/> locks around it.
/// </summary>
internal sealed class LookupCache(int capacity)
{
    private readonly record struct Key(NfsFileHandle Directory, string Name);
    private readonly record struct Entry(NfsFileHandle Child, long DirectoryGeneration);

    private readonly BoundedLru<Key, Entry> _entries = new(capacity);

    public int Count => _entries.Count;
    public int Capacity => _entries.Capacity;
    public long Evictions => _entries.Evictions;

    public void Add(NfsFileHandle directory, string name, NfsFileHandle child, long directoryGeneration) =>
        _entries.Set(new Key(directory, name), new Entry(child, directoryGeneration));

    /// <summary>The child of <paramref name="name"/> if it was looked up in the directory's current generation; a dead entry is dropped.</summary>
    public bool TryGet(NfsFileHandle directory, string name, long directoryGeneration, out NfsFileHandle child)
    {
        var key = new Key(directory, name);
        if (_entries.TryGetValue(key, out var entry))
        {
            if (entry.DirectoryGeneration == directoryGeneration)
            {
                child = entry.Child;
                return true;
            }
            _entries.Remove(key);
        }
        child = default;
        return false;
    }

    /// <summary>Removes the entry for <paramref name="name"/>, returning the child it named, if any (whatever its generation).</summary>
    public NfsFileHandle? Remove(NfsFileHandle directory, string name)
    {
        var key = new Key(directory, name);
        if (!_entries.TryGetValue(key, out var entry)) return null;
        _entries.Remove(key);
        return entry.Child;
    }

    public void Clear() => _entries.Clear();
}
