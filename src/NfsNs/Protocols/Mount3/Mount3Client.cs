using NfsNs.Rpc;
using NfsNs.Xdr;

namespace NfsNs.Protocols.Mount3;

/// <summary>
/// Typed stubs for MOUNT v3 (RFC 1813 appendix I) over an <see cref="IRpcCaller"/> bound to program
/// <see cref="Mount3.Program"/> version <see cref="Mount3.Version"/>. Only MNT has a status; it throws
/// <see cref="Mount3Exception"/>. Malformed replies throw <see cref="XdrException"/>.
/// </summary>
public sealed class Mount3Client(IRpcCaller caller)
{
    private readonly IRpcCaller _caller = caller ?? throw new ArgumentNullException(nameof(caller));

    public IRpcCaller Caller => _caller;

    public Task NullAsync(CancellationToken cancellationToken = default) =>
        CallAsync(Mount3Procedure.Null, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    /// <summary>MNT: the root handle of the export at <paramref name="dirPath"/>, and the security flavors it accepts.</summary>
    public async Task<MountResult> MntAsync(string dirPath, CancellationToken cancellationToken = default)
    {
        var (status, result) = await CallAsync(Mount3Procedure.Mnt, new DirPath(dirPath), MountResult.ReadReply, cancellationToken).ConfigureAwait(false);
        return status == MountStatus.Ok ? result! : throw new Mount3Exception(status, dirPath);
    }

    /// <summary>UMNT: asks the server to drop the mount list entry; the reply carries no status.</summary>
    public Task UmntAsync(string dirPath, CancellationToken cancellationToken = default) =>
        CallAsync(Mount3Procedure.Umnt, new DirPath(dirPath), XdrVoid.Read, cancellationToken);

    public Task UmntAllAsync(CancellationToken cancellationToken = default) =>
        CallAsync(Mount3Procedure.UmntAll, XdrVoid.Value, XdrVoid.Read, cancellationToken);

    public Task<IReadOnlyList<ExportEntry>> ExportAsync(CancellationToken cancellationToken = default) =>
        CallAsync(Mount3Procedure.Export, XdrVoid.Value, ExportEntry.ReadList, cancellationToken);

    public Task<IReadOnlyList<MountEntry>> DumpAsync(CancellationToken cancellationToken = default) =>
        CallAsync(Mount3Procedure.Dump, XdrVoid.Value, MountEntry.ReadList, cancellationToken);

    private Task<T> CallAsync<TArgs, T>(Mount3Procedure procedure, TArgs args, XdrDecoder<T> decode, CancellationToken cancellationToken)
        where TArgs : IXdrWritable =>
        _caller.CallExactAsync(Mount3.Program, Mount3.Version, (uint)procedure, args, decode, cancellationToken);
}
