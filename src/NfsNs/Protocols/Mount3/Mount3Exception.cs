namespace NfsNs.Protocols.Mount3;

/// <summary>MNT refused an export. Message: <c>MOUNT /export: MNT3ERR_ACCES (permission denied)</c>.</summary>
public sealed class Mount3Exception(MountStatus status, string? path, Exception? innerException = null)
    : Exception(FormatMessage(status, path), innerException)
{
    public MountStatus Status { get; } = status;
    public string? Path { get; } = path;

    /// <summary>The Linux errno mount(8) would report.</summary>
    public LinuxErrno Errno => Status.ToErrno();

    private static string FormatMessage(MountStatus status, string? path) =>
        $"MOUNT{(path is null ? "" : " " + path)}: {status.WireName()} ({status.Describe()})";
}
