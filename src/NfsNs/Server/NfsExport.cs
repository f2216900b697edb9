using System.Buffers.Binary;
using System.Net;
using NfsNs.Server.FileSystem;

namespace NfsNs.Server;

/// <summary>The policy of one export, as exports(5) spells it: ro/rw, the client networks, squashing, anonuid/anongid.</summary>
public sealed record NfsExportOptions
{
    public static NfsExportOptions Default { get; } = new();

    /// <summary>Every mutation fails with NFS3ERR_ROFS (exports(5) "ro").</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Client networks allowed to mount and use the export; empty allows every client.</summary>
    public IReadOnlyList<IPNetwork> AllowedClients { get; init; } = [];

    /// <summary>exports(5) root_squash by default, as Linux nfsd and ganesha do.</summary>
    public SquashMode Squash { get; init; } = SquashMode.Root;

    public uint AnonymousUid { get; init; } = 65534;
    public uint AnonymousGid { get; init; } = 65534;
}

/// <summary>
/// One exported file system: the path clients MNT (e.g. "/export"), the backend, and its policy. <see cref="FileSystem"/>
/// is the backend wrapped in the policy (squashing, then read-only), which is what the protocol handlers call.
/// </summary>
public sealed class NfsExport
{
    public NfsExport(string path, IFileSystem backend, NfsExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        Path = NormalizePath(path);
        Backend = backend;
        Options = options ?? NfsExportOptions.Default;
        IFileSystem effective = Options.Squash == SquashMode.None
            ? backend
            : new SquashingFileSystem(backend, Options.Squash, Options.AnonymousUid, Options.AnonymousGid);
        FileSystem = Options.ReadOnly ? new ReadOnlyFileSystem(effective) : effective;
        ExportId = ExportIdOf(backend.RootHandle)
            ?? throw new ArgumentException($"the root handle of export {Path} was not made by a HandleCodec", nameof(backend));
    }

    /// <summary>The mount path, normalised: leading '/', no trailing '/', no empty components.</summary>
    public string Path { get; }
    public IFileSystem Backend { get; }
    public IFileSystem FileSystem { get; }
    public NfsExportOptions Options { get; }

    /// <summary>The export id inside every handle of this export (see <see cref="HandleCodec"/>).</summary>
    public uint ExportId { get; }

    public bool Allows(IPAddress client)
    {
        if (Options.AllowedClients.Count == 0) return true;
        IPAddress address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        foreach (var network in Options.AllowedClients)
        {
            if (network.Contains(address)) return true;
        }
        return false;
    }

    /// <summary>"/", "/export", "/a/b": collapses repeated and trailing slashes so "/export/" mounts "/export".</summary>
    public static string NormalizePath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is "." or ".."))
            throw new ArgumentException($"an export path has no \".\" or \"..\" components: {path}", nameof(path));
        return "/" + string.Join('/', parts);
    }

    /// <summary>
    /// The export id a handle claims (bytes 1..4 of the <see cref="HandleCodec"/> layout), or null when it cannot be a
    /// handle of ours. Unauthenticated: only used to pick the export whose codec then checks the MAC.
    /// </summary>
    public static uint? ExportIdOf(FileHandle handle) => ExportIdOf(handle.Span);

    public static uint? ExportIdOf(ReadOnlySpan<byte> handle) =>
        handle.Length >= HandleCodec.MacLength + 6 ? BinaryPrimitives.ReadUInt32BigEndian(handle[1..]) : null;

    public override string ToString() => $"{Path} (export {ExportId}{(Options.ReadOnly ? ", ro" : "")})";
}
