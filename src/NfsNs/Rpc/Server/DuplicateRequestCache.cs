using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace NfsNs.Rpc.Server;

/// <summary>
/// The duplicate request cache of a server: a retransmitted non-idempotent call (same client address, XID, program,
/// version, procedure and argument bytes) gets the reply of its first execution instead of running again (case J3:
/// a CREATE retried on a new connection must not answer EEXIST). A call with the same XID but a different body is
/// a new request.
/// </summary>
/// <remarks>
/// The key holds the client's IP address but not its port: a client retransmits on a new connection, usually from
/// a new port. A duplicate of a call still in progress waits for the first execution and gets the same bytes.
/// Bounded by entries and by the bytes of cached replies, least recently used first out; replies larger than the
/// per-reply limit are not kept (such a call runs again when retransmitted).
/// </remarks>
public sealed class DuplicateRequestCache
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Key, Entry> _entries = [];
    private readonly LinkedList<Entry> _lru = new();
    private readonly int _maxEntries;
    private readonly long _maxBytes;
    private readonly int _maxReplySize;
    private long _bytes;

    public DuplicateRequestCache(int maxEntries, long maxBytes, int maxReplySize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEntries);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(maxReplySize);
        _maxEntries = maxEntries;
        _maxBytes = maxBytes;
        _maxReplySize = maxReplySize;
    }

    /// <summary>Identifies one request. <see cref="ArgumentsHash"/> is 128 bits of SHA-256 over the argument bytes.</summary>
    public readonly record struct Key(IPAddress Client, uint Xid, uint Program, uint Version, uint Procedure, UInt128 ArgumentsHash)
    {
        public static Key Create(IPAddress client, uint xid, uint program, uint version, uint procedure, ReadOnlySpan<byte> arguments)
        {
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(arguments, digest);
            var hash = BinaryPrimitives.ReadUInt128LittleEndian(digest);
            // A v4 client seen through a dual-stack socket has the same identity as over a v4 socket.
            var address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
            return new Key(address, xid, program, version, procedure, hash);
        }
    }

    /// <summary>One request: in progress until <see cref="Reply"/> completes with its reply message (null: no reply kept).</summary>
    public sealed class Entry(Key key)
    {
        public Key Key { get; } = key;
        internal readonly TaskCompletionSource<byte[]?> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal LinkedListNode<Entry>? Node;
        internal int Size;
        public Task<byte[]?> Reply => Completion.Task;
    }

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    public long CachedBytes
    {
        get { lock (_lock) return _bytes; }
    }

    /// <summary>
    /// Looks <paramref name="key"/> up. False: a new request, recorded as in progress in <paramref name="entry"/>;
    /// the caller runs it and then calls <see cref="Complete"/> or <see cref="Abandon"/>. True: a duplicate; await
    /// <see cref="Entry.Reply"/> for the first execution's reply message.
    /// </summary>
    public bool TryGetDuplicate(in Key key, out Entry entry)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                _lru.Remove(existing.Node!);
                _lru.AddFirst(existing.Node!);
                entry = existing;
                return true;
            }
            entry = new Entry(key);
            entry.Node = _lru.AddFirst(entry);
            _entries.Add(key, entry);
            EvictLocked();
            return false;
        }
    }

    /// <summary>
    /// Records the reply of a new request and wakes its duplicates. <paramref name="replyMessage"/> is the RPC reply
    /// message alone, without TCP's record marker: a retransmission may come over another transport (a client that
    /// falls back from TCP to UDP), and the server frames it for the transport it is sent on.
    /// </summary>
    public void Complete(Entry entry, ReadOnlySpan<byte> replyMessage)
    {
        if (replyMessage.Length > _maxReplySize)
        {
            Abandon(entry);
            return;
        }
        byte[] copy = replyMessage.ToArray();
        lock (_lock)
        {
            if (entry.Node?.List is not null)
            {
                entry.Size = copy.Length;
                _bytes += copy.Length;
                EvictLocked();
            }
        }
        entry.Completion.TrySetResult(copy);
    }

    /// <summary>Forgets a request that produced no reply to keep (dropped, or too large); its duplicates get null.</summary>
    public void Abandon(Entry entry)
    {
        lock (_lock) RemoveLocked(entry);
        entry.Completion.TrySetResult(null);
    }

    private void EvictLocked()
    {
        while (_entries.Count > _maxEntries || _bytes > _maxBytes)
        {
            var oldest = _lru.Last;
            if (oldest is null) break;
            RemoveLocked(oldest.Value);
        }
    }

    private void RemoveLocked(Entry entry)
    {
        if (entry.Node?.List is null) return;
        _lru.Remove(entry.Node);
        _entries.Remove(entry.Key);
        _bytes -= entry.Size;
        entry.Size = 0;
    }
}
