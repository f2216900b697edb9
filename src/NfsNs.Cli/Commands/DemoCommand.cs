using System.Net;
using System.Net.Sockets;
using System.Text;
using NfsNs.Client;
using NfsNs.Namespaces;
using NfsNs.Peers;
using NfsNs.Server;
using NfsNs.Server.FileSystem;

namespace NfsNs.Cli.Commands;

/// <summary>Options of <c>nfsns demo</c>.</summary>
public sealed record DemoOptions : CommandOptions;

/// <summary>
/// The mission in one run: namespaces A and B each get an NFS server at 127.0.0.1:2049 with different content (the
/// embedded server, started by this process inside each namespace); this process, from its own namespace (where
/// nothing listens on 2049), reads and writes through each, and shows that a write through A lands only on A's
/// server. Everything it creates is removed at the end, also on failure.
/// </summary>
public static class DemoCommand
{
    public static async Task RunAsync(DemoOptions options, CancellationToken cancellationToken)
    {
        var o = options.Console.Out;
        await using var nsA = await TestNamespace.CreateAsync("nfsns-demo-a", cancellationToken);
        await using var nsB = await TestNamespace.CreateAsync("nfsns-demo-b", cancellationToken);
        string exportA = Directory.CreateTempSubdirectory("nfsns-demo-a-").FullName;
        string exportB = Directory.CreateTempSubdirectory("nfsns-demo-b-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(exportA, "hello.txt"), "hello from the server in namespace A\n", cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(exportB, "hello.txt"), "hello from the server in namespace B\n", cancellationToken);

            o.WriteLine("1. Two network namespaces, each with its own NFS server (NfsNs's embedded server) at 127.0.0.1:2049:");
            await using var serverA = await StartServerAsync(nsA, exportA, cancellationToken);
            o.WriteLine($"   {nsA.Name}: exports {exportA} as /export (NFSv3, MOUNT and portmap on 127.0.0.1)");
            await using var serverB = await StartServerAsync(nsB, exportB, cancellationToken);
            o.WriteLine($"   {nsB.Name}: exports {exportB} as /export");

            o.WriteLine($"2. In this process's own namespace nothing listens on 127.0.0.1:2049: {await ProbeLocalPortAsync(cancellationToken)}");

            string urlA = $"nfs://127.0.0.1/export?netns={nsA.Name}";
            string urlB = $"nfs://127.0.0.1/export?netns={nsB.Name}";
            o.WriteLine("3. Mount the same URL through each namespace and read hello.txt:");
            await using var mountA = await NfsMount.MountAsync(urlA, cancellationToken);
            await using var mountB = await NfsMount.MountAsync(urlB, cancellationToken);
            foreach (var (label, mount) in new[] { ("A", mountA), ("B", mountB) })
                o.WriteLine($"   through {label} ({mount.Namespace}): {(await ReadTextAsync(mount, "/hello.txt", cancellationToken)).TrimEnd()}");

            o.WriteLine("4. Write written-through-a.txt through A, then list both servers:");
            await using (var file = await mountA.OpenWriteAsync("/written-through-a.txt", cancellationToken: cancellationToken))
                await file.WriteAsync(Encoding.UTF8.GetBytes($"written at {DateTimeOffset.Now:O}\n"), cancellationToken);
            foreach (var (label, mount) in new[] { ("A", mountA), ("B", mountB) })
                o.WriteLine($"   ls through {label}: {string.Join(", ", await ListAsync(mount, cancellationToken))}");
            bool onA = File.Exists(Path.Combine(exportA, "written-through-a.txt"));
            bool onB = File.Exists(Path.Combine(exportB, "written-through-a.txt"));
            o.WriteLine($"   on disk: A's export has it: {(onA ? "yes" : "no")}; B's export has it: {(onB ? "yes" : "no")}");
            if (!onA || onB)
                throw new InvalidOperationException("the write through A did not land on A's server only");

            o.WriteLine("5. What each server saw (its client table), then clean up: unmount, stop both servers, delete both namespaces.");
            foreach (var (label, server) in new[] { ("A", serverA), ("B", serverB) })
                foreach (var client in server.Clients)
                    o.WriteLine($"   server {label}: client {client.Address}: {client.Stats}");
        }
        finally
        {
            Directory.Delete(exportA, recursive: true);
            Directory.Delete(exportB, recursive: true);
        }
        o.WriteLine("Done: one process, one address, two different servers, each reached through its own namespace.");
    }

    private static async Task<NfsServer> StartServerAsync(TestNamespace ns, string directory, CancellationToken cancellationToken)
    {
        using var handle = NetworkNamespace.Open(ns.Name);
        var backend = new LocalFileSystem(directory, HandleCodec.CreateEphemeral(exportId: 1));
        return await NfsServer.StartAsync(new NfsServerOptions
        {
            Namespace = handle,
            Exports = [new NfsExport("/export", backend, new NfsExportOptions { Squash = SquashMode.None })],
        }, cancellationToken);
    }

    private static async Task<string> ReadTextAsync(NfsMount mount, string path, CancellationToken cancellationToken)
    {
        await using var file = await mount.OpenReadAsync(path, cancellationToken);
        using var reader = new StreamReader(file);
        return await reader.ReadToEndAsync(cancellationToken);
    }

    private static async Task<List<string>> ListAsync(NfsMount mount, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await foreach (var entry in mount.ListAsync("/", cancellationToken))
            if (entry.Name is not ("." or "..")) names.Add(entry.Name);
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static async Task<string> ProbeLocalPortAsync(CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 2049), cancellationToken);
            return "something DOES listen here (a client ignoring namespaces would reach it)";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return "connection refused, as expected";
        }
    }
}
