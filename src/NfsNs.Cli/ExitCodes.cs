namespace NfsNs.Cli;

/// <summary>The process exit codes of <c>nfsns</c>, one per kind of outcome.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The operation failed (server error, I/O error, namespace not enterable…).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong: unknown option, missing argument, malformed URL.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl-C: 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 128 + 2;

    /// <summary>Stopped by SIGTERM: 128 + SIGTERM.</summary>
    public const int Terminated = 128 + 15;
}
