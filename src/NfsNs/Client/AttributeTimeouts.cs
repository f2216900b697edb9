using NfsNs.Protocols.Nfs3;

namespace NfsNs.Client;

/// <summary>
/// How long one mount trusts cached attributes: nfs(5)'s <c>acregmin</c>/<c>acregmax</c> for everything that is not a
/// directory, <c>acdirmin</c>/<c>acdirmax</c> for directories (whose attributes also bound how long their cached
/// LOOKUP results are used, nfs(5) "Directory entry caching").
/// </summary>
/// <remarks>
/// nfs(5) names the bounds but not the rule between them. Linux starts an inode's timeout at the minimum and doubles it
/// (up to the maximum) each time a revalidation finds the attributes unchanged, restarting at the minimum when they
/// change (fs/nfs/inode.c), so the timeout tracks how long the file has been unchanged. Here that is computed directly:
/// the timeout of an entry is how long its attributes had been unchanged when they were last fetched, clamped to
/// [min, max]. "Unchanged" is measured on the client's monotonic clock from the fetch that first saw the current size,
/// mtime and ctime (never from the server's timestamps, whose clock may differ). The rule needs no per-entry state that
/// depends on a mount's options, so mounts with different timeouts can share one <see cref="NfsVolume"/>. A maximum
/// below its minimum is raised to the minimum. All zero (<c>actimeo=0</c>, <c>noac</c>) means nothing is ever fresh.
/// </remarks>
public readonly record struct AttributeTimeouts(TimeSpan RegularMin, TimeSpan RegularMax, TimeSpan DirectoryMin, TimeSpan DirectoryMax)
{
    /// <summary>nfs(5)'s defaults: acregmin=3, acregmax=60, acdirmin=30, acdirmax=60 seconds.</summary>
    public static AttributeTimeouts Default { get; } = new(
        TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60));

    /// <summary>No caching: every question goes to the server (<c>noac</c>, <c>actimeo=0</c>).</summary>
    public static AttributeTimeouts None { get; } = Uniform(TimeSpan.Zero);

    /// <summary>All four the same, as <c>actimeo=</c>.</summary>
    public static AttributeTimeouts Uniform(TimeSpan timeout) => new(timeout, timeout, timeout, timeout);

    /// <summary>True when no attributes are ever fresh.</summary>
    public bool IsDisabled => RegularMax <= TimeSpan.Zero && RegularMin <= TimeSpan.Zero && DirectoryMax <= TimeSpan.Zero && DirectoryMin <= TimeSpan.Zero;

    /// <summary>How long attributes of an object of <paramref name="type"/>, unchanged for <paramref name="unchangedFor"/> when fetched, stay fresh.</summary>
    public TimeSpan For(Nfs3FileType type, TimeSpan unchangedFor)
    {
        var (min, max) = type == Nfs3FileType.Directory ? (DirectoryMin, DirectoryMax) : (RegularMin, RegularMax);
        if (max < min) max = min;
        if (unchangedFor < min) return min;
        return unchangedFor > max ? max : unchangedFor;
    }

    /// <summary>Throws when a timeout is negative.</summary>
    internal void Validate(string parameterName)
    {
        foreach (var (name, value) in new[] { ("acregmin", RegularMin), ("acregmax", RegularMax), ("acdirmin", DirectoryMin), ("acdirmax", DirectoryMax) })
        {
            if (value < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(parameterName, $"{name} cannot be negative ({value.TotalSeconds} s)");
        }
    }

    public override string ToString() =>
        $"acregmin={RegularMin.TotalSeconds:0.###},acregmax={RegularMax.TotalSeconds:0.###},acdirmin={DirectoryMin.TotalSeconds:0.###},acdirmax={DirectoryMax.TotalSeconds:0.###}";
}
