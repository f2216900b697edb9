using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using NfsNs.Client;

namespace NfsNs.Cli;

/// <summary>
/// Entry point of <c>nfsns</c> and its single error path: whatever goes wrong is reported as one line
/// <c>nfsns: message</c> on standard error (with <c>-v</c> also the stack trace) and an exit code from
/// <see cref="ExitCodes"/>.
/// </summary>
public static class NfsNsCli
{
    public static async Task<int> Main(string[] args)
    {
        using var interrupt = new CancellationTokenSource();
        PosixSignal? received = null;
        void OnSignal(PosixSignalContext context)
        {
            // The first Ctrl-C (or SIGTERM) asks the command to stop cleanly; a second one is left to the default
            // action, which ends the process, for when stopping cleanly hangs.
            if (interrupt.IsCancellationRequested) return;
            context.Cancel = true;
            received = context.Signal;
            interrupt.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        int exitCode = await RunAsync(args, CliConsole.ForProcess(), interrupt.Token).ConfigureAwait(false);
        return exitCode == ExitCodes.Interrupted && received == PosixSignal.SIGTERM ? ExitCodes.Terminated : exitCode;
    }

    /// <summary>Runs the CLI in-process with the given writers (tests; embedding).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        RunAsync(args, new CliConsole(output, error), cancellationToken);

    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        var commandLine = new NfsNsCommandLine(console);
        bool verbose = false;
        try
        {
            ParseResult parsed = commandLine.Root.Parse(args);
            verbose = parsed.GetValue(commandLine.Verbose);
            if (parsed.Action is ParseErrorAction)
            {
                ReportParseErrors(parsed, console.Error);
                return ExitCodes.Usage;
            }
            var invocation = new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                // Exceptions come here, to the one error path, instead of System.CommandLine's multi-line report.
                EnableDefaultExceptionHandler = false,
                // Ctrl-C is handled by Main (and by the caller's token in-process), not by the library.
                ProcessTerminationTimeout = null,
            };
            return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            return ReportFailure(e, console.Error, verbose, cancellationToken.IsCancellationRequested);
        }
        finally
        {
            await FlushQuietlyAsync(console.Out).ConfigureAwait(false);
        }
    }

    /// <summary>All parse errors on one line, with the help command to run.</summary>
    private static void ReportParseErrors(ParseResult parsed, TextWriter error)
    {
        var messages = parsed.Errors.Select(e => OneLine(e.Message).TrimEnd('.')).Distinct();
        // An option the parser does not know is taken for an argument, and then the real argument looks unexpected:
        // name the unknown option alone instead of blaming a valid URL.
        if (parsed.Tokens.FirstOrDefault(t => t.Type == System.CommandLine.Parsing.TokenType.Argument && t.Value.Length > 1 && t.Value[0] == '-'
                && !double.TryParse(t.Value, System.Globalization.CultureInfo.InvariantCulture, out _)) is { } unknown)
            messages = [$"unknown option '{unknown.Value}'"];
        string command = parsed.CommandResult.Command == parsed.RootCommandResult.Command ? "nfsns" : $"nfsns {parsed.CommandResult.Command.Name}";
        error.WriteLine($"nfsns: {string.Join("; ", messages)} (see '{command} --help')");
    }

    /// <summary>Maps an exception to an exit code and prints it as one line.</summary>
    internal static int ReportFailure(Exception exception, TextWriter error, bool verbose, bool interrupted)
    {
        var failure = Unwrap(exception);
        var (exitCode, message) = failure switch
        {
            // Whatever a cancelled operation throws (OperationCanceledException, a closed socket…) is the interrupt.
            _ when interrupted => (ExitCodes.Interrupted, "interrupted"),
            NfsUrlException or UsageException => (ExitCodes.Usage, OneLine(failure.Message)),
            _ => (ExitCodes.Failure, Describe(failure)),
        };
        error.WriteLine($"nfsns: {message}");
        if (verbose) error.WriteLine(exception);
        return exitCode;
    }


    private static Exception Unwrap(Exception exception)
    {
        while (true)
        {
            switch (exception)
            {
                case AggregateException { InnerExceptions.Count: 1 } aggregate:
                    exception = aggregate.InnerExceptions[0];
                    continue;
                case System.Reflection.TargetInvocationException { InnerException: { } inner }:
                    exception = inner;
                    continue;
                default:
                    return exception;
            }
        }
    }

    /// <summary>The message, followed by those of inner exceptions that add something (bounded depth).</summary>
    private static string Describe(Exception exception)
    {
        string message = OneLine(exception.Message);
        int depth = 0;
        for (var inner = exception.InnerException; inner is not null && depth < 4; inner = inner.InnerException, depth++)
        {
            string innerMessage = OneLine(inner.Message);
            if (innerMessage.Length > 0 && !message.Contains(innerMessage, StringComparison.Ordinal))
                message += ": " + innerMessage;
        }
        return message.Length > 0 ? message : exception.GetType().Name;
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static async Task FlushQuietlyAsync(TextWriter writer)
    {
        try
        {
            await writer.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // Standard output was closed under us (nfsns ls … | head): nothing left to tell anyone.
        }
    }
}
