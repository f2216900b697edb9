using System.Diagnostics;
using NfsNs.Namespaces;

namespace NfsNs.Tests.Support;

/// <summary>
/// A network namespace created for one test (<c>ip netns add nfsns-test-XXXXXXXX</c>, loopback up) and deleted on
/// dispose. Needs root (CAP_SYS_ADMIN).
/// </summary>
public sealed class TestNetworkNamespace : IDisposable
{
    public string Name { get; }
    public NetworkNamespace Namespace { get; }
    public NamespaceSocketFactory Sockets { get; }

    private TestNetworkNamespace(string name, NetworkNamespace ns)
    {
        Name = name;
        Namespace = ns;
        Sockets = new NamespaceSocketFactory(ns);
    }

    public static TestNetworkNamespace Create()
    {
        string name = $"nfsns-test-{Random.Shared.Next():x8}";
        Ip("netns", "add", name);
        try
        {
            Ip("-n", name, "link", "set", "lo", "up");
            return new TestNetworkNamespace(name, NetworkNamespace.Open(name));
        }
        catch
        {
            TryDelete(name);
            throw;
        }
    }

    public void Dispose()
    {
        Namespace.Dispose();
        TryDelete(Name);
    }

    private static void TryDelete(string name)
    {
        try
        {
            Ip("netns", "del", name);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Runs <c>ip</c> with a bounded wait; throws with its stderr when it fails.</summary>
    public static void Ip(params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start ip");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(10_000))
        {
            process.Kill();
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} did not finish within 10 s");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result.Trim()}");
        _ = stdout.Result;
    }
}
