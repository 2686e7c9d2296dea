using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Client.Compression;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Produce batches whose records disagree with their header (audit C2, P1), sent as raw frames to a real
/// broker: each gets its Kafka error code, nothing is stored, no segment is rolled, and the partition
/// keeps taking good batches.
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class BatchValidationTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static TheoryData<CompressionType> Codecs { get; } =
        [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>A batch header around <paramref name="body"/> (already compressed), CRC right.</summary>
    private static byte[] Frame(CompressionType codec, ReadOnlySpan<byte> body, int count, int lastOffsetDelta, long baseTimestamp, long maxTimestamp)
    {
        byte[] batch = new byte[RecordBatch.HeaderSize + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LengthOffset), batch.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.PartitionLeaderEpochOffset), -1);
        batch[RecordBatch.MagicOffset] = RecordBatch.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.AttributesOffset), (short)codec);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.LastOffsetDeltaOffset), lastOffsetDelta);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.BaseTimestampOffset), baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.MaxTimestampOffset), maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.ProducerIdOffset), -1);
        BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(RecordBatch.ProducerEpochOffset), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.BaseSequenceOffset), -1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.RecordCountOffset), count);
        body.CopyTo(batch.AsSpan(RecordBatch.HeaderSize));
        RecordBatch.WriteCrc(batch);
        return batch;
    }

    /// <summary>A well-formed batch of <paramref name="records"/> records, compressed with <paramref name="codec"/>.</summary>
    private static byte[] Good(CompressionType codec, int records, long timestamp, int valueBytes = 100)
    {
        byte[] plain = Batches.Create(records, valueBytes, timestamp);
        return Recompress(codec, plain, plain.AsSpan(RecordBatch.HeaderSize));
    }

    /// <summary><paramref name="template"/>'s header with <paramref name="records"/> as its (compressed) body.</summary>
    private static byte[] Recompress(CompressionType codec, byte[] template, ReadOnlySpan<byte> records)
    {
        RecordBatchHeader h = RecordBatchHeader.Read(template);
        var body = new ArrayBufferWriter<byte>();
        CompressionCodecs.Compress(codec, records, body);
        return Frame(codec, body.WrittenSpan, h.RecordCount, h.LastOffsetDelta, h.BaseTimestamp, h.MaxTimestamp);
    }

    private static ProduceRequest Produce(string topic, params byte[][] batches) => new()
    {
        Acks = 1,
        TimeoutMs = 5000,
        TopicData =
        [
            new ProduceRequest.TopicProduceData
            {
                Name = topic,
                PartitionData = [.. batches.Select(b => new ProduceRequest.PartitionProduceData { Index = 0, Records = b })],
            },
        ],
    };

    /// <summary>Produce v8: the first version whose response carries an error message.</summary>
    private static async Task<List<ProduceResponse.PartitionProduceResponse>> SendAsync(RawConnection connection, string topic, params byte[][] batches)
    {
        ProduceResponse response = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 8, Produce(topic, batches), Patience);
        return response.Responses[0].PartitionResponses;
    }

    private static async Task CreateTopicAsync(RawConnection connection, string topic, params (string Name, string Value)[] configs)
    {
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = topic,
                    NumPartitions = 1,
                    ReplicationFactor = 1,
                    Configs = [.. configs.Select(c => new CreateTopicsRequest.CreatableTopicConfig { Name = c.Name, Value = c.Value })],
                },
            ],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
    }

    private int LogFiles(string topic) =>
        Directory.GetFiles(Path.Combine(broker.DataDirectory, $"{topic}-0"), "*.log").Length;

    [Theory]
    [MemberData(nameof(Codecs))]
    public async Task The_zero_record_batch_with_a_huge_count_is_refused_and_rolls_no_segment(CompressionType codec)
    {
        string topic = BrokerFixture.UniqueTopic("c2");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await CreateTopicAsync(connection, topic);

        // The audit's batch: 61 bytes, no records, recordCount 2^31-1, lastOffsetDelta 2^31-2 (each one a
        // segment roll before the fix), sent 50 times.
        byte[] bomb = Frame(codec, [], int.MaxValue, int.MaxValue - 1, Now, Now);
        Assert.Equal(61, bomb.Length);
        for (int i = 0; i < 50; i++)
        {
            ProduceResponse.PartitionProduceResponse refused = (await SendAsync(connection, topic, bomb))[0];
            Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, refused.ErrorCode);
            Assert.Equal(-1, refused.BaseOffset);
        }

        // Listed 200 times for partition 0 in one request: refused at every entry as a repeated partition.
        List<ProduceResponse.PartitionProduceResponse> results = await SendAsync(connection, topic, [.. Enumerable.Repeat(bomb, 200)]);
        Assert.Equal(200, results.Count);
        Assert.All(results, r => Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, r.ErrorCode));
        Assert.InRange(LogFiles(topic), 0, 1); // segments are created lazily: none yet, or the first one

        // The same lie with a real (compressed) body of two records.
        byte[] two = Good(codec, 2, Now);
        BinaryPrimitives.WriteInt32BigEndian(two.AsSpan(RecordBatch.RecordCountOffset), int.MaxValue);
        BinaryPrimitives.WriteInt32BigEndian(two.AsSpan(RecordBatch.LastOffsetDeltaOffset), int.MaxValue - 1);
        RecordBatch.WriteCrc(two);
        ProduceResponse.PartitionProduceResponse lied = (await SendAsync(connection, topic, two))[0];
        Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, lied.ErrorCode);
        Assert.False(string.IsNullOrEmpty(lied.ErrorMessage));

        // The partition is untouched: the next good batch gets offset 0, still in the first segment.
        ProduceResponse.PartitionProduceResponse ok = (await SendAsync(connection, topic, Good(codec, 3, Now)))[0];
        Assert.Equal((0, 0L), (ok.ErrorCode, ok.BaseOffset));
        Assert.Equal(1, LogFiles(topic));
    }

    [Fact]
    public async Task A_far_future_timestamp_gets_invalid_timestamp_and_the_topic_config_moves_the_bound()
    {
        string topic = BrokerFixture.UniqueTopic("future");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await CreateTopicAsync(connection, topic);

        // Default message.timestamp.after.max.ms: 1 hour.
        ProduceResponse.PartitionProduceResponse future = (await SendAsync(connection, topic, Good(CompressionType.None, 3, Now + (2 * 3_600_000))))[0];
        Assert.Equal((short)Protocol.ErrorCode.InvalidTimestamp, future.ErrorCode);
        Assert.Contains("out of range", future.ErrorMessage);

        ProduceResponse.PartitionProduceResponse year3000 = (await SendAsync(connection, topic, Good(CompressionType.Zstd, 3, 32_503_680_000_000)))[0];
        Assert.Equal((short)Protocol.ErrorCode.InvalidTimestamp, year3000.ErrorCode);

        ProduceResponse.PartitionProduceResponse soon = (await SendAsync(connection, topic, Good(CompressionType.Gzip, 3, Now + (30 * 60_000))))[0];
        Assert.Equal((0, 0L), (soon.ErrorCode, soon.BaseOffset));
        ProduceResponse.PartitionProduceResponse old = (await SendAsync(connection, topic, Good(CompressionType.Lz4, 3, 1_000_000_000_000)))[0];
        Assert.Equal((0, 3L), (old.ErrorCode, old.BaseOffset)); // before.max.ms: no limit by default

        string tight = BrokerFixture.UniqueTopic("tight");
        await CreateTopicAsync(connection, tight, ("message.timestamp.after.max.ms", "60000"), ("message.timestamp.before.max.ms", "86400000"));
        Assert.Equal((short)Protocol.ErrorCode.InvalidTimestamp, (await SendAsync(connection, tight, Good(CompressionType.Snappy, 3, Now + (5 * 60_000))))[0].ErrorCode);
        Assert.Equal((short)Protocol.ErrorCode.InvalidTimestamp, (await SendAsync(connection, tight, Good(CompressionType.None, 3, Now - (2 * 86_400_000))))[0].ErrorCode);
        Assert.Equal(0, (await SendAsync(connection, tight, Good(CompressionType.None, 3, Now)))[0].ErrorCode);
    }

    [Fact]
    public async Task Malformed_compressed_records_a_bomb_and_a_cut_stream_are_refused_and_nothing_is_stored()
    {
        string topic = BrokerFixture.UniqueTopic("records");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await CreateTopicAsync(connection, topic);

        // Offset deltas 0, 2 inside a gzip batch whose header says 0..1.
        byte[] plain = Batches.Create(2, 10, Now);
        byte[] records = plain[RecordBatch.HeaderSize..];
        int second = records[0] / 2 + 1; // first record: zig-zag length varint (one byte here) + body
        Assert.Equal(2, records[second + 3]); // after length, attributes, timestamp delta: offset delta 1 (zig-zag 2)
        records[second + 3] = 4; // offset delta 2
        ProduceResponse.PartitionProduceResponse gap = (await SendAsync(connection, topic, Recompress(CompressionType.Gzip, plain, records)))[0];
        Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, gap.ErrorCode);
        Assert.Contains("offset delta", gap.ErrorMessage);

        // A zstd bomb: one record of 100 MiB of zeros (a few KiB compressed) > MaxDecompressedBatchBytes (64 MiB).
        var builder = new RecordBatchBuilder();
        builder.Add(Now, default, new byte[100 * 1024 * 1024], keyIsNull: true);
        byte[] huge = builder.ToArray();
        byte[] bomb = Recompress(CompressionType.Zstd, huge, huge.AsSpan(RecordBatch.HeaderSize));
        Assert.True(bomb.Length < 1024 * 1024, $"bomb is {bomb.Length} bytes");
        ProduceResponse.PartitionProduceResponse exploded = (await SendAsync(connection, topic, bomb))[0];
        Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, exploded.ErrorCode);
        Assert.Contains("decompress to more than", exploded.ErrorMessage);

        // A gzip stream cut short: CORRUPT_MESSAGE.
        byte[] good = Good(CompressionType.Gzip, 50, Now);
        RecordBatchHeader h = RecordBatchHeader.Read(good);
        byte[] cut = Frame(CompressionType.Gzip, good.AsSpan(RecordBatch.HeaderSize, good.Length - RecordBatch.HeaderSize - 10), h.RecordCount, h.LastOffsetDelta, h.BaseTimestamp, h.MaxTimestamp);
        Assert.Equal((short)Protocol.ErrorCode.CorruptMessage, (await SendAsync(connection, topic, cut))[0].ErrorCode);

        // An uncompressed record whose key length runs past its end.
        byte[] badKey = Batches.Create(1, 10, Now);
        badKey[RecordBatch.HeaderSize + 4] = 0x7E; // key length varint: 63
        RecordBatch.WriteCrc(badKey);
        Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, (await SendAsync(connection, topic, badKey))[0].ErrorCode);

        ProduceResponse.PartitionProduceResponse ok = (await SendAsync(connection, topic, good))[0];
        Assert.Equal((0, 0L), (ok.ErrorCode, ok.BaseOffset));
    }
}
