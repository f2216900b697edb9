using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace NfsNs.Namespaces;

/// <summary>The identity of a network namespace: device and inode of its nsfs file (the N of <c>net:[N]</c>).</summary>
public readonly record struct NamespaceId(ulong Device, ulong Inode)
{
    public override string ToString() => $"net:[{Inode}]";
}

/// <summary>
/// A network namespace held open as a value. While an instance is alive the kernel keeps the namespace alive, even
/// after its name under <c>/run/netns</c> is deleted or every process in it has exited, so that every socket a
/// transport ever opens (the first and each reconnect) is born in the same namespace.
/// </summary>
/// <remarks>
/// Sockets are created on a short-lived dedicated OS thread that enters the namespace with
/// <c>setns(fd, CLONE_NEWNET)</c>, calls <c>socket()</c> and exits; thread-pool threads never change namespace.
/// A socket keeps the namespace it was created in for life, so it can then be used from any thread
/// (network namespaces are a per-thread attribute for setns, and a per-socket attribute afterwards).
/// Entering a namespace needs CAP_SYS_ADMIN in the user namespace that owns it.
/// </remarks>
public sealed class NetworkNamespace : IDisposable
{
    private readonly SafeFileHandle _handle;

    /// <summary>How the caller named this namespace: a name, a path, <c>pid:N</c> or <c>current</c>.</summary>
    public string DisplayName { get; }

    /// <summary>The name under <c>/run/netns</c>, when it was opened by name.</summary>
    public string? Name { get; }

    public NamespaceId Id { get; }

    /// <summary>True for the namespace the process itself was in when it was captured: no setns is needed.</summary>
    public bool IsProcessNamespace { get; }

    private NetworkNamespace(SafeFileHandle handle, string displayName, string? name, NamespaceId id, bool isProcessNamespace)
    {
        _handle = handle;
        DisplayName = displayName;
        Name = name;
        Id = id;
        IsProcessNamespace = isProcessNamespace;
    }

    public const string NetnsDirectory = "/run/netns";

    /// <summary>
    /// Opens a namespace from what a user typed: <c>pid:N</c>, an absolute path to any nsfs file, or a name
    /// under <c>/run/netns</c> (as <c>ip netns</c> creates them). <c>current</c> is the calling thread's own.
    /// </summary>
    public static NetworkNamespace Open(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        if (spec == "current") return Current();
        if (spec.StartsWith("pid:", StringComparison.Ordinal))
        {
            if (!int.TryParse(spec.AsSpan(4), out int pid) || pid <= 0)
                throw new NamespaceException(spec, NamespaceFailure.DoesNotExist, $"network namespace '{spec}': '{spec[4..]}' is not a process id");
            return OpenPath($"/proc/{pid}/ns/net", spec, null);
        }
        if (spec.Contains('/'))
            return OpenPath(spec, spec, null);
        if (spec is "." or "..")
            throw new NamespaceException(spec, NamespaceFailure.DoesNotExist, $"network namespace '{spec}' is not a valid name");
        return OpenPath(Path.Combine(NetnsDirectory, spec), spec, spec);
    }

    public static NetworkNamespace OpenPid(int pid) => Open($"pid:{pid}");

    /// <summary>Captures the calling thread's current network namespace (<c>/proc/thread-self/ns/net</c>).</summary>
    public static NetworkNamespace Current()
    {
        return OpenPath("/proc/thread-self/ns/net", "current", null);
    }

    private static readonly Lazy<NamespaceId> s_processNamespace = new(() =>
    {
        using var own = OpenPath("/proc/self/ns/net", "self", null);
        return own.Id;
    });

    private static NetworkNamespace OpenPath(string path, string displayName, string? name)
    {
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                LibC.ENOENT or LibC.ENOTDIR => new NamespaceException(displayName, NamespaceFailure.DoesNotExist,
                    name is not null
                        ? $"network namespace '{displayName}' does not exist ({path} not found; see 'ip netns list')"
                        : $"network namespace '{displayName}' does not exist ({path} not found)"),
                LibC.EACCES or LibC.EPERM => new NamespaceException(displayName, NamespaceFailure.PermissionDenied,
                    $"network namespace '{displayName}': permission denied opening {path}"),
                _ => new NamespaceException(displayName, NamespaceFailure.Other,
                    $"network namespace '{displayName}': cannot open {path}: {LibC.Describe(errno)}"),
            };
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            int type = LibC.ioctl(fd, LibC.NS_GET_NSTYPE);
            if (type != LibC.CLONE_NEWNET)
                throw new NamespaceException(displayName, NamespaceFailure.NotANetworkNamespace,
                    $"'{displayName}' is not a network namespace ({path} is not an nsfs network namespace file)");
            if (LibC.statx(fd, "", LibC.AT_EMPTY_PATH, LibC.STATX_INO, out var st) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new NamespaceException(displayName, NamespaceFailure.Other,
                    $"network namespace '{displayName}': cannot stat {path}: {LibC.Describe(errno)}");
            }
            var id = new NamespaceId(((ulong)st.stx_dev_major << 32) | st.stx_dev_minor, st.stx_ino);
            bool isProcess = displayName != "self" && s_processNamespace.Value == id;
            return new NetworkNamespace(handle, displayName, name, id, isProcess);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The namespace's name if it has one, else how it was named, with its inode: for messages and tables.</summary>
    public override string ToString() => Name is not null ? $"{Name} ({Id})" : $"{DisplayName} ({Id})";

    /// <summary>Creates a socket that lives in this namespace.</summary>
    public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        if (IsProcessNamespace && IsCallerInProcessNamespace())
            return new Socket(family, type, protocol);
        return RunInside(() =>
        {
            int fd = LibC.socket(LibC.ToLinuxAddressFamily(family), (int)type | LibC.SOCK_CLOEXEC, (int)protocol);
            if (fd < 0)
                throw new SocketException(Marshal.GetLastPInvokeError());
            return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        });
    }

    /// <summary>Resolves a host name from inside the namespace (its DNS servers are reached through its own network).</summary>
    public IPAddress[] ResolveHost(string host)
    {
        if (IPAddress.TryParse(host, out var literal)) return [literal];
        return RunInside(() => Dns.GetHostAddresses(host));
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a fresh OS thread that has entered this namespace, and waits for it. The
    /// thread exits afterwards, so no thread ever returns to a pool in the wrong namespace.
    /// </summary>
    public T RunInside<T>(Func<T> action)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        T? result = default;
        Exception? failure = null;
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            var thread = new Thread(() =>
            {
                try
                {
                    if (LibC.setns((int)_handle.DangerousGetHandle(), LibC.CLONE_NEWNET) != 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        failure = errno is LibC.EPERM or LibC.EACCES
                            ? new NamespaceException(DisplayName, NamespaceFailure.PermissionDenied,
                                $"cannot enter network namespace {this}: permission denied (needs CAP_SYS_ADMIN over the namespace's user namespace; run as root)")
                            : new NamespaceException(DisplayName, NamespaceFailure.Other,
                                $"cannot enter network namespace {this}: {LibC.Describe(errno)}");
                        return;
                    }
                    result = action();
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }, maxStackSize: 256 * 1024)
            {
                IsBackground = true,
                Name = "nfsns-setns",
            };
            thread.Start();
            thread.Join();
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
        if (failure is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return result!;
    }

    private static bool IsCallerInProcessNamespace()
    {
        // A thread that some code moved with setns would otherwise make "the process namespace" ambiguous.
        try
        {
            using var current = OpenPath("/proc/thread-self/ns/net", "self", null);
            return current.Id == s_processNamespace.Value;
        }
        catch (NamespaceException)
        {
            return false;
        }
    }

    /// <summary>Another reference to the same namespace, independently disposable (dup of the nsfs fd).</summary>
    public NetworkNamespace Clone() => OpenPath($"/proc/self/fd/{_handle.DangerousGetHandle()}", DisplayName, Name);

    public void Dispose() => _handle.Dispose();
}
