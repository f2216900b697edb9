namespace NfsNs.Client;

/// <summary>
/// A map that holds at most <see cref="Capacity"/> entries, dropping the least recently used one to make room. Not
/// thread-safe: its owner locks around it.
/// </summary>
internal sealed class BoundedLru<TKey, TValue> where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<KeyValuePair<TKey, TValue>>> _map;
    // Most recently used first.
    private readonly LinkedList<KeyValuePair<TKey, TValue>> _order = new();

    public BoundedLru(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        // Grows with use; not pre-sized to the capacity, which most mounts never reach.
        _map = new Dictionary<TKey, LinkedListNode<KeyValuePair<TKey, TValue>>>();
    }

    public int Capacity { get; }
    public int Count => _map.Count;

    /// <summary>Entries dropped to make room, since creation.</summary>
    public long Evictions { get; private set; }

    /// <summary>The value for <paramref name="key"/>, which becomes the most recently used.</summary>
    public bool TryGetValue(TKey key, out TValue value)
    {
        if (!_map.TryGetValue(key, out var node))
        {
            value = default!;
            return false;
        }
        if (node != _order.First)
        {
            _order.Remove(node);
            _order.AddFirst(node);
        }
        value = node.Value.Value;
        return true;
    }

    /// <summary>Adds or replaces; the entry becomes the most recently used, and the least recently used goes if over capacity.</summary>
    public void Set(TKey key, TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            node.Value = new KeyValuePair<TKey, TValue>(key, value);
            if (node != _order.First)
            {
                _order.Remove(node);
                _order.AddFirst(node);
            }
            return;
        }
        _map.Add(key, _order.AddFirst(new KeyValuePair<TKey, TValue>(key, value)));
        if (_map.Count > Capacity)
        {
            var oldest = _order.Last!;
            _order.RemoveLast();
            _map.Remove(oldest.Value.Key);
            Evictions++;
        }
    }

    public bool Remove(TKey key)
    {
        if (!_map.Remove(key, out var node)) return false;
        _order.Remove(node);
        return true;
    }

    public void Clear()
    {
        _map.Clear();
        _order.Clear();
    }
}
