using System.Net;
using System.Security.Cryptography;
using System.Text;
using NfsNs.Namespaces;
using NfsNs.Server;
using NfsNs.Server.FileSystem;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns serve</c>.</summary>
public sealed record ServeOptions : CommandOptions
{
    /// <summary>The directory to serve; null with <see cref="Memory"/>.</summary>
    public string? Directory { get; init; }
    public string ExportPath { get; init; } = "/export";
    public IPAddress Address { get; init; } = IPAddress.Loopback;
    public int Port { get; init; } = 2049;
    public int MountPort { get; init; } = NfsServerOptions.DefaultMountPort;
    public bool ReadOnly { get; init; }
    public SquashMode Squash { get; init; } = SquashMode.Root;
    public uint AnonymousUid { get; init; } = 65534;
    public uint AnonymousGid { get; init; } = 65534;
    public IReadOnlyList<IPNetwork> Allow { get; init; } = [];
    public bool Memory { get; init; }

    /// <summary>An exports file (<see cref="NfsExportsFile"/>) that replaces DIR/--memory and the per-export options.</summary>
    public string? ExportsFile { get; init; }

    public RpcbindMode Rpcbind { get; init; } = RpcbindMode.Embedded;

    /// <summary>Serve NLM and NSM (byte-range locks); <c>--no-locking</c> turns them off.</summary>
    public bool Locking { get; init; } = true;

    /// <summary><c>--state-dir</c>: where the NSM state and monitored clients live; null: the per-namespace default.</summary>
    public string? StateDirectory { get; init; }

    /// <summary><c>--grace SECONDS</c>: the grace period after a restart.</summary>
    public TimeSpan GracePeriod { get; init; } = NfsServerOptions.DefaultGracePeriod;
}

/// <summary>
/// Serves a directory (or an empty in-memory file system) over NFSv3 with MOUNT and an embedded portmapper, in
/// the namespace of <c>--netns</c>, until SIGINT/SIGTERM; logs mounts, unmounts and errors to stderr and prints
/// the per-client table at exit.
/// </summary>
public static class ServeCommand
{
    private const uint ExportId = 1;

    public static async Task RunAsync(ServeOptions options, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("nfsns serve runs on Linux only");
        var error = options.Console.Error;
        void Log(string line)
        {
            lock (error) error.WriteLine($"nfsns serve: {WithoutControlCharacters(line)}");
        }

        IReadOnlyList<NfsExport> exports = options.ExportsFile is { } file
            ? ExportsFromFile(file, options.Global.Verbose ? Log : null)
            : [SingleExport(options, options.Global.Verbose ? Log : null)];
        try
        {
            using var ns = options.Global.Netns is { } spec ? NetworkNamespace.Open(spec) : null;
            var server = await NfsServer.StartAsync(new NfsServerOptions
            {
                Namespace = ns,
                Exports = exports,
                Rpcbind = options.Rpcbind,
                Address = options.Address,
                NfsPort = options.Port,
                MountPort = options.MountPort,
                EnableLocking = options.Locking,
                StateDirectory = options.StateDirectory is { } stateDirectory ? Path.GetFullPath(stateDirectory) : null,
                GracePeriod = options.GracePeriod,
                Log = Log,
            }, cancellationToken).ConfigureAwait(false);
            await using (server.ConfigureAwait(false))
            {
                // SIGUSR1 (10 on Linux; PosixSignal takes raw numbers) prints the per-client table, as a daemon's
                // status dump; the server keeps running.
                using var dump = System.Runtime.InteropServices.PosixSignalRegistration.Create((System.Runtime.InteropServices.PosixSignal)10, context =>
                {
                    context.Cancel = true;
                    lock (options.Console.Out) PrintClients(server, options.Console.Out);
                });
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Log("stopping");
                }
                PrintClients(server, options.Console.Out);
            }
        }
        finally
        {
            DisposeBackends(exports);
        }
    }

    /// <summary>01777: drwxrwxrwt.</summary>
    internal const uint MemoryExportRootMode = 0x3FF;

    /// <summary>DIR or --memory with the per-export options, as export id 1.</summary>
    private static NfsExport SingleExport(ServeOptions options, Action<string>? verboseLog)
    {
        IFileSystem backend;
        if (options.Memory)
        {
            // A scratch file system: its root is world-writable with the sticky bit (like /tmp), so clients can
            // use it whatever their uid and whatever the squash mode.
            backend = new MemoryFileSystem(HandleCodec.CreateEphemeral(ExportId), rootMode: MemoryExportRootMode);
        }
        else
        {
            if (options.Directory is null) throw new UsageException("serve needs a DIR to export, --memory, or --exports FILE");
            string directory = Path.GetFullPath(options.Directory);
            if (!System.IO.Directory.Exists(directory)) throw new UsageException($"{directory} is not a directory");
            backend = new LocalFileSystem(directory, new HandleCodec(ExportId, LoadSecret(directory, verboseLog)));
        }
        return new NfsExport(options.ExportPath, backend, new NfsExportOptions
        {
            ReadOnly = options.ReadOnly,
            Squash = options.Squash,
            AnonymousUid = options.AnonymousUid,
            AnonymousGid = options.AnonymousGid,
            AllowedClients = options.Allow,
        });
    }

    /// <summary>Every export of the file; each directory keeps its own persisted handle secret.</summary>
    private static IReadOnlyList<NfsExport> ExportsFromFile(string file, Action<string>? verboseLog)
    {
        IReadOnlyList<NfsExportsFileEntry> entries;
        try
        {
            entries = NfsExportsFile.Load(file);
        }
        catch (NfsExportsFileException e)
        {
            throw new UsageException(e.Message);
        }
        var exports = new List<NfsExport>();
        try
        {
            foreach (var entry in entries)
                exports.Add(entry.CreateExport(entry.Directory is { } directory ? LoadSecret(directory, verboseLog) : null));
        }
        catch
        {
            DisposeBackends(exports);
            throw;
        }
        return exports;
    }

    private static byte[] LoadSecret(string directory, Action<string>? verboseLog)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("nfsns serve runs on Linux only");
        string stateDirectory = StateDirectoryFor(directory);
        verboseLog?.Invoke($"handle secret of {directory} in {stateDirectory}");
        return HandleCodec.LoadOrCreateSecret(Path.Combine(stateDirectory, "handle-secret"));
    }

    private static void DisposeBackends(IEnumerable<NfsExport> exports)
    {
        foreach (var export in exports) (export.Backend as IDisposable)?.Dispose();
    }

    /// <summary>The per-client table: RPC counters and the byte-range locks each client address holds now.</summary>
    private static void PrintClients(NfsServer server, TextWriter output)
    {
        var locks = server.Locks.GroupBy(l => l.Owner.Host.Address).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"{"CLIENT",-40} {"CALLS",10} {"ERRORS",8} {"DUPLICATES",10} {"RECEIVED",14} {"SENT",14} {"LOCKS",7}");
        foreach (var client in server.Clients.OrderBy(c => c.Address.ToString(), StringComparer.Ordinal))
        {
            var s = client.Stats;
            output.WriteLine($"{client.Address,-40} {s.Calls,10} {s.Errors,8} {s.Duplicates,10} {s.BytesReceived,14} {s.BytesSent,14} " +
                $"{locks.GetValueOrDefault(client.Address),7}");
        }
        output.Flush();
    }

    /// <summary>
    /// Where the handle secret of <paramref name="directory"/> lives, so handles survive restarts:
    /// $XDG_STATE_HOME/nfsns/HASH, else /var/lib/nfsns/HASH for root and ~/.local/state/nfsns/HASH for others;
    /// HASH is the first 16 hex digits of SHA-256 of the full path. Created with mode 0700.
    /// </summary>
    public static string StateDirectoryFor(string directory)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("nfsns serve runs on Linux only");
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(directory)))[..16];
        string? xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        string root = !string.IsNullOrEmpty(xdg) ? Path.Combine(xdg, "nfsns")
            : Environment.UserName == "root" ? "/var/lib/nfsns"
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "nfsns");
        string state = Path.Combine(root, hash);
        System.IO.Directory.CreateDirectory(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return state;
    }

    /// <summary>
    /// Log lines carry what clients chose — caller_name, mon_name, file names — and go to the operator's terminal:
    /// control characters there are shown as <c>\xNN</c>, so no client can rewrite the screen or forge a line.
    /// </summary>
    internal static string WithoutControlCharacters(string line)
    {
        if (!line.Any(char.IsControl)) return line;
        var text = new System.Text.StringBuilder(line.Length + 16);
        foreach (char c in line)
        {
            if (char.IsControl(c)) text.Append($"\\x{(int)c:x2}");
            else text.Append(c);
        }
        return text.ToString();
    }
}
