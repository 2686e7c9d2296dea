using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Protocol.Tests;

public sealed class RecordBatchTests
{
    public static TheoryData<string, string, CompressionType, bool> Frames()
    {
        var data = new TheoryData<string, string, CompressionType, bool>();
        foreach (ProduceFrame frame in GoldenFrame.ProduceFrames)
        {
            data.Add(frame.Client, frame.Stem, frame.Codec, frame.Idempotent);
        }

        return data;
    }

    public static TheoryData<string, string> UncompressedFrames()
    {
        var data = new TheoryData<string, string>();
        foreach (ProduceFrame frame in GoldenFrame.ProduceFrames)
        {
            if (frame.Codec == CompressionType.None)
            {
                data.Add(frame.Client, frame.Stem);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void Batches_from_real_clients_validate_with_the_header_they_sent(string client, string stem, CompressionType codec, bool idempotent)
    {
        byte[] batch = GoldenFrame.RecordBatchIn(GoldenFrame.Request(client, stem));

        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch, out RecordBatchHeader header, out int size));
        Assert.Equal(batch.Length, size);
        Assert.Equal(2, header.Magic);
        Assert.Equal(10, header.RecordCount);
        Assert.Equal(9, header.LastOffsetDelta);
        Assert.Equal(codec, header.Compression);
        Assert.Equal(idempotent, header.ProducerId >= 0);
        Assert.True(!idempotent || header.BaseSequence >= 0); // kafkajs sends 0 even when not idempotent
        Assert.False(header.IsControl);
        Assert.True(header.MaxTimestamp >= header.BaseTimestamp);
    }

    [Theory]
    [MemberData(nameof(UncompressedFrames))]
    public void Uncompressed_batches_from_real_clients_decode_record_by_record(string client, string stem)
    {
        byte[] batch = GoldenFrame.RecordBatchIn(GoldenFrame.Request(client, stem));
        RecordBatchHeader header = RecordBatchHeader.Read(batch);

        var reader = new RecordReader(batch.AsSpan(RecordBatch.HeaderSize));
        int count = 0;
        while (reader.TryRead(out RecordView record))
        {
            Assert.Equal(count, record.OffsetDelta);
            Assert.True(header.BaseTimestamp + record.TimestampDelta <= header.MaxTimestamp);
            Assert.False(record.ValueIsNull);
            count++;
        }

        Assert.False(reader.IsMalformed);
        Assert.Equal(header.RecordCount, count);
    }

    [Fact]
    public void A_built_batch_validates_and_reads_back_every_field()
    {
        var builder = new RecordBatchBuilder { ProducerId = 7, ProducerEpoch = 1, BaseSequence = 42 };
        builder.Add(1000, "k1"u8, "v1"u8, headers: [new RecordHeader("h", "x"u8.ToArray()), new RecordHeader("n", null)]);
        builder.Add(900, default, default, keyIsNull: true, valueIsNull: true);
        builder.Add(1500, "k3"u8, ""u8);
        byte[] batch = builder.ToArray();

        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch, out RecordBatchHeader header, out _));
        Assert.Equal((2, 3, 1000L, 1500L, 7L, (short)1, 42), (header.LastOffsetDelta, header.RecordCount, header.BaseTimestamp, header.MaxTimestamp, header.ProducerId, header.ProducerEpoch, header.BaseSequence));
        Assert.Equal(-1, header.PartitionLeaderEpoch);

        var reader = new RecordReader(batch.AsSpan(RecordBatch.HeaderSize));
        Assert.True(reader.TryRead(out RecordView first));
        Assert.Equal(("k1", "v1", 2, 0L), (Encoding.UTF8.GetString(first.Key), Encoding.UTF8.GetString(first.Value), first.HeaderCount, first.TimestampDelta));
        Assert.True(reader.TryRead(out RecordView second));
        Assert.True(second.KeyIsNull && second.ValueIsNull);
        Assert.Equal(-100, second.TimestampDelta);
        Assert.True(reader.TryRead(out RecordView third));
        Assert.False(third.ValueIsNull);
        Assert.Equal(0, third.Value.Length);
        Assert.False(reader.TryRead(out _));
        Assert.False(reader.IsMalformed);
    }

    [Fact]
    public void Broker_fields_are_rewritten_in_place_without_breaking_the_crc()
    {
        byte[] batch = Batches.Create(3);

        RecordBatch.SetBaseOffset(batch, 123_456_789_012);
        RecordBatch.SetPartitionLeaderEpoch(batch, 17);

        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch, out RecordBatchHeader header, out _));
        Assert.Equal((123_456_789_012L, 17, 123_456_789_014L), (header.BaseOffset, header.PartitionLeaderEpoch, header.LastOffset));
    }

    [Fact]
    public void Every_single_bit_flip_inside_the_crc_range_is_detected()
    {
        byte[] batch = Batches.Create(2, valueBytes: 8);
        for (int i = RecordBatch.CrcOffset; i < batch.Length; i++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                batch[i] ^= (byte)(1 << bit);
                Assert.NotEqual(BatchValidation.Valid, RecordBatch.Validate(batch, out _, out _));
                batch[i] ^= (byte)(1 << bit);
            }
        }

        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(batch, out _, out _));
    }

    [Fact]
    public void Every_truncation_is_reported_as_truncated_never_an_exception()
    {
        byte[] batch = Batches.Create(3);
        for (int length = 0; length < batch.Length; length++)
        {
            Assert.Equal(BatchValidation.Truncated, RecordBatch.Validate(batch.AsSpan(0, length), out _, out _));
        }
    }

    [Theory]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(RecordBatch.MinBatchLength - 1)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MaxValue - 11)]
    public void Hostile_length_fields_are_refused_before_anything_is_read(int length)
    {
        byte[] batch = Batches.Create(1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), length);

        BatchValidation result = RecordBatch.Validate(batch, out _, out _);

        Assert.True(result is BatchValidation.InvalidLength or BatchValidation.Truncated, result.ToString());
        Assert.False(RecordBatch.TryReadSize(batch, out _) && length < RecordBatch.MinBatchLength);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(255)]
    public void A_magic_other_than_2_is_refused(byte magic)
    {
        byte[] batch = Batches.Create(1);
        batch[RecordBatch.MagicOffset] = magic;

        Assert.Equal(BatchValidation.UnsupportedMagic, RecordBatch.Validate(batch, out _, out _));
    }

    [Theory]
    [InlineData(-1, 0)]
    [InlineData(3, -1)]
    [InlineData(int.MaxValue, 0)]
    public void Impossible_record_counts_are_refused(int recordCount, int lastOffsetDelta)
    {
        byte[] batch = Batches.Create(3);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.RecordCountOffset), recordCount);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LastOffsetDeltaOffset), lastOffsetDelta);
        RecordBatch.WriteCrc(batch);

        Assert.Equal(BatchValidation.InvalidRecordCount, RecordBatch.Validate(batch, out _, out _));
    }

    [Fact]
    public void Random_bytes_never_throw_and_almost_never_validate()
    {
        var random = new Random(12345);
        byte[] buffer = new byte[512];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(buffer);
            buffer[RecordBatch.MagicOffset] = 2; // get past the magic check often
            BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(RecordBatch.LengthOffset), random.Next(-100, 600));
            Assert.NotEqual(BatchValidation.Valid, RecordBatch.Validate(buffer.AsSpan(0, random.Next(buffer.Length)), out _, out _));
        }
    }
}
