using NfsNs.Client;

namespace NfsNs.Cli.Commands;

/// <summary>The options every command accepts (<c>--netns</c>, <c>--uid</c>, <c>--gid</c>, <c>-v</c>).</summary>
public sealed record GlobalOptions(string? Netns, uint? Uid, uint? Gid, bool Verbose)
{
    public static GlobalOptions Default { get; } = new(null, null, null, false);

    /// <summary>
    /// <paramref name="url"/> with the global options as defaults: what the URL's own query says wins, because it
    /// is the more specific (in <c>cp nfs://a/x?netns=A nfs://b/y</c>, <c>--netns B</c> applies to the second only).
    /// </summary>
    public NfsUrl ApplyTo(NfsUrl url) =>
        url with { Netns = url.Netns ?? Netns, Uid = url.Uid ?? Uid, Gid = url.Gid ?? Gid };

    public FileLocation ApplyTo(FileLocation location) =>
        location.Url is { } url ? FileLocation.Remote(ApplyTo(url)) : location;
}

/// <summary>
/// What every command's options carry besides its own: the global options and the console to write to. URLs in
/// the derived records already have the global options applied (<see cref="GlobalOptions.ApplyTo(NfsUrl)"/>).
/// </summary>
public abstract record CommandOptions
{
    public required GlobalOptions Global { get; init; }
    public required CliConsole Console { get; init; }
}
