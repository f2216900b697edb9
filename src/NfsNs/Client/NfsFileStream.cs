using System.Buffers;
using NfsNs.Protocols.Nfs3;

using NfsNs.Client.Locking;

namespace NfsNs.Client;

/// <summary>
/// A file on an NFSv3 server as a <see cref="Stream"/>, with several READs or WRITEs in flight at once.
/// </summary>
/// <remarks>
/// <para><b>Reading</b> keeps up to <see cref="NfsMountOptions.RequestsInFlight"/> READs of the mount's read size
/// queued ahead of the position (sequential read-ahead). Each READ's payload is copied once, from the reply's
/// pooled record straight into a pooled chunk, and from there into the caller's buffer. A seek, a short read or EOF
/// discards the queue; discarded chunks go back to the pool only when their READ has finished with them.</para>
/// <para><b>Writing</b> fills chunks of the mount's write size and sends them as UNSTABLE WRITEs, up to
/// <see cref="NfsMountOptions.RequestsInFlight"/> at a time. Their data is kept until a COMMIT returns the same
/// write verifier the WRITEs did (RFC 1813 §3.3.7, §3.3.21): a different verifier means the server restarted and may
/// have lost them, so they are sent again and committed again, for a bounded number of rounds (W1).
/// <see cref="FlushAsync(CancellationToken)"/> and dispose commit. Whenever more than
/// <see cref="NfsMountOptions.MaxUncommittedBytes"/> wait for one, a COMMIT is sent in the background while later
/// WRITEs keep flowing, which bounds memory on large copies without stalling on the server's disk flush.
/// Nothing is reported written before it is on stable storage.</para>
/// Not thread-safe, like <see cref="FileStream"/>.
/// </remarks>
public sealed class NfsFileStream : Stream
{
    private readonly NfsMount _mount;

    /// <summary>The mount the stream was opened through.</summary>
    internal NfsMount Mount => _mount;
    private readonly NfsVolumeClient _nfs;
    private readonly string _path;
    private readonly bool _canRead, _canWrite;
    private long _position;
    private long _knownSize;
    private bool _disposed;

    // Read-ahead: chunks in file order starting at _position.
    private readonly Queue<ReadChunk> _readAhead = new();
    private long _nextReadOffset;
    private ReadChunk? _current;
    private int _currentConsumed;

    // Write-behind.
    private byte[]? _writeBuffer;
    private int _writeFill;
    private long _writeBufferOffset;
    private readonly Queue<Task<WriteChunk>> _writesInFlight = new();
    private readonly List<WriteChunk> _uncommitted = new();
    private long _uncommittedBytes;
    private Task<CommitResult>? _backgroundCommit;
    private List<WriteChunk> _committing = [];

    public NfsFileHandle Handle { get; }

    internal NfsFileStream(NfsMount mount, NfsFileHandle handle, string path, Fattr3 attributes, bool canRead, bool canWrite)
    {
        _mount = mount;
        _nfs = mount.Nfs;
        Handle = handle;
        _path = path;
        _canRead = canRead;
        _canWrite = canWrite;
        _knownSize = (long)attributes.Size;
    }

    public override bool CanRead => _canRead && !_disposed;
    public override bool CanWrite => _canWrite && !_disposed;
    public override bool CanSeek => !_disposed;
    public override long Length => Math.Max(_knownSize, _writeBuffer is null ? 0 : _writeBufferOffset + _writeFill);

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            if (value == _position) return;
            if (_writeBuffer is not null) DispatchWriteBufferAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
            DiscardReadAhead();
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        SeekOrigin.End => Length + offset,
        _ => throw new ArgumentOutOfRangeException(nameof(origin)),
    };

    // ---- reading ---------------------------------------------------------------------------------------------

    private sealed class ReadChunk(long offset, int requested, byte[] buffer)
    {
        public long Offset { get; } = offset;
        public int Requested { get; } = requested;
        public byte[] Buffer { get; } = buffer;
        public Task<ReadResult> Reply { get; set; } = null!;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override int Read(Span<byte> buffer)
    {
        byte[] temporary = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(temporary.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            temporary.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temporary);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canRead) throw new NotSupportedException($"{_path} was opened for writing only");
        if (buffer.Length == 0) return 0;
        if (_writeBuffer is not null || _writesInFlight.Count > 0) await FlushAsync(cancellationToken).ConfigureAwait(false);

        while (true)
        {
            if (_current is null)
            {
                if (_readAhead.Count == 0 || _readAhead.Peek().Offset != _position)
                {
                    DiscardReadAhead();
                    _nextReadOffset = _position;
                }
                FillReadAhead();
                _current = _readAhead.Dequeue();
                _currentConsumed = 0;
            }

            ReadResult result;
            try
            {
                result = await _current.Reply.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Nfs3Exception e)
            {
                DiscardReadAhead();
                throw e.WithPath(_path);
            }
            catch
            {
                DiscardReadAhead();
                throw;
            }
            if (result.Attributes is { } attributes) _knownSize = (long)attributes.Size;

            int available = result.Count - _currentConsumed;
            if (available > 0)
            {
                int n = Math.Min(available, buffer.Length);
                _current.Buffer.AsSpan(_currentConsumed, n).CopyTo(buffer.Span);
                _currentConsumed += n;
                _position += n;
                if (_currentConsumed == result.Count)
                {
                    ReleaseChunk(_current);
                    _current = null;
                    // A short READ without EOF (RFC 1813 §3.3.6 allows it) leaves a gap before the next queued
                    // chunk; the offset check above then restarts read-ahead exactly at the new position.
                    if (result.Eof) DiscardReadAhead();
                }
                return n;
            }

            ReleaseChunk(_current);
            _current = null;
            if (result.Eof)
            {
                DiscardReadAhead();
                return 0;
            }
            throw new NfsClientException($"READ {_path} at offset {_position}: the server returned no data and no EOF");
        }
    }

    private void FillReadAhead()
    {
        int size = _mount.ReadSize;
        int depth = Math.Max(1, _mount.Options.RequestsInFlight);
        // Always one READ at the position (the file may have grown); beyond it, read ahead only within the known size.
        while (_readAhead.Count < depth && (_readAhead.Count == 0 || _nextReadOffset < _knownSize))
        {
            var chunk = new ReadChunk(_nextReadOffset, size, ArrayPool<byte>.Shared.Rent(size));
            chunk.Reply = _nfs.ReadAsync(Handle, (ulong)chunk.Offset, (uint)size, chunk.Buffer.AsMemory(0, size), CancellationToken.None);
            _readAhead.Enqueue(chunk);
            _nextReadOffset += size;
        }
    }

    private void DiscardReadAhead()
    {
        if (_current is not null)
        {
            ReleaseChunk(_current);
            _current = null;
        }
        while (_readAhead.TryDequeue(out var chunk)) ReleaseChunk(chunk);
    }

    private static void ReleaseChunk(ReadChunk chunk)
    {
        // The reply decoder may still be copying into the buffer: return it only once the READ is over.
        if (chunk.Reply.IsCompleted)
        {
            _ = chunk.Reply.Exception;
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        }
        else
        {
            chunk.Reply.ContinueWith(static (task, state) =>
            {
                _ = task.Exception;
                ArrayPool<byte>.Shared.Return((byte[])state!);
            }, chunk.Buffer, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    private sealed class WriteChunk(long offset, byte[] buffer, int length)
    {
        public long Offset { get; } = offset;
        public byte[] Buffer { get; } = buffer;
        public int Length { get; } = length;
        /// <summary>The verifier every WRITE of this chunk returned; null when its parts disagreed (forces a re-send).</summary>
        public ulong? Verifier { get; set; }
        public StableHow Committed { get; set; }
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canWrite) throw new NotSupportedException($"{_path} was opened for reading only");
        DiscardReadAhead();
        int size = _mount.WriteSize;
        while (!data.IsEmpty)
        {
            if (_writeBuffer is null)
            {
                _writeBuffer = ArrayPool<byte>.Shared.Rent(size);
                _writeFill = 0;
                _writeBufferOffset = _position;
            }
            int n = Math.Min(size - _writeFill, data.Length);
            data.Span[..n].CopyTo(_writeBuffer.AsSpan(_writeFill));
            _writeFill += n;
            _position += n;
            data = data[n..];
            if (_writeFill == size) await DispatchWriteBufferAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask DispatchWriteBufferAsync(CancellationToken cancellationToken)
    {
        if (_writeBuffer is null) return;
        var chunk = new WriteChunk(_writeBufferOffset, _writeBuffer, _writeFill);
        _writeBuffer = null;
        _writeFill = 0;
        while (_writesInFlight.Count >= Math.Max(1, _mount.Options.RequestsInFlight))
            await CompleteOldestWriteAsync().ConfigureAwait(false);
        _writesInFlight.Enqueue(SendChunkAsync(chunk, StableHow.Unstable, cancellationToken));
        if (_uncommittedBytes > _mount.Options.MaxUncommittedBytes)
            await CommitInBackgroundAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a COMMIT for the WRITEs answered so far while later WRITEs keep flowing, so that the server's flush to
    /// disk overlaps the transfer instead of stalling it. The previous background COMMIT is settled first, which
    /// bounds the data held for a re-send to about two windows. If a background COMMIT reveals a changed verifier,
    /// the stream falls back to the full synchronous <see cref="CommitAsync"/> with its re-sends and bounded rounds.
    /// </summary>
    private async Task CommitInBackgroundAsync(CancellationToken cancellationToken)
    {
        if (await SettleBackgroundCommitAsync().ConfigureAwait(false))
        {
            await CommitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        if (_uncommitted.Count == 0) return;
        // Only WRITEs whose replies have arrived are covered by a COMMIT sent now (RFC 1813 §3.3.21).
        _committing = [.. _uncommitted];
        _uncommitted.Clear();
        _uncommittedBytes = 0;
        _backgroundCommit = _nfs.CommitAsync(Handle, 0, 0, cancellationToken);
    }

    /// <summary>
    /// Waits for the background COMMIT, releases the chunks it made stable and returns the others to the uncommitted
    /// list. True when any verifier differed (the server restarted: those WRITEs must be sent again).
    /// </summary>
    private async Task<bool> SettleBackgroundCommitAsync()
    {
        if (_backgroundCommit is null) return false;
        var committing = _committing;
        var pending = _backgroundCommit;
        _backgroundCommit = null;
        _committing = [];
        CommitResult commit;
        try
        {
            commit = await pending.ConfigureAwait(false);
        }
        catch (Nfs3Exception e)
        {
            _uncommitted.AddRange(committing);
            _uncommittedBytes += committing.Sum(c => (long)c.Length);
            throw e.WithPath(_path);
        }
        catch
        {
            _uncommitted.AddRange(committing);
            _uncommittedBytes += committing.Sum(c => (long)c.Length);
            throw;
        }
        bool changed = false;
        foreach (var chunk in committing)
        {
            if (chunk.Verifier == commit.Verifier)
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
                continue;
            }
            changed = true;
            _uncommitted.Add(chunk);
            _uncommittedBytes += chunk.Length;
        }
        return changed;
    }

    private async Task CompleteOldestWriteAsync()
    {
        var chunk = await _writesInFlight.Dequeue().ConfigureAwait(false);
        _knownSize = Math.Max(_knownSize, chunk.Offset + chunk.Length);
        if (chunk.Committed == StableHow.FileSync)
        {
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
            return;
        }
        _uncommitted.Add(chunk);
        _uncommittedBytes += chunk.Length;
    }

    /// <summary>Sends one chunk, continuing after short writes; records the weakest stability and whether verifiers agreed.</summary>
    private async Task<WriteChunk> SendChunkAsync(WriteChunk chunk, StableHow stable, CancellationToken cancellationToken)
    {
        int done = 0;
        ulong? verifier = null;
        bool consistent = true;
        var committed = StableHow.FileSync;
        while (done < chunk.Length)
        {
            WriteResult result;
            try
            {
                result = await _nfs.WriteAsync(Handle, (ulong)(chunk.Offset + done), chunk.Buffer.AsMemory(done, chunk.Length - done), stable, cancellationToken).ConfigureAwait(false);
            }
            catch (Nfs3Exception e)
            {
                throw e.WithPath(_path);
            }
            if (result.Count == 0 || result.Count > chunk.Length - done)
                throw new NfsClientException($"WRITE {_path} at offset {chunk.Offset + done}: the server reported {result.Count} of {chunk.Length - done} bytes written");
            if (verifier is { } v && v != result.Verifier) consistent = false;
            verifier = result.Verifier;
            if (result.Committed < committed) committed = result.Committed;
            done += (int)result.Count;
        }
        chunk.Verifier = consistent ? verifier : null;
        chunk.Committed = committed;
        return chunk;
    }

    /// <summary>Waits for every WRITE, then COMMITs until the server's verifier matches every uncommitted WRITE's (W1).</summary>
    private async Task CommitAsync(CancellationToken cancellationToken)
    {
        await SettleBackgroundCommitAsync().ConfigureAwait(false);
        while (_writesInFlight.Count > 0) await CompleteOldestWriteAsync().ConfigureAwait(false);
        if (_uncommitted.Count == 0) return;
        int rounds = Math.Max(1, _mount.Options.MaxCommitRounds);
        for (int round = 1; ; round++)
        {
            CommitResult commit;
            try
            {
                // offset 0, count 0: commit the whole file (RFC 1813 §3.3.21).
                commit = await _nfs.CommitAsync(Handle, 0, 0, cancellationToken).ConfigureAwait(false);
            }
            catch (Nfs3Exception e)
            {
                throw e.WithPath(_path);
            }
            var lost = _uncommitted.Where(w => w.Verifier != commit.Verifier).ToList();
            if (lost.Count == 0)
            {
                foreach (var chunk in _uncommitted) ArrayPool<byte>.Shared.Return(chunk.Buffer);
                _uncommitted.Clear();
                _uncommittedBytes = 0;
                return;
            }
            if (round >= rounds)
                throw new NfsClientException($"COMMIT {_path}: the server's write verifier changed in each of {rounds} rounds " +
                    $"(server restarting?); {lost.Count} WRITEs ({lost.Sum(w => (long)w.Length)} bytes) may not be on stable storage");
            // The server restarted between WRITE and COMMIT and may have dropped the data: send it again.
            var resent = lost.Select(w => SendChunkAsync(w, StableHow.Unstable, cancellationToken)).ToList();
            await Task.WhenAll(resent).ConfigureAwait(false);
            foreach (var chunk in lost.Where(c => c.Committed == StableHow.FileSync).ToList())
            {
                _uncommitted.Remove(chunk);
                _uncommittedBytes -= chunk.Length;
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_canWrite) return;
        await DispatchWriteBufferAsync(cancellationToken).ConfigureAwait(false);
        await CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void SetLength(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (!_canWrite) throw new NotSupportedException($"{_path} was opened for reading only");
        Flush();
        try
        {
            _nfs.SetAttrAsync(Handle, new Sattr3 { Size = (ulong)value }, null, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Nfs3Exception e)
        {
            throw e.WithPath(_path);
        }
        _knownSize = value;
    }

    // ---- byte-range locks (NLM) -----------------------------------------------------------------------------------

    private NfsLockOwner? _lockOwner;
    private readonly List<NfsFileLock> _locks = [];
    private readonly CancellationTokenSource _closing = new();

    /// <summary>This stream's lock owner: every stream is an owner of its own, like an open file description.</summary>
    public NfsLockOwner LockOwner => LazyInitializer.EnsureInitialized(ref _lockOwner, NfsLockOwner.Create);

    /// <summary>
    /// Takes a byte-range lock on the file through the server's lock manager (NLM v4). <paramref name="length"/> 0
    /// locks to the end of the file however long it grows. With <paramref name="wait"/>, a conflicting lock is waited
    /// for (the server's GRANTED call-back arrives through the mount's namespace; the request is re-sent now and
    /// then in case it does not) until <paramref name="cancellationToken"/> fires, which cancels the request at the
    /// server; without, a conflict throws <see cref="NfsLockConflictException"/> naming the holder.
    /// Disposing the stream releases its locks, as close(2) does.
    /// </summary>
    public async Task<NfsFileLock> LockAsync(long offset = 0, long length = 0, bool exclusive = true, bool wait = true,
        CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckRange(offset, length);
        // Closing the stream ends a wait for one of its locks: nobody would ever release what it brought.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        NfsFileLock held;
        try
        {
            var client = await _mount.GetLockClientAsync(waiting.Token).ConfigureAwait(false);
            held = await client.LockAsync(this, LockOwner, offset, length, exclusive, wait, _path, waiting.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(_path, $"{_path} was closed while waiting for a lock on it");
        }
        lock (_locks)
        {
            // Granted just as the stream closed (after it released its locks): give it back, as fcntl(2) does when
            // a close races a lock.
            if (!_disposed)
            {
                _locks.Add(held);
                return held;
            }
        }
        await ReleaseQuietlyAsync(held).ConfigureAwait(false);
        throw new ObjectDisposedException(_path, $"{_path} was closed while waiting for a lock on it");
    }

    /// <summary>As <see cref="LockAsync"/> without waiting: null instead of an exception when another owner holds the range.</summary>
    public async Task<NfsFileLock?> TryLockAsync(long offset = 0, long length = 0, bool exclusive = true, CancellationToken cancellationToken = default)
    {
        try
        {
            return await LockAsync(offset, length, exclusive, wait: false, cancellationToken).ConfigureAwait(false);
        }
        catch (NfsLockConflictException)
        {
            return null;
        }
    }

    /// <summary>NLM TEST: who would block this lock (null: nobody, it could be taken now). Takes nothing.</summary>
    public async Task<NfsLockHolder?> TestLockAsync(long offset = 0, long length = 0, bool exclusive = true, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckRange(offset, length);
        var client = await _mount.GetLockClientAsync(cancellationToken).ConfigureAwait(false);
        return await client.TestAsync(Handle, LockOwner, offset, length, exclusive, _path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The locks this stream holds now.</summary>
    public IReadOnlyList<NfsFileLock> Locks
    {
        get { lock (_locks) return [.. _locks.Where(l => l.IsHeld)]; }
    }

    private static void CheckRange(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
    }

    private async Task ReleaseLocksAsync()
    {
        NfsFileLock[] locks;
        lock (_locks)
        {
            locks = [.. _locks];
            _locks.Clear();
        }
        foreach (var held in locks) await ReleaseQuietlyAsync(held).ConfigureAwait(false);
    }

    private async Task ReleaseQuietlyAsync(NfsFileLock held)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await held.UnlockAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or Rpc.RpcException or OperationCanceledException)
        {
            _mount.Options.Warn?.Invoke($"could not release {held} on close: {e.Message}");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed) DisposeAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        try
        {
            if (_canWrite) await FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            lock (_locks) _disposed = true;
            await _closing.CancelAsync().ConfigureAwait(false);
            if (_lockOwner is not null) await ReleaseLocksAsync().ConfigureAwait(false);
            DiscardReadAhead();
            if (_writeBuffer is not null) ArrayPool<byte>.Shared.Return(_writeBuffer);
            _writeBuffer = null;
            while (_writesInFlight.TryDequeue(out var pending))
            {
                try { var chunk = await pending.ConfigureAwait(false); ArrayPool<byte>.Shared.Return(chunk.Buffer); }
                catch (Exception) { /* its failure was reported by the flush above */ }
            }
            if (_backgroundCommit is not null)
            {
                try { await _backgroundCommit.ConfigureAwait(false); } catch (Exception) { /* reported by the flush above */ }
                _backgroundCommit = null;
            }
            foreach (var chunk in _uncommitted.Concat(_committing)) ArrayPool<byte>.Shared.Return(chunk.Buffer);
            _uncommitted.Clear();
            _committing = [];
        }
        GC.SuppressFinalize(this);
    }
}
