using System.Text;
using LogBroker.Client.Consumer;
using LogBroker.Client.Network;
using LogBroker.Protocol.Records;

namespace LogBroker.Client.Tests;

public sealed class ConsumeBatchTests
{
    private static byte[] Batch(long baseOffset, int count, CompressionType codec = CompressionType.None)
    {
        var builder = new RecordBatchBuilder();
        for (int i = 0; i < count; i++)
        {
            builder.Add(1000 + i, default, Encoding.UTF8.GetBytes("v" + (baseOffset + i)), keyIsNull: true);
        }

        byte[] batch = builder.ToArray();
        RecordBatch.SetBaseOffset(batch, baseOffset);
        return batch;
    }

    private static ConsumeBatch Parse(byte[] fetched, long position, out bool ok)
    {
        var frame = new ResponseFrame(System.Buffers.ArrayPool<byte>.Shared.Rent(4), 4);
        var batch = new ConsumeBatch(new TopicPartition("t", 0));
        batch.Start(frame, position);
        frame.Dispose();
        ok = batch.AddBatches(fetched, checkCrc: true, maxDecompressedBytes: 1 << 20);
        return batch;
    }

    private static List<long> Offsets(ConsumeBatch batch)
    {
        var offsets = new List<long>();
        foreach (ConsumedRecord r in batch)
        {
            offsets.Add(r.Offset);
            Assert.Equal("v" + r.Offset, Encoding.UTF8.GetString(r.Value));
        }

        return offsets;
    }

    [Fact]
    public void A_partial_batch_at_the_end_of_a_fetch_is_left_for_the_next_fetch()
    {
        byte[] a = Batch(0, 5);
        byte[] b = Batch(5, 5);
        byte[] c = Batch(10, 5);
        for (int cut = 1; cut < c.Length; cut++)
        {
            byte[] fetched = [.. a, .. b, .. c.AsSpan(0, cut)];
            ConsumeBatch batch = Parse(fetched, 0, out bool ok);
            Assert.True(ok);
            Assert.Equal(10, batch.Count);
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), Offsets(batch));
            Assert.Equal(10, batch.NextFetchOffset);
            batch.Release();
        }
    }

    [Fact]
    public void Records_before_the_position_are_skipped_even_inside_a_batch()
    {
        ConsumeBatch batch = Parse([.. Batch(0, 5), .. Batch(5, 5)], 3, out bool ok);
        Assert.True(ok);
        Assert.Equal([3, 4, 5, 6, 7, 8, 9], Offsets(batch));
        Assert.Equal(3, batch.FirstOffset);
        Assert.Equal(9, batch.LastOffset);
    }

    [Fact]
    public void Null_keys_values_and_header_values_stay_null_and_empty_ones_stay_empty()
    {
        byte[] batch = new RecordBatchBuilder()
            .Add(1, default, default, keyIsNull: true, valueIsNull: true, headers: [new RecordHeader("none", null), new RecordHeader("empty", Array.Empty<byte>())])
            .Add(2, [], [], headers: null)
            .ToArray();
        ConsumeBatch parsed = Parse(batch, 0, out bool ok);
        Assert.True(ok);
        List<ConsumeRecord> records = parsed.ToList();
        Assert.Null(records[0].Key);
        Assert.Null(records[0].Value);
        Assert.Null(records[0].Headers[0].Value);
        Assert.Equal(0, records[0].Headers[1].Value!.Value.Length);
        Assert.Equal([], records[1].Key!);
        Assert.Equal([], records[1].Value!);
        Assert.Null(new LogBroker.Client.Producer.ProducerRecord((byte[]?)null, (byte[]?)null).Key);
        Assert.NotNull(new LogBroker.Client.Producer.ProducerRecord([], []).Key);
    }

    [Fact]
    public void A_corrupt_batch_is_reported_not_delivered()
    {
        byte[] a = Batch(0, 5);
        a[^1] ^= 0xFF; // breaks the CRC
        Parse(a, 0, out bool ok);
        Assert.False(ok);
    }
}
