namespace NfsNs.Cli;

/// <summary>
/// The command line is well-formed but asks for something that makes no sense (both sides of <c>cp</c> local…).
/// Reported like a parse error: one line, exit code <see cref="ExitCodes.Usage"/>.
/// </summary>
public sealed class UsageException(string message) : Exception(message);
