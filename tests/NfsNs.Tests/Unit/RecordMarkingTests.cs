using NfsNs.Rpc;
using NfsNs.Tests.Support;
using NfsNs.Xdr;

namespace NfsNs.Tests.Unit;

public class RecordMarkingTests
{
    [Fact]
    public void Marker_golden_bytes()
    {
        var marker = new byte[4];
        RecordMarking.WriteMarker(marker, 0x1C, isLastFragment: true);
        Assert.Equal(Convert.FromHexString("8000001C"), marker);
        RecordMarking.WriteMarker(marker, 5, isLastFragment: false);
        Assert.Equal(Convert.FromHexString("00000005"), marker);
        RecordMarking.WriteMarker(marker, RecordMarking.MaxFragmentLength, isLastFragment: true);
        Assert.Equal(Convert.FromHexString("FFFFFFFF"), marker);

        Assert.Equal((0x7FFFFFFF, true), RecordMarking.ReadMarker(Convert.FromHexString("FFFFFFFF")));
        Assert.Equal((0x01020304, false), RecordMarking.ReadMarker(Convert.FromHexString("01020304")));
    }

    [Fact]
    public void Null_call_record_golden_bytes()
    {
        using var output = new PooledBufferWriter(16);
        RecordMarking.BeginSingleFragmentRecord(output);
        Rpc.Rpc.WriteCallHeader(new XdrWriter(output), 0x01020304, 100003, 3, 0, RpcCredentials.None);
        RecordMarking.CompleteSingleFragmentRecord(output);
        Assert.Equal(Convert.FromHexString(
            "80000028" + "01020304" + "00000000" + "00000002" + "000186A3" + "00000003" + "00000000" +
            "00000000" + "00000000" + "00000000" + "00000000"), output.WrittenSpan.ToArray());
    }

    /// <summary>Feeds a byte stream to a <see cref="RecordReader"/> in chunks of the given sizes (cycled), like a socket would.</summary>
    private static RecordReader ReaderOver(byte[] stream, Func<int> nextChunkSize, int maxRecordSize = 1 << 24,
        CountingArrayPool? pool = null, int receiveBufferSize = RecordReader.DefaultReceiveBufferSize)
    {
        int position = 0;
        return new RecordReader((buffer, _) =>
        {
            int count = Math.Min(Math.Min(buffer.Length, nextChunkSize()), stream.Length - position);
            stream.AsSpan(position, count).CopyTo(buffer.Span);
            position += count;
            return ValueTask.FromResult(count);
        }, maxRecordSize, pool, receiveBufferSize);
    }

    private static async Task<List<byte[]>> ReadAll(RecordReader reader)
    {
        var records = new List<byte[]>();
        while (await reader.ReadRecordAsync() is { } record)
        {
            using (record) records.Add(record.Memory.ToArray());
        }
        return records;
    }

    [Fact]
    public async Task Random_fragmentation_and_random_read_chunking_decode_the_same_records()
    {
        var random = new Random(5531);
        for (int iteration = 0; iteration < 300; iteration++)
        {
            // A few records back to back, of sizes from empty to past the reader's direct-receive threshold.
            int recordCount = random.Next(1, 5);
            var records = new List<byte[]>();
            var stream = new List<byte>();
            for (int r = 0; r < recordCount; r++)
            {
                var record = new byte[random.Next(4) == 0 ? random.Next(0, 40_000) : random.Next(0, 200)];
                random.NextBytes(record);
                records.Add(record);
                var sizes = new List<int>();
                int left = record.Length;
                while (left > 0 && random.Next(3) != 0)
                {
                    int size = random.Next(0, left + 1); // zero-length fragments are legal too
                    sizes.Add(size);
                    left -= size;
                }
                stream.AddRange(ScriptedRpcPeer.Frame(record, sizes));
            }
            int maxChunk = random.Next(4) switch { 0 => 1, 1 => 7, 2 => 4096, _ => 100_000 };
            var pool = new CountingArrayPool();
            using (var reader = ReaderOver([.. stream], () => random.Next(1, maxChunk + 1), pool: pool,
                       receiveBufferSize: random.Next(2) == 0 ? 16 : RecordReader.DefaultReceiveBufferSize))
            {
                var decoded = await ReadAll(reader);
                Assert.Equal(records.Count, decoded.Count);
                for (int r = 0; r < records.Count; r++)
                    Assert.Equal(records[r], decoded[r]);
                Assert.Equal(stream.Count, reader.BytesReceived);
            }
            Assert.Equal(0, pool.Outstanding);
        }
    }

    [Fact]
    public async Task Record_over_the_cap_fails_before_anything_is_allocated_for_it()
    {
        var pool = new CountingArrayPool();
        using var reader = ReaderOver(ScriptedConnection.Marker(RecordMarking.MaxFragmentLength), () => 1, maxRecordSize: 1 << 20, pool: pool);
        var e = await Assert.ThrowsAsync<RpcProtocolException>(async () => await reader.ReadRecordAsync());
        Assert.Contains("2147483647", e.Message);
        Assert.Contains("limit of 1048576", e.Message);
        Assert.True(pool.LargestRent <= RecordReader.DefaultReceiveBufferSize, $"rented {pool.LargestRent} bytes");
    }

    [Fact]
    public async Task Cap_counts_all_fragments_of_a_record()
    {
        var stream = ScriptedConnection.Marker(600, isLast: false).Concat(new byte[600])
            .Concat(ScriptedConnection.Marker(600)).Concat(new byte[600]).ToArray();
        using var reader = ReaderOver(stream, () => 10_000, maxRecordSize: 1000);
        var e = await Assert.ThrowsAsync<RpcProtocolException>(async () => await reader.ReadRecordAsync());
        Assert.Contains("at least 1200 bytes", e.Message);
    }

    [Fact]
    public async Task Buffer_grows_only_as_bytes_arrive()
    {
        // A 64 MiB record is within this cap, but only 100 KiB of it ever arrives.
        var stream = ScriptedConnection.Marker(64 << 20).Concat(new byte[100_000]).ToArray();
        var pool = new CountingArrayPool();
        using (var reader = ReaderOver(stream, () => 8192, maxRecordSize: 128 << 20, pool: pool))
        {
            var e = await Assert.ThrowsAsync<RpcConnectionException>(async () => await reader.ReadRecordAsync());
            Assert.Contains("inside a record", e.Message);
        }
        Assert.True(pool.LargestRent <= 4 << 20, $"rented {pool.LargestRent} bytes for 100 KB that arrived");
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task End_of_stream_between_records_is_a_clean_close_and_inside_a_marker_is_an_error()
    {
        using (var reader = ReaderOver([], () => 1))
            Assert.Null(await reader.ReadRecordAsync());
        using (var reader = ReaderOver([0x80, 0x00], () => 1))
            await Assert.ThrowsAsync<RpcConnectionException>(async () => await reader.ReadRecordAsync());
    }

    [Fact]
    public async Task Empty_record_and_zero_length_fragments()
    {
        var stream = ScriptedConnection.Marker(0, isLast: false).Concat(ScriptedConnection.Marker(0))
            .Concat(ScriptedRpcPeer.Frame([1, 2, 3], [0, 3, 0])).ToArray();
        using var reader = ReaderOver(stream, () => 3);
        var records = await ReadAll(reader);
        Assert.Equal(2, records.Count);
        Assert.Empty(records[0]);
        Assert.Equal(new byte[] { 1, 2, 3 }, records[1]);
    }

    [Fact]
    public void Record_returns_its_buffer_once()
    {
        var pool = new CountingArrayPool();
        var record = new RpcRecord(pool.Rent(10), 10, pool);
        Assert.Equal(10, record.Memory.Length);
        record.Dispose();
        record.Dispose();
        Assert.Equal(0, pool.Outstanding);
        Assert.Throws<ObjectDisposedException>(() => record.Memory);
    }
}
