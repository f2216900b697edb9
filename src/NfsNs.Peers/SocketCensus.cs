using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

namespace NfsNs.Peers;

/// <summary>How <see cref="SocketCensus"/> finds out which network namespace a socket lives in.</summary>
public enum SocketCensusMethod
{
    /// <summary><see cref="DuplicateSockets"/> where the kernel allows it, else <see cref="ScanNamespaceTables"/>.</summary>
    Automatic,

    /// <summary>
    /// Exact and race-free: each socket is duplicated into this process with pidfd_getfd(2) (Linux 5.6) and asked
    /// for its own namespace with <c>ioctl(SIOCGSKNS)</c> and for its addresses with getsockname/getpeername.
    /// Needs ptrace rights over the process (root) and CAP_NET_ADMIN over the socket's namespace.
    /// </summary>
    DuplicateSockets,

    /// <summary>
    /// Fallback: reads <c>/proc/net/{tcp,tcp6,udp,udp6}</c> as seen from inside every namespace that has a name under
    /// /run/netns, a process in it, or an nsfs fd held by the process, and matches rows to the process's socket inodes.
    /// It cannot see sockets the kernel does not list yet (created but neither bound nor connected), nor sockets of a
    /// namespace that none of those name: such sockets are missing from the census.
    /// </summary>
    ScanNamespaceTables,
}

/// <summary>
/// One TCP or UDP socket of a process. <paramref name="NamespaceInode"/> is the inode of the network namespace the
/// socket was created in (the N of <c>net:[N]</c>; compare with <c>NetworkNamespace.Id.Inode</c>).
/// <paramref name="Protocol"/> is <c>tcp</c>, <c>udp</c>, <c>tcp6</c> or <c>udp6</c> (the 6 for AF_INET6 sockets,
/// as in /proc/net). <paramref name="Remote"/> is null when the socket is not connected. <paramref name="Listening"/>
/// is a TCP socket in LISTEN, or a bound, unconnected UDP socket (which receives from anyone).
/// </summary>
public sealed record SocketInfo(long Inode, ulong NamespaceInode, string Protocol, IPEndPoint Local, IPEndPoint? Remote, bool Listening)
{
    public bool IsTcp => Protocol.StartsWith("tcp", StringComparison.Ordinal);

    /// <summary>True when the local or the remote port is <paramref name="port"/>.</summary>
    public bool UsesPort(int port) => Local.Port == port || Remote?.Port == port;

    public override string ToString() =>
        $"{Protocol} {Local} {(Remote is not null ? $"-> {Remote}" : Listening ? "listening" : "unconnected")} socket:[{Inode}] in net:[{NamespaceInode}]";
}

/// <summary>
/// Lists the TCP and UDP sockets (listening and connected) that a process holds, each with the network namespace it
/// lives in, so tests can check — rather than assume — that every socket of a mount is in the mount's namespace.
/// </summary>
public static class SocketCensus
{
    /// <summary>
    /// The TCP and UDP sockets among <paramref name="pid"/>'s open file descriptors at the time of the call, once each
    /// (dup'ed descriptors of one socket count once), in descriptor order. Sockets opened or closed meanwhile by
    /// other threads may or may not be included; every socket included is described as the kernel saw it.
    /// </summary>
    /// <exception cref="PeerException">The process does not exist, or its descriptors cannot be read.</exception>
    public static IReadOnlyList<SocketInfo> OfProcess(int pid, SocketCensusMethod method = SocketCensusMethod.Automatic)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        var descriptors = ReadDescriptors(pid);
        switch (method)
        {
            case SocketCensusMethod.DuplicateSockets:
                return DuplicateSockets(pid, descriptors.Sockets, out string? reason)
                       ?? throw new PeerException($"cannot take a census of process {pid}'s sockets by duplicating them: {reason}");
            case SocketCensusMethod.ScanNamespaceTables:
                return ScanNamespaceTables(pid, descriptors);
            case SocketCensusMethod.Automatic:
                return DuplicateSockets(pid, descriptors.Sockets, out _) ?? ScanNamespaceTables(pid, descriptors);
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method, "unknown census method");
        }
    }

    /// <summary>The inode of <paramref name="pid"/>'s network namespace (the one its new sockets are born in).</summary>
    public static ulong NamespaceInodeOf(int pid)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        string link = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net";
        string target = ReadLink(link) ?? throw new PeerException($"process {pid} does not exist (no {link})");
        return (ulong)(ParseLinkInode(target, "net") ?? throw new PeerException($"{link} points to '{target}', not net:[N]"));
    }

    private readonly record struct Descriptor(int Fd, long Inode);

    /// <summary>The process's socket descriptors (one per socket inode) and the namespace inodes of its nsfs descriptors.</summary>
    private sealed record Descriptors(IReadOnlyList<Descriptor> Sockets, IReadOnlyDictionary<long, string> NamespaceFiles);

    private static Descriptors ReadDescriptors(int pid)
    {
        string directory = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/fd";
        IEnumerable<string> entries;
        try
        {
            entries = Directory.GetFileSystemEntries(directory);
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            throw new PeerException($"process {pid} does not exist (no {directory})", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new PeerException($"cannot list process {pid}'s file descriptors ({directory}): {e.Message}", e);
        }

        var sockets = new List<Descriptor>();
        var seen = new HashSet<long>();
        var namespaceFiles = new Dictionary<long, string>();
        foreach (string entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int fd)) continue;
            string? target = ReadLink(entry); // null: closed since the listing
            if (target is null) continue;
            if (ParseLinkInode(target, "socket") is { } socket)
            {
                if (seen.Add(socket)) sockets.Add(new Descriptor(fd, socket));
            }
            else if (ParseLinkInode(target, "net") is { } ns)
            {
                namespaceFiles.TryAdd(ns, entry);
            }
            else if (target.StartsWith(NamedNamespaces + "/", StringComparison.Ordinal) && NamespaceInodeOfFile(entry) is { } named)
            {
                // Opened by name (ip netns): the link shows the path, perhaps " (deleted)", not net:[N].
                namespaceFiles.TryAdd(named, entry);
            }
        }
        sockets.Sort((x, y) => x.Fd.CompareTo(y.Fd));
        return new Descriptors(sockets, namespaceFiles);
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The N of an anonymous inode's link target <c>KIND:[N]</c> (proc(5), /proc/PID/fd), or null for another kind.</summary>
    private static long? ParseLinkInode(string target, string kind)
    {
        if (!target.StartsWith(kind, StringComparison.Ordinal) || !target.AsSpan(kind.Length).StartsWith(":[") || !target.EndsWith(']'))
            return null;
        var digits = target.AsSpan(kind.Length + 2, target.Length - kind.Length - 3);
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long inode) ? inode : null;
    }

    // --- DuplicateSockets -------------------------------------------------------------------------------------------

    /// <summary>The exact census, or null with the <paramref name="unavailable"/> reason when this kernel or these rights do not allow it.</summary>
    private static List<SocketInfo>? DuplicateSockets(int pid, IReadOnlyList<Descriptor> descriptors, out string? unavailable)
    {
        unavailable = null;
        int pidfd;
        try
        {
            pidfd = LibC.pidfd_open(pid, 0);
        }
        catch (EntryPointNotFoundException)
        {
            unavailable = "the C library has no pidfd_open (glibc 2.36 or later is needed)";
            return null;
        }
        if (pidfd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.ESRCH) throw new PeerException($"process {pid} does not exist");
            unavailable = $"pidfd_open({pid}) failed: {LibC.Describe(errno)}";
            return null;
        }
        try
        {
            var census = new List<SocketInfo>();
            var seen = new HashSet<long>();
            foreach (var descriptor in descriptors)
            {
                int copy = LibC.pidfd_getfd(pidfd, descriptor.Fd, 0);
                if (copy < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EBADF) continue; // closed since the listing
                    if (errno == LibC.ESRCH) throw new PeerException($"process {pid} exited during the census");
                    unavailable = $"pidfd_getfd(process {pid}, fd {descriptor.Fd}) failed: {LibC.Describe(errno)}";
                    return null;
                }
                try
                {
                    if (!TryDescribe(copy, out var socket, out unavailable)) return null;
                    // The fd number may have been reused by another socket since the listing: the copy's own inode counts.
                    if (socket is not null && seen.Add(socket.Inode)) census.Add(socket);
                }
                finally
                {
                    LibC.close(copy);
                }
            }
            return census;
        }
        finally
        {
            LibC.close(pidfd);
        }
    }

    /// <summary>
    /// Describes a socket held by this process: <paramref name="socket"/> is null for descriptors that are not TCP or
    /// UDP sockets. False (with the reason) when the kernel refuses to name the socket's namespace.
    /// </summary>
    private static unsafe bool TryDescribe(int fd, out SocketInfo? socket, out string? failure)
    {
        socket = null;
        failure = null;
        string? target = ReadLink($"/proc/self/fd/{fd.ToString(CultureInfo.InvariantCulture)}");
        if (target is null || ParseLinkInode(target, "socket") is not { } inode) return true;
        int domain = IntOption(fd, LibC.SO_DOMAIN);
        if (domain is not (LibC.AF_INET or LibC.AF_INET6)) return true;
        string? protocol = IntOption(fd, LibC.SO_PROTOCOL) switch
        {
            LibC.IPPROTO_TCP => "tcp",
            LibC.IPPROTO_UDP => "udp",
            _ => null,
        };
        if (protocol is null) return true;
        if (domain == LibC.AF_INET6) protocol += "6";

        int nsfd = LibC.ioctl(fd, LibC.SIOCGSKNS);
        if (nsfd < 0)
        {
            failure = $"ioctl(SIOCGSKNS) on socket:[{inode}] failed: {LibC.Describe(Marshal.GetLastPInvokeError())}";
            return false;
        }
        ulong namespaceInode;
        try
        {
            string? nsTarget = ReadLink($"/proc/self/fd/{nsfd.ToString(CultureInfo.InvariantCulture)}");
            if (nsTarget is null || ParseLinkInode(nsTarget, "net") is not { } ns)
            {
                failure = $"SIOCGSKNS on socket:[{inode}] returned '{nsTarget}', not a network namespace";
                return false;
            }
            namespaceInode = (ulong)ns;
        }
        finally
        {
            LibC.close(nsfd);
        }

        var local = SocketAddress(fd, peer: false)!;
        var remote = SocketAddress(fd, peer: true);
        bool listening = protocol.StartsWith("tcp", StringComparison.Ordinal)
            ? IntOption(fd, LibC.SO_ACCEPTCONN) == 1
            : IsReceivingFromAnyone(local, remote);
        socket = new SocketInfo(inode, namespaceInode, protocol, local, remote, listening);
        return true;
    }

    private static unsafe int IntOption(int fd, int option)
    {
        int value = 0, length = sizeof(int);
        if (LibC.getsockopt(fd, LibC.SOL_SOCKET, option, &value, &length) != 0)
            throw new PeerException($"getsockopt(SOL_SOCKET, {option}) on a duplicated socket failed: {LibC.Describe(Marshal.GetLastPInvokeError())}");
        return value;
    }

    /// <summary>getsockname or getpeername as an endpoint; null when the socket has no peer (ENOTCONN).</summary>
    private static unsafe IPEndPoint? SocketAddress(int fd, bool peer)
    {
        const int StorageSize = 128; // sizeof(struct sockaddr_storage)
        byte* buffer = stackalloc byte[StorageSize];
        int length = StorageSize;
        int result = peer ? LibC.getpeername(fd, buffer, &length) : LibC.getsockname(fd, buffer, &length);
        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (peer && errno == LibC.ENOTCONN) return null;
            throw new PeerException($"{(peer ? "getpeername" : "getsockname")} on a duplicated socket failed: {LibC.Describe(errno)}");
        }
        var address = new ReadOnlySpan<byte>(buffer, Math.Min(length, StorageSize));
        // struct sockaddr_in / sockaddr_in6 (ip(7), ipv6(7)): sa_family in host order, then the port in network order.
        int family = MemoryMarshal.Read<ushort>(address);
        int port = BinaryPrimitives.ReadUInt16BigEndian(address[2..]);
        return family switch
        {
            LibC.AF_INET when address.Length >= 8 => new IPEndPoint(new IPAddress(address.Slice(4, 4)), port),
            LibC.AF_INET6 when address.Length >= 28 =>
                new IPEndPoint(new IPAddress(address.Slice(8, 16), MemoryMarshal.Read<uint>(address[24..])), port),
            _ => throw new PeerException($"socket address of family {family} ({length} bytes) is neither IPv4 nor IPv6"),
        };
    }

    private static bool IsReceivingFromAnyone(IPEndPoint local, IPEndPoint? remote) => remote is null && local.Port != 0;

    // --- ScanNamespaceTables ----------------------------------------------------------------------------------------

    private static readonly string[] Tables = ["tcp", "tcp6", "udp", "udp6"];
    /// <summary>Where <c>ip netns</c> bind-mounts named namespaces.</summary>
    private const string NamedNamespaces = "/run/netns";
    /// <summary>TCP_LISTEN in include/net/tcp_states.h, as /proc/net/tcp prints it.</summary>
    private const int TcpListenState = 0x0A;

    private static List<SocketInfo> ScanNamespaceTables(int pid, Descriptors descriptors)
    {
        var order = new Dictionary<long, int>();
        foreach (var descriptor in descriptors.Sockets) order[descriptor.Inode] = descriptor.Fd;
        var found = new Dictionary<long, SocketInfo>();
        foreach (var (namespaceInode, path) in CandidateNamespaces(pid, descriptors.NamespaceFiles))
        {
            IReadOnlyList<(string Protocol, string Text)> tables;
            try
            {
                tables = ReadTablesInside(path);
            }
            catch (PeerException)
            {
                continue; // the namespace went away (its last process exited, its name was deleted)
            }
            foreach (var (protocol, text) in tables)
            foreach (var row in ParseTable(protocol, text, (ulong)namespaceInode))
            {
                if (order.ContainsKey(row.Inode)) found.TryAdd(row.Inode, row);
            }
        }
        return [.. found.Values.OrderBy(socket => order[socket.Inode])];
    }

    /// <summary>Namespace inode → an nsfs path to it, for every namespace that is named, has a process, or is held by <paramref name="pid"/>.</summary>
    private static Dictionary<long, string> CandidateNamespaces(int pid, IReadOnlyDictionary<long, string> heldByProcess)
    {
        var candidates = new Dictionary<long, string>(heldByProcess);
        void Add(string path)
        {
            if (ReadLink(path) is { } target && ParseLinkInode(target, "net") is { } inode) candidates.TryAdd(inode, path);
        }
        Add($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net");
        // A named namespace's file is a bind mount of the nsfs inode itself, not a link: its inode is read by opening it.
        if (Directory.Exists(NamedNamespaces))
            foreach (string named in Directory.GetFiles(NamedNamespaces))
                if (NamespaceInodeOfFile(named) is { } inode) candidates.TryAdd(inode, named);
        foreach (string process in Directory.GetDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out _))
                Add(Path.Combine(process, "ns", "net"));
        return candidates;
    }

    /// <summary>The inode of a network namespace file opened by path; null when it cannot be opened or is no network namespace.</summary>
    private static unsafe long? NamespaceInodeOfFile(string path)
    {
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (fd < 0) return null;
        try
        {
            // A file left in /run/netns after its bind mount went is a plain file: NS_GET_NSTYPE tells them apart.
            if (LibC.ioctl(fd, LibC.NS_GET_NSTYPE) != LibC.CLONE_NEWNET) return null;
            byte* statx = stackalloc byte[LibC.StatxSize];
            if (LibC.statx(fd, "", LibC.AT_EMPTY_PATH, LibC.STATX_INO, statx) != 0) return null;
            return (long)*(ulong*)(statx + LibC.StatxInoOffset);
        }
        finally
        {
            LibC.close(fd);
        }
    }

    /// <summary>
    /// Reads /proc/net/{tcp,tcp6,udp,udp6} from a fresh thread that entered the namespace with setns(2); the thread
    /// exits afterwards, so no pool thread ever runs in a foreign namespace. /proc/thread-self/net shows the calling
    /// thread's namespace (/proc/self/net would show the main thread's).
    /// </summary>
    private static IReadOnlyList<(string Protocol, string Text)> ReadTablesInside(string namespacePath)
    {
        var tables = new List<(string, string)>();
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                int fd = LibC.open(namespacePath, LibC.O_RDONLY | LibC.O_CLOEXEC);
                if (fd < 0) throw new PeerException($"cannot open namespace {namespacePath}: {LibC.Describe(Marshal.GetLastPInvokeError())}");
                try
                {
                    if (LibC.setns(fd, LibC.CLONE_NEWNET) != 0)
                        throw new PeerException($"cannot enter namespace {namespacePath}: {LibC.Describe(Marshal.GetLastPInvokeError())}");
                }
                finally
                {
                    LibC.close(fd);
                }
                foreach (string table in Tables)
                {
                    string path = $"/proc/thread-self/net/{table}";
                    if (File.Exists(path)) tables.Add((table, File.ReadAllText(path))); // tcp6/udp6 are absent without IPv6
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "nfsns-census-setns" };
        thread.Start();
        thread.Join();
        return failure switch
        {
            null => tables,
            PeerException peer => throw peer,
            _ => throw new PeerException($"cannot read the socket tables of namespace {namespacePath}: {failure.Message}", failure),
        };
    }

    /// <summary>
    /// Rows of a /proc/net/{tcp,udp}[6] table (proc(5)): <c>sl local rem st queues timers retrnsmt uid timeout inode …</c>
    /// with addresses as hex words in host byte order and ports as hex numbers.
    /// </summary>
    private static IEnumerable<SocketInfo> ParseTable(string protocol, string text, ulong namespaceInode)
    {
        foreach (string line in text.Split('\n').Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 10) continue;
            if (!long.TryParse(fields[9], NumberStyles.None, CultureInfo.InvariantCulture, out long inode) || inode == 0) continue;
            var local = ParseEndPoint(fields[1], protocol);
            var remote = ParseEndPoint(fields[2], protocol);
            int state = int.Parse(fields[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var peer = remote.Port == 0 && remote.Address.Equals(protocol.EndsWith('6') ? IPAddress.IPv6Any : IPAddress.Any) ? null : remote;
            bool listening = protocol.StartsWith("tcp", StringComparison.Ordinal) ? state == TcpListenState : IsReceivingFromAnyone(local, peer);
            yield return new SocketInfo(inode, namespaceInode, protocol, local, peer, listening);
        }
    }

    private static IPEndPoint ParseEndPoint(string field, string protocol)
    {
        int colon = field.IndexOf(':');
        string hex = field[..colon];
        int port = int.Parse(field.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        int expected = protocol.EndsWith('6') ? 32 : 8;
        if (hex.Length != expected) throw new PeerException($"/proc/net/{protocol} address '{field}' is not {expected} hex digits");
        // The kernel prints each 32-bit word of the address with %08X on its native value: on little-endian machines
        // the bytes of each word come out reversed.
        var bytes = Convert.FromHexString(hex);
        if (BitConverter.IsLittleEndian)
            for (int word = 0; word < bytes.Length; word += 4) bytes.AsSpan(word, 4).Reverse();
        return new IPEndPoint(new IPAddress(bytes), port);
    }
}
