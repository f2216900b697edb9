namespace NfsNs.Server.FileSystem;

public enum SquashMode
{
    None,
    /// <summary>uid 0 becomes the anonymous user (exports(5) root_squash); gid 0 likewise.</summary>
    Root,
    /// <summary>Every caller becomes the anonymous user (exports(5) all_squash).</summary>
    All,
}

/// <summary>Maps the caller identity as exports(5) root_squash / all_squash with anonuid/anongid do, then delegates.</summary>
public sealed class SquashingFileSystem(IFileSystem inner, SquashMode mode, uint anonymousUid = 65534, uint anonymousGid = 65534)
    : DelegatingFileSystem(inner)
{
    public SquashMode Mode { get; } = mode;

    protected override CallerIdentity MapCaller(CallerIdentity caller) => Mode switch
    {
        SquashMode.All => new CallerIdentity(anonymousUid, anonymousGid, []),
        SquashMode.Root => caller.Uid == 0 || caller.Gid == 0 || caller.Groups.Contains(0u)
            ? new CallerIdentity(
                caller.Uid == 0 ? anonymousUid : caller.Uid,
                caller.Gid == 0 ? anonymousGid : caller.Gid,
                // Linux nfsd squashes supplementary group 0 too, or root's group rights would survive.
                [.. caller.Groups.Select(g => g == 0 ? anonymousGid : g)])
            : caller,
        _ => caller,
    };
}
