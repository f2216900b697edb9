namespace NfsNs.Namespaces;

/// <summary>Why a network namespace could not be opened or entered. The message always names the namespace.</summary>
public enum NamespaceFailure
{
    DoesNotExist,
    NotANetworkNamespace,
    PermissionDenied,
    Other,
}

public sealed class NamespaceException(string @namespace, NamespaceFailure reason, string message)
    : Exception(message)
{
    /// <summary>The namespace as the caller named it (a name, a path or pid:N).</summary>
    public string Namespace { get; } = @namespace;
    public NamespaceFailure Reason { get; } = reason;
}
