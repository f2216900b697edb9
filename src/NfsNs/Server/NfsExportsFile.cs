using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using NfsNs.Server.FileSystem;

namespace NfsNs.Server;

/// <summary>One line of an exports file: the path clients mount, the directory served (null: in memory), the policy.</summary>
public sealed record NfsExportsFileEntry(string Path, string? Directory, NfsExportOptions Options, int Line)
{
    public bool IsMemory => Directory is null;

    /// <summary>The export id for this entry's handles: <see cref="NfsExportsFile.ExportIdFor"/> of its path.</summary>
    public uint ExportId => NfsExportsFile.ExportIdFor(Path);

    /// <summary>
    /// The export this entry describes, with a new backend (the caller disposes <see cref="NfsExport.Backend"/>): a
    /// <see cref="MemoryFileSystem"/>, or a <see cref="LocalFileSystem"/> whose handles are keyed by
    /// <paramref name="handleSecret"/> (persist it so handles survive restarts; null makes them last one run).
    /// </summary>
    public NfsExport CreateExport(byte[]? handleSecret = null)
    {
        var codec = handleSecret is null ? HandleCodec.CreateEphemeral(ExportId) : new HandleCodec(ExportId, handleSecret);
        // A memory export is scratch space: root 01777 (like /tmp), writable whatever the client's uid and squash mode.
        IFileSystem backend = Directory is null ? new MemoryFileSystem(codec, rootMode: 0x3FF) : new LocalFileSystem(Directory, codec);
        return new NfsExport(Path, backend, Options);
    }
}

/// <summary>A malformed exports file; <see cref="Exception.Message"/> reads "FILE:LINE: problem".</summary>
public sealed class NfsExportsFileException : FormatException
{
    public NfsExportsFileException(string fileName, int? line, string problem)
        : base(line is { } n ? $"{fileName}:{n.ToString(CultureInfo.InvariantCulture)}: {problem}" : $"{fileName}: {problem}")
    {
        FileName = fileName;
        Line = line;
        Problem = problem;
    }

    public string FileName { get; }
    /// <summary>1-based; null for problems of the whole file (too large, no exports).</summary>
    public int? Line { get; }
    public string Problem { get; }
}

/// <summary>
/// The exports file of <c>nfsns serve --exports FILE</c>: one export per line, three whitespace-separated fields,
/// in the spirit of exports(5) but strict — every option is spelled out and anything unknown is an error.
/// <code>
/// # PATH   DIRECTORY|memory  OPTIONS
/// /export  /srv/data         rw,allow=127.0.0.0/8,squash=root,anonuid=65534,anongid=65534
/// /media   memory            ro
/// </code>
/// OPTIONS is a comma list: exactly one of <c>ro</c>/<c>rw</c> (exports(5) defaults to ro, our library to rw, so
/// neither is assumed), <c>allow=CIDR|ADDRESS</c> (repeatable; none allows every client),
/// <c>squash=root|all|none</c> (default root), <c>anonuid=N</c>, <c>anongid=N</c> (default 65534).
/// '#' starts a comment; blank lines are ignored. DIRECTORY is absolute and must exist, or the word <c>memory</c>.
/// </summary>
public static class NfsExportsFile
{
    public const string MemoryBackend = "memory";

    /// <summary>An exports file is a handful of lines; anything this large is not one.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    private const string OptionsHelp = "ro, rw, allow=CIDR, squash=root|all|none, anonuid=N, anongid=N";

    /// <summary>Reads and parses <paramref name="path"/>; the message of every error names the file and line.</summary>
    public static IReadOnlyList<NfsExportsFileEntry> Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new NfsExportsFileException(path, null, "no such file");
            if (info.Length > MaxFileBytes) throw new NfsExportsFileException(path, null, $"larger than {MaxFileBytes} bytes; not an exports file");
            text = File.ReadAllText(path, new UTF8Encoding(false, throwOnInvalidBytes: true));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new NfsExportsFileException(path, null, $"cannot be read: {e.Message}");
        }
        return Parse(text, path);
    }

    /// <summary>
    /// Parses the text of an exports file; <paramref name="fileName"/> is only used in messages.
    /// <paramref name="directoryExists"/> defaults to <see cref="System.IO.Directory.Exists"/>.
    /// </summary>
    public static IReadOnlyList<NfsExportsFileEntry> Parse(string text, string fileName, Func<string, bool>? directoryExists = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        if (text.Length > MaxFileBytes) throw new NfsExportsFileException(fileName, null, $"larger than {MaxFileBytes} characters; not an exports file");
        directoryExists ??= System.IO.Directory.Exists;

        var entries = new List<NfsExportsFileEntry>();
        var lineOfPath = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineOfId = new Dictionary<uint, int>();
        string[] lines = text.Split('\n');
        for (int index = 0; index < lines.Length; index++)
        {
            int lineNumber = index + 1;
            NfsExportsFileException Error(string problem) => new(fileName, lineNumber, problem);

            string line = lines[index].TrimEnd('\r');
            int comment = line.IndexOf('#', StringComparison.Ordinal);
            if (comment >= 0) line = line[..comment];
            string[] fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue;
            if (fields.Length != 3)
                throw Error($"expected 3 fields (PATH DIRECTORY|memory OPTIONS), found {fields.Length}");

            string path = ParsePath(fields[0], Error);
            if (lineOfPath.TryGetValue(path, out int earlier))
                throw Error($"export path {path} is already exported on line {earlier}");
            uint exportId = ExportIdFor(path);
            if (lineOfId.TryGetValue(exportId, out int clash))
                throw Error($"export path {path} hashes to the same export id as line {clash}; rename one of them");
            string? directory = ParseDirectory(fields[1], directoryExists, Error);
            var options = ParseOptions(fields[2], Error);

            lineOfPath.Add(path, lineNumber);
            lineOfId.Add(exportId, lineNumber);
            entries.Add(new NfsExportsFileEntry(path, directory, options, lineNumber));
        }
        if (entries.Count == 0) throw new NfsExportsFileException(fileName, null, "exports nothing (every line is blank or a comment)");
        return entries;
    }

    /// <summary>
    /// The export id of <paramref name="path"/> (normalised): the first four bytes of its SHA-256, never 0. Derived from
    /// the path rather than the line number so that reordering or adding lines leaves every handle valid.
    /// </summary>
    public static uint ExportIdFor(string path)
    {
        string normalized = NfsExport.NormalizePath(path);
        uint id = BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(normalized)));
        return id == 0 ? 1 : id;
    }

    private static string ParsePath(string field, Func<string, NfsExportsFileException> error)
    {
        if (!field.StartsWith('/')) throw error($"export path '{field}' does not start with '/'");
        try
        {
            return NfsExport.NormalizePath(field);
        }
        catch (ArgumentException)
        {
            throw error($"export path '{field}' has a '.' or '..' component");
        }
    }

    private static string? ParseDirectory(string field, Func<string, bool> directoryExists, Func<string, NfsExportsFileException> error)
    {
        if (field == MemoryBackend) return null;
        if (!field.StartsWith('/')) throw error($"directory '{field}' is not an absolute path (or the word '{MemoryBackend}')");
        string full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(field));
        if (!directoryExists(full)) throw error($"directory {full} does not exist");
        return full;
    }

    private static NfsExportOptions ParseOptions(string field, Func<string, NfsExportsFileException> error)
    {
        bool? readOnly = null;
        SquashMode? squash = null;
        uint? anonymousUid = null, anonymousGid = null;
        var allowed = new List<IPNetwork>();

        void Once<T>(T? current, string name) where T : struct
        {
            if (current.HasValue) throw error($"option {name} is given twice");
        }

        foreach (string option in field.Split(','))
        {
            int equals = option.IndexOf('=', StringComparison.Ordinal);
            string name = equals < 0 ? option : option[..equals];
            string? value = equals < 0 ? null : option[(equals + 1)..];
            string Value() => string.IsNullOrEmpty(value) ? throw error($"option {name} needs a value ({name}=…)") : value;
            void NoValue()
            {
                if (value is not null) throw error($"option {name} takes no value");
            }

            switch (name)
            {
                case "":
                    throw error($"empty option in '{field}'");
                case "ro" or "rw":
                    NoValue();
                    if (readOnly.HasValue) throw error(readOnly == (name == "ro") ? $"option {name} is given twice" : "options ro and rw are both given");
                    readOnly = name == "ro";
                    break;
                case "allow":
                    allowed.Add(ParseNetwork(Value(), error));
                    break;
                case "squash":
                    Once(squash, name);
                    squash = Value() switch
                    {
                        "root" => SquashMode.Root,
                        "all" => SquashMode.All,
                        "none" => SquashMode.None,
                        var other => throw error($"squash={other}: expected root, all or none"),
                    };
                    break;
                case "anonuid":
                    Once(anonymousUid, name);
                    anonymousUid = ParseId(name, Value(), error);
                    break;
                case "anongid":
                    Once(anonymousGid, name);
                    anonymousGid = ParseId(name, Value(), error);
                    break;
                default:
                    throw error($"unknown option '{name}' (known: {OptionsHelp})");
            }
        }
        if (readOnly is null) throw error("options say neither ro nor rw; give one");

        var defaults = NfsExportOptions.Default;
        return new NfsExportOptions
        {
            ReadOnly = readOnly.Value,
            AllowedClients = allowed,
            Squash = squash ?? defaults.Squash,
            AnonymousUid = anonymousUid ?? defaults.AnonymousUid,
            AnonymousGid = anonymousGid ?? defaults.AnonymousGid,
        };
    }

    private static IPNetwork ParseNetwork(string text, Func<string, NfsExportsFileException> error)
    {
        if (text.Contains('/', StringComparison.Ordinal))
        {
            // Host bits set (10.0.0.1/8) most likely mean a typo, so they are refused rather than masked away.
            bool valid = IPNetwork.TryParse(text, out var network)
                && IPAddress.TryParse(text[..text.IndexOf('/', StringComparison.Ordinal)], out var written)
                && network.BaseAddress.Equals(written);
            return valid ? network
                : throw error($"allow={text}: not a network in CIDR form (address/prefix with no host bits set, e.g. 10.0.0.0/8)");
        }
        return IPAddress.TryParse(text, out var address) ? new IPNetwork(address, address.GetAddressBytes().Length * 8)
            : throw error($"allow={text}: not an IP address or a CIDR network");
    }

    private static uint ParseId(string name, string text, Func<string, NfsExportsFileException> error) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) ? id
            : throw error($"{name}={text}: not a number from 0 to {uint.MaxValue}");
}
