using System.Runtime.InteropServices;
using NfsNs.Peers;

// nfsns-peerhost: starts one network namespace with rpcbind and ganesha per --export, prints where they are, keeps
// them running until its standard input closes (or SIGTERM/SIGINT), then stops every process and deletes the
// namespaces. Closing stdin as the stop signal means a script that dies, however it dies, still cleans up.
const string Usage = """
    usage: nfsns-peerhost [--prefix PREFIX] [--nlm] --export DIR [--export DIR ...]
      Starts, per DIR, a namespace PREFIX-XXXXXX (default prefix nfsns-host) with rpcbind and nfs-ganesha
      exporting DIR as 127.0.0.1:/export. Prints one line per namespace:
        namespace NAME export DIR ganesha-pid PID rpcbind-pid PID
      then "ready". Runs until stdin closes or SIGTERM/SIGINT, then stops everything and prints "stopped".
    """;

string prefix = "nfsns-host";
bool nlm = false;
var exports = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--prefix" when i + 1 < args.Length: prefix = args[++i]; break;
        case "--export" when i + 1 < args.Length: exports.Add(args[++i]); break;
        case "--nlm": nlm = true; break;
        case "-h" or "--help": Console.WriteLine(Usage); return 0;
        default:
            Console.Error.WriteLine($"nfsns-peerhost: unexpected argument '{args[i]}'\n{Usage}");
            return 2;
    }
}
if (exports.Count == 0)
{
    Console.Error.WriteLine($"nfsns-peerhost: no --export given\n{Usage}");
    return 2;
}

using var stop = new CancellationTokenSource();
void OnSignal(PosixSignalContext context) { context.Cancel = true; stop.Cancel(); }
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

var started = new List<(TestNamespace Namespace, GaneshaServer? Server)>();
int exitCode = 0;
try
{
    foreach (string export in exports)
    {
        var ns = await TestNamespace.CreateAsync(prefix, stop.Token);
        started.Add((ns, null));
        var server = await GaneshaServer.StartAsync(ns, export, new GaneshaOptions { EnableNlm = nlm }, stop.Token);
        started[^1] = (ns, server);
        Console.WriteLine($"namespace {ns.Name} export {server.ExportDirectory} ganesha-pid {server.GaneshaPid} rpcbind-pid {server.RpcbindPid}");
    }
    Console.WriteLine("ready");
    var stdinClosed = Task.Factory.StartNew(() => { while (Console.In.ReadLine() is not null) { } },
        TaskCreationOptions.LongRunning);
    await Task.WhenAny(stdinClosed, Task.Delay(Timeout.Infinite, stop.Token));
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    // stopped by a signal while starting
}
catch (Exception e) when (e is PeerException or ArgumentException)
{
    Console.Error.WriteLine($"nfsns-peerhost: {e.Message}");
    exitCode = 1;
}
finally
{
    for (int i = started.Count - 1; i >= 0; i--)
    {
        try
        {
            if (started[i].Server is { } server) await server.DisposeAsync();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"nfsns-peerhost: {e.Message}");
            exitCode = 1;
        }
        finally
        {
            await started[i].Namespace.DisposeAsync();
        }
    }
    Console.WriteLine("stopped");
}
return exitCode;
