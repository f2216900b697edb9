using NfsNs.Peers;

namespace NfsNs.Tests.Support;

/// <summary>
/// One NFS server in a namespace of its own, reachable inside as 127.0.0.1:/export (NFS 2049, MOUNT 20048,
/// portmap 111), exporting <see cref="ExportDirectory"/> with the layout of <see cref="ServerPairContent"/>.
/// Lets one integration suite run against nfs-ganesha and against the embedded server.
/// </summary>
public interface IServerSide
{
    string Label { get; }
    TestNamespace Namespace { get; }
    /// <summary>The exported directory: tests may add files here and see them over NFS at once.</summary>
    string ExportDirectory { get; }
    /// <summary>The content of <see cref="ServerPairContent.HelloFile"/> in this side's export, different per side.</summary>
    string HelloText { get; }
    /// <summary>A process whose network namespace is this side's (the server daemon), or null when the server runs in-process.</summary>
    int? ProcessIdInside { get; }

    /// <summary>
    /// Stops the server and starts it again on the same directory: file handles stay valid, open connections close
    /// and the write verifier changes (RFC 1813 section 3.3.7), as after a crash.
    /// </summary>
    Task RestartAsync();
}

/// <summary>Two sides A and B at the same address in different namespaces, exporting different content.</summary>
public interface IServerPairFixture
{
    IServerSide A { get; }
    IServerSide B { get; }

    /// <summary>Starts one more side of the same kind, for a test that restarts or deletes it; on failure, removes what it made.</summary>
    Task<IServerSide> StartSideAsync(string label);

    /// <summary>Stops a side from <see cref="StartSideAsync"/>, then deletes its namespace, even when stopping fails.</summary>
    Task StopSideAsync(IServerSide side);
}

/// <summary>What every side's export holds when it starts.</summary>
public static class ServerPairContent
{
    public const string HelloFile = "hello.txt";
    /// <summary>A subdirectory present on both sides, with <see cref="SubdirectoryFile"/> inside.</summary>
    public const string Subdirectory = "dir";
    public const string SubdirectoryFile = "inner.txt";

    /// <summary>Creates the export directory with its files; returns the side's hello text.</summary>
    public static string Create(string exportDirectory, string label, TestNamespace ns)
    {
        Directory.CreateDirectory(Path.Combine(exportDirectory, Subdirectory));
        string hello = $"hello from namespace {label} ({ns.Name})\n";
        File.WriteAllText(Path.Combine(exportDirectory, HelloFile), hello);
        File.WriteAllText(Path.Combine(exportDirectory, Subdirectory, SubdirectoryFile), $"inner {label}\n");
        return hello;
    }
}
