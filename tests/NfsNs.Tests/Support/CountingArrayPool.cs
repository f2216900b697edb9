using System.Buffers;

namespace NfsNs.Tests.Support;

/// <summary>An array pool that records how much was asked of it, to check that nothing big is allocated and everything comes back.</summary>
public sealed class CountingArrayPool : ArrayPool<byte>
{
    private int _outstanding;
    private long _largestRent;

    public int Outstanding => Volatile.Read(ref _outstanding);
    public long LargestRent => Interlocked.Read(ref _largestRent);

    public override byte[] Rent(int minimumLength)
    {
        long largest;
        while (minimumLength > (largest = Interlocked.Read(ref _largestRent)) &&
               Interlocked.CompareExchange(ref _largestRent, minimumLength, largest) != largest)
        {
        }
        Interlocked.Increment(ref _outstanding);
        return Shared.Rent(minimumLength);
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        Interlocked.Decrement(ref _outstanding);
        Shared.Return(array, clearArray);
    }
}
