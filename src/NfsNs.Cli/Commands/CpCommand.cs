using NfsNs.Cli.Output;
using NfsNs.Protocols.Nfs3;
using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns cp</c>.</summary>
public sealed record CpOptions : CommandOptions
{
    /// <summary>A URL or a local path; at least one of the two sides is a URL.</summary>
    public required FileLocation Source { get; init; }

    public required FileLocation Destination { get; init; }

    /// <summary><c>-r</c>: copy directories recursively.</summary>
    public bool Recursive { get; init; }
}

/// <summary>Copies between a URL and a local path, or between two URLs; shows a <see cref="Output.ProgressBar"/> on a terminal.</summary>
public static class CpCommand
{
    public static async Task RunAsync(CpOptions options, CancellationToken cancellationToken)
    {
        var (source, destination) = (options.Source, options.Destination);
        await using var sourceMount = source.Url is { } su ? await Remote.MountAsync(su, cancellationToken) : null;
        await using var destinationMount = destination.Url is { } du ? await Remote.MountAsync(du, cancellationToken) : null;
        var from = new Endpoint(sourceMount, sourceMount?.PathInExport ?? Path.GetFullPath(source.LocalPath!));
        var to = new Endpoint(destinationMount, destinationMount?.PathInExport ?? Path.GetFullPath(destination.LocalPath!));

        bool sourceIsDirectory = await from.IsDirectoryAsync(cancellationToken) ?? throw NotFound(from);
        // "cp a dir/" copies into dir, as cp(1) does, when the destination is an existing directory.
        if (await to.IsDirectoryAsync(cancellationToken) == true)
            to = to.Child(from.Name);
        if (sourceIsDirectory)
        {
            if (!options.Recursive) throw new UsageException($"cp: {source} is a directory (use -r)");
            await CopyTreeAsync(options, from, to, cancellationToken);
            return;
        }
        await CopyFileAsync(options, from, to, cancellationToken);
    }

    /// <summary>One side of a copy: a path in a mounted export, or a local path (mount is null).</summary>
    private sealed record Endpoint(NfsMount? Mount, string Path)
    {
        public string Name => Mount is null ? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(Path)) : NfsPath.Name(Path);
        public Endpoint Child(string name) => this with { Path = Mount is null ? System.IO.Path.Combine(Path, name) : NfsPath.Combine(Path, name) };
        public override string ToString() => Mount is null ? Path : Mount.ServerPath(Path);

        /// <summary>True for a directory, false for anything else, null when it does not exist.</summary>
        public async Task<bool?> IsDirectoryAsync(CancellationToken cancellationToken)
        {
            if (Mount is null) return Directory.Exists(Path) ? true : File.Exists(Path) || new FileInfo(Path).LinkTarget is not null ? false : null;
            try
            {
                return (await Mount.GetAttributesAsync(Path, cancellationToken)).Type == Nfs3FileType.Directory;
            }
            catch (Nfs3Exception e) when (e.Status == Nfs3Status.NoEnt)
            {
                return null;
            }
        }

        /// <summary>The link's target when this is a symbolic link (not followed), else null.</summary>
        public async Task<string?> SymlinkTargetAsync(CancellationToken cancellationToken)
        {
            if (Mount is null) return new FileInfo(Path).LinkTarget;
            var attributes = await Mount.GetAttributesAsync(Path, cancellationToken);
            return attributes.Type == Nfs3FileType.Symlink ? await Mount.ReadLinkAsync(Path, cancellationToken) : null;
        }

        public async Task CreateSymlinkAsync(string target, CancellationToken cancellationToken)
        {
            if (Mount is null)
            {
                LocalIo(() => File.CreateSymbolicLink(Path, target), "cannot create symbolic link");
                return;
            }
            await Mount.SymlinkAsync(target, Path, cancellationToken);
        }

        /// <summary>Runs a local file operation, turning .NET's wording into one line that names the path.</summary>
        public T LocalIo<T>(Func<T> operation, string what)
        {
            try
            {
                return operation();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                string reason = e switch
                {
                    DirectoryNotFoundException => $"directory {System.IO.Path.GetDirectoryName(Path)} does not exist",
                    FileNotFoundException => "no such file",
                    UnauthorizedAccessException => "permission denied",
                    _ => e.Message,
                };
                throw new IOException($"cp: {what} '{Path}': {reason}");
            }
        }

        public void LocalIo(Action operation, string what) => LocalIo(() => { operation(); return 0; }, what);

        public async Task<(Stream Stream, long? Length)> OpenReadAsync(CancellationToken cancellationToken)
        {
            if (Mount is null)
            {
                var local = LocalIo(() => new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan), "cannot open");
                return (local, local.Length);
            }
            var remote = await Mount.OpenReadAsync(Path, cancellationToken);
            return (remote, remote.Length);
        }

        public async Task<Stream> OpenWriteAsync(CancellationToken cancellationToken) => Mount is null
            ? LocalIo(() => new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous), "cannot create")
            : await Mount.OpenWriteAsync(Path, FileMode.Create, cancellationToken: cancellationToken);

        public async Task CreateDirectoryAsync(CancellationToken cancellationToken)
        {
            if (Mount is null) { LocalIo(() => Directory.CreateDirectory(Path), "cannot create directory"); return; }
            try { await Mount.CreateDirectoryAsync(Path, cancellationToken: cancellationToken); }
            catch (Nfs3Exception e) when (e.Status == Nfs3Status.Exist) { }
        }

        public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
        {
            if (Mount is null) return Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName).OfType<string>().ToList();
            var names = new List<string>();
            await foreach (var entry in Mount.ListAsync(Path, cancellationToken))
                if (entry.Name is not ("." or "..")) names.Add(entry.Name);
            return names;
        }
    }

    private static Exception NotFound(Endpoint endpoint) => endpoint.Mount is null
        ? new FileNotFoundException($"cp: {endpoint}: no such file or directory")
        : new Nfs3Exception(Nfs3Procedure.Lookup, Nfs3Status.NoEnt, endpoint.ToString());

    /// <summary>
    /// Copies a tree as GNU <c>cp -R</c> does: symbolic links inside it are copied as links, never followed, so a
    /// link loop (<c>up -&gt; ..</c>) cannot make the copy recurse and a link to /etc cannot pull in /etc.
    /// </summary>
    private static async Task CopyTreeAsync(CpOptions options, Endpoint from, Endpoint to, CancellationToken cancellationToken)
    {
        await to.CreateDirectoryAsync(cancellationToken);
        foreach (string name in await from.ListAsync(cancellationToken))
        {
            var child = from.Child(name);
            if (await child.SymlinkTargetAsync(cancellationToken) is { } target)
                await to.Child(name).CreateSymlinkAsync(target, cancellationToken);
            else if (await child.IsDirectoryAsync(cancellationToken) == true)
                await CopyTreeAsync(options, child, to.Child(name), cancellationToken);
            else
                await CopyFileAsync(options, child, to.Child(name), cancellationToken);
        }
    }

    /// <summary>
    /// Copies one file with a large buffer. The byte count is checked against the source's length at open, so a
    /// copy cut short is an error, never a short file reported as success; the destination is flushed (COMMIT)
    /// before the copy counts as done.
    /// </summary>
    private static async Task CopyFileAsync(CpOptions options, Endpoint from, Endpoint to, CancellationToken cancellationToken)
    {
        var (input, length) = await from.OpenReadAsync(cancellationToken);
        await using (input)
        {
            await using var output = await to.OpenWriteAsync(cancellationToken);
            using var progress = ProgressBar.ForConsole(options.Console, length, from.Name);
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            long copied = 0;
            try
            {
                int n;
                while ((n = await input.ReadAsync(buffer.AsMemory(0, 1 << 20), cancellationToken)) > 0)
                {
                    await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    copied += n;
                    progress.Report(copied);
                }
                await output.FlushAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Say what is left behind: the caller must not mistake the destination for a copy.
                throw new IOException($"cp: {from} -> {to} failed after {copied}{(length is { } total ? $" of {total}" : "")} bytes " +
                    $"({to} is incomplete): {e.Message}", e);
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            if (length is { } expected && copied < expected)
                throw new IOException($"cp: {from} ended after {copied} of {expected} bytes; {to} is incomplete");
        }
    }
}
