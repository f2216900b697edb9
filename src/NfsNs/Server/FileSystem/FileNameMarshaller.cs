using System.Runtime.InteropServices;
using System.Runtime.InteropServices.Marshalling;
using NfsNs.Xdr;

namespace NfsNs.Server.FileSystem;

/// <summary>
/// Passes a file name or link target to libc as the bytes the client sent: <see cref="XdrText"/> turns escaped
/// non-UTF-8 bytes back into themselves. Plain UTF-8 marshalling would write U+FFFD (EF BF BD) for each, so a name
/// that is not UTF-8 (RFC 1813 §2.5: filename3 is any bytes) could be listed but never looked up or removed.
/// </summary>
[CustomMarshaller(typeof(string), MarshalMode.ManagedToUnmanagedIn, typeof(FileNameMarshaller))]
internal static unsafe class FileNameMarshaller
{
    public static byte* ConvertToUnmanaged(string? managed)
    {
        if (managed is null) return null;
        int length = XdrText.GetByteCount(managed);
        byte* native = (byte*)NativeMemory.Alloc((nuint)length + 1);
        XdrText.Encode(managed, new Span<byte>(native, length));
        native[length] = 0;
        return native;
    }

    public static void Free(byte* unmanaged) => NativeMemory.Free(unmanaged);
}
