namespace NfsNs.Peers;

/// <summary>A real peer (a daemon or a tool run in a test namespace) could not be started, stopped or used.</summary>
public class PeerException : Exception
{
    public PeerException(string message) : base(message) { }
    public PeerException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A tool the peers need is missing, or the process lacks the privileges to create namespaces.</summary>
public sealed class PeerToolsUnavailableException : PeerException
{
    public PeerToolsUnavailableException(string message) : base(message) { }
}
