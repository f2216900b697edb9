namespace NfsNs.Protocols.Nfs3;

/// <summary>
/// An NFSv3 procedure answered with a status other than NFS3_OK. The stub that throws it knows the procedure but
/// not the path; layers that know it add it with <see cref="WithPath"/>. Message:
/// <c>LOOKUP /export/a/b: NFS3ERR_NOENT (no such file or directory)</c>.
/// </summary>
public sealed class Nfs3Exception : Exception
{
    public Nfs3Exception(Nfs3Procedure procedure, Nfs3Status status, string? path = null, object? failureDetails = null, Exception? innerException = null)
        : base(FormatMessage(procedure, status, path), innerException)
    {
        Procedure = procedure;
        Status = status;
        Path = path;
        FailureDetails = failureDetails;
    }

    public Nfs3Procedure Procedure { get; }
    public Nfs3Status Status { get; }
    public string? Path { get; }

    /// <summary>
    /// What the failure arm of the reply carried, for callers that keep caches: a <see cref="Fattr3"/> (or null)
    /// for procedures whose failure carries a post_op_attr, a <see cref="WccData"/> for those with wcc_data, and
    /// <see cref="RenameResult"/> / <see cref="LinkResult"/> for RENAME and LINK.
    /// </summary>
    public object? FailureDetails { get; }

    /// <summary>The Linux errno a kernel mount would report (JUKEBOX → EAGAIN, unknown statuses → EIO).</summary>
    public LinuxErrno Errno => Status.ToErrno();

    /// <summary>A copy of this exception naming the path the operation was about.</summary>
    public Nfs3Exception WithPath(string path) => new(Procedure, Status, path, FailureDetails, InnerException);

    /// <summary>The procedure's name as RFC 1813 writes it, e.g. READDIRPLUS.</summary>
    public static string ProcedureName(Nfs3Procedure procedure) =>
        Rpc.RpcPrograms.ProcedureName(Nfs3.Program, Nfs3.Version, (uint)procedure) ?? $"PROC#{(uint)procedure}";

    private static string FormatMessage(Nfs3Procedure procedure, Nfs3Status status, string? path) =>
        $"{ProcedureName(procedure)}{(path is null ? "" : " " + path)}: {status.WireName()} ({status.Describe()})";
}
