using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using NfsNs.Cli.Output;
using NfsNs.Client;
using NfsNs.Client.Locking;
using NfsNs.Protocols.Nfs3;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns lock</c>.</summary>
public sealed record LockOptions : CommandOptions
{
    public required NfsUrl Url { get; init; }

    /// <summary>The command to run while the lock is held (empty with <see cref="Test"/>).</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    public bool Shared { get; init; }
    public bool Wait { get; init; } = true;
    /// <summary>With <see cref="Wait"/>: give up after this long (flock(1)'s -w).</summary>
    public TimeSpan? Timeout { get; init; }
    public long Offset { get; init; }
    /// <summary>0: to the end of the file.</summary>
    public long Length { get; init; }
    /// <summary>Only ask who holds a conflicting lock (NLM TEST) and exit 0 if nobody, 1 if somebody.</summary>
    public bool Test { get; init; }
    public bool Json { get; init; }

    /// <summary>Parses <c>OFFSET:LENGTH</c> (LENGTH 0 or empty: to the end of the file).</summary>
    public static (long Offset, long Length) ParseRange(string text)
    {
        int colon = text.IndexOf(':');
        string offset = colon < 0 ? text : text[..colon], length = colon < 0 ? "0" : text[(colon + 1)..];
        if (length.Length == 0) length = "0";
        if (!long.TryParse(offset, NumberStyles.None, CultureInfo.InvariantCulture, out long o) ||
            !long.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out long l))
            throw new UsageException($"--range must be OFFSET[:LENGTH] in bytes (no LENGTH or 0: to the end of the file), not '{text}'");
        if (l > 0 && o > long.MaxValue - l)
            throw new UsageException($"--range {text} ends beyond the largest file offset");
        return (o, l);
    }
}

/// <summary>
/// Runs a command while holding an NLM byte-range lock on a file, like flock(1) for a local file: the lock is
/// taken (waiting for it unless <c>--nowait</c>), the command runs with our standard input and output, the lock is
/// released when it ends, and nfsns exits with the command's status. The file is created when missing.
/// </summary>
public static class LockCommand
{
    /// <summary>Exit status when the lock was not obtained (--nowait, --timeout), as flock(1).</summary>
    public const int NotLocked = 1;

    public static async Task<int> RunAsync(LockOptions options, CancellationToken cancellationToken)
    {
        await using var mount = await Remote.MountAsync(options.Url, cancellationToken);
        string where = mount.ServerPath(mount.PathInExport);
        await using var file = await OpenAsync(mount, create: !options.Test, where, cancellationToken);
        if (file is null)
        {
            // --test of a file that does not exist: nobody can hold a lock on it, and testing creates nothing.
            return Report(options, where, holder: null);
        }
        bool exclusive = !options.Shared;
        if (options.Test)
            return Report(options, where, await file.TestLockAsync(options.Offset, options.Length, exclusive, cancellationToken));

        NfsFileLock held;
        if (options.Global.Verbose)
            options.Console.Error.WriteLine($"nfsns: locking {where} {(options.Length == 0 ? $"[{options.Offset}, end)" : $"[{options.Offset}, {options.Offset + options.Length})")}" +
                $"{(options.Wait ? "" : " (not waiting)")}");
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            if (options.Timeout is { } timeout) deadline.CancelAfter(timeout);
            try
            {
                held = await file.LockAsync(options.Offset, options.Length, exclusive, options.Wait, deadline.Token);
            }
            catch (NfsLockConflictException e)
            {
                options.Console.Error.WriteLine($"nfsns: {e.Message}");
                return NotLocked;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                options.Console.Error.WriteLine($"nfsns: {where}: lock not obtained within {options.Timeout!.Value.TotalSeconds:0.###} s");
                return NotLocked;
            }
        }
        if (options.Global.Verbose) options.Console.Error.WriteLine($"nfsns: holding {held}");
        int status;
        try
        {
            status = await RunChildAsync(options.Command, options.Console, cancellationToken);
        }
        finally
        {
            // Released even when the command fails or we are interrupted; never skipped by cancellation.
            await held.UnlockAsync(CancellationToken.None);
        }
        if (held.IsLost)
        {
            // The server restarted and gave the range to someone else before we could reclaim it: the command ran
            // partly unprotected. A success must not hide that.
            options.Console.Error.WriteLine($"nfsns: {where}: the lock was lost while the command ran (the server restarted and did not give it back)");
            return status == ExitCodes.Ok ? LockLost : status;
        }
        return status;
    }

    /// <summary>Exit status when the command succeeded but the lock was lost while it ran.</summary>
    public const int LockLost = 1;

    /// <summary>
    /// Opens the file for locking, creating it (empty, 0644) if it does not exist and <paramref name="create"/>, as
    /// flock(1) does; null when it does not exist and must not be created. Directories cannot be locked (NLM locks
    /// byte ranges of regular files).
    /// </summary>
    private static async Task<NfsFileStream?> OpenAsync(NfsMount mount, bool create, string where, CancellationToken cancellationToken)
    {
        string path = mount.PathInExport;
        Fattr3 attributes;
        try
        {
            attributes = await mount.GetAttributesAsync(path, cancellationToken);
        }
        catch (Nfs3Exception e) when (e.Status == Nfs3Status.NoEnt)
        {
            return create ? await mount.OpenWriteAsync(path, FileMode.OpenOrCreate, cancellationToken: cancellationToken) : null;
        }
        if (attributes.Type == Nfs3FileType.Directory)
            throw new UsageException($"{where} is a directory: NLM locks byte ranges of files; lock a file inside it (it is created if missing)");
        return await mount.OpenReadAsync(path, cancellationToken);
    }

    private static int Report(LockOptions options, string where, NfsLockHolder? holder)
    {
        if (options.Json)
        {
            Json.Write(options.Console.Out, new
            {
                path = where,
                offset = options.Offset,
                length = options.Length,
                exclusive = !options.Shared,
                locked = holder is not null,
                holder = holder is null ? null : new { exclusive = holder.Exclusive, svid = holder.Svid, owner = holder.Owner, offset = holder.Offset, length = holder.Length },
            });
        }
        else
        {
            options.Console.Out.WriteLine(holder is null ? $"{where}: not locked" : $"{where}: {holder}");
        }
        return holder is null ? ExitCodes.Ok : NotLocked;
    }

    /// <summary>
    /// Runs the command with inherited standard streams. Ctrl-C reaches it from the terminal directly (same process
    /// group); a SIGTERM to us is passed on, and we wait for it to end before releasing the lock. Exit status: the
    /// command's, 128+N when a signal N ended it, 127 when it cannot be found, 126 when it cannot be run — as a shell.
    /// </summary>
    private static async Task<int> RunChildAsync(IReadOnlyList<string> command, CliConsole console, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string argument in command.Skip(1)) start.ArgumentList.Add(argument);
        Process child;
        try
        {
            if (command[0].Contains('/') && Directory.Exists(command[0])) return CannotRun(console, command[0], "is a directory");
            child = Process.Start(start) ?? throw new Win32Exception("no process was started");
        }
        catch (Win32Exception e)
        {
            return e.NativeErrorCode switch
            {
                ENOENT => CannotRun(console, command[0], "command not found", 127),
                EACCES => CannotRun(console, command[0], "permission denied"),
                _ => CannotRun(console, command[0], e.Message),
            };
        }
        using (child)
        {
            using var forward = cancellationToken.Register(() =>
            {
                try { kill(child.Id, SIGTERM); } catch (InvalidOperationException) { }
            });
            await child.WaitForExitAsync(CancellationToken.None);
            return child.ExitCode;
        }
    }

    private static int CannotRun(CliConsole console, string command, string why, int status = 126)
    {
        console.Error.WriteLine($"nfsns: {command}: {why}");
        return status;
    }

    private const int SIGTERM = 15, ENOENT = 2, EACCES = 13;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
