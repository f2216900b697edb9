namespace NfsNs.Client;

/// <summary>
/// An NFS URL that cannot be parsed or is not supported. The message is one line and quotes the URL, so that it can
/// be shown to a user as it is.
/// </summary>
public sealed class NfsUrlException : FormatException
{
    /// <summary>The URL as the caller gave it.</summary>
    public string Url { get; }

    /// <summary>The query argument at fault (<c>uid</c>, <c>version</c>…), when the fault is in one.</summary>
    public string? Argument { get; }

    /// <summary>What is wrong, without the URL (the message is "invalid NFS URL '…': " + reason).</summary>
    public string Reason { get; }

    public NfsUrlException(string url, string reason, string? argument = null)
        : base($"invalid NFS URL '{Quote(url)}': {reason}")
    {
        Url = url;
        Reason = reason;
        Argument = argument;
    }

    private const int MaxQuotedLength = 200;

    /// <summary>Keeps the message on one line and of bounded length whatever the URL contains.</summary>
    private static string Quote(string url)
    {
        var text = url.Length > MaxQuotedLength ? url[..MaxQuotedLength] + "…" : url;
        if (!text.Any(char.IsControl)) return text;
        var builder = new System.Text.StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (char.IsControl(c)) builder.Append($"\\x{(int)c:x2}");
            else builder.Append(c);
        }
        return builder.ToString();
    }
}
