using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Protocol.Tests;

/// <summary>
/// Field-by-field expectations for a few golden frames (tansu's decode tests). The round-trip tests
/// cannot see a generator bug that reads and writes two fields of the same type in swapped order; these
/// can. Every expected value was read off the frame's bytes by hand (offsets in the comments), not from
/// the decoder.
/// </summary>
public sealed class GoldenFrameFieldTests
{
    [Fact]
    public void Produce_v9_from_librdkafka_has_its_acks_timeout_topic_partition_and_batch()
    {
        // 0x12 transactional_id null (00), 0x13 acks 0001, 0x15 timeout 00007530, 0x19 topics [1] "t1",
        // 0x1d partitions [1] index 0, 0x22 records: varint 0x92 0x08 = 1041 bytes.
        (RequestHeader header, ProduceRequest produce) = Decode<ProduceRequest>("librdkafka-2.16", "008-Produce-v9");

        Assert.Equal((0, 9, 3), (header.ApiKey, header.ApiVersion, header.CorrelationId));
        Assert.Equal("rdkafka", header.ClientId);
        Assert.Null(produce.TransactionalId);
        Assert.Equal(1, produce.Acks);
        Assert.Equal(30_000, produce.TimeoutMs);
        ProduceRequest.TopicProduceData topic = Assert.Single(produce.TopicData);
        Assert.Equal("t1", topic.Name);
        ProduceRequest.PartitionProduceData partition = Assert.Single(topic.PartitionData);
        Assert.Equal(0, partition.Index);
        ReadOnlyMemory<byte> records = partition.Records.GetValueOrDefault();
        Assert.Equal(1041, records.Length);
        Assert.Equal(BatchValidation.Valid, RecordBatch.Validate(records.Span, out RecordBatchHeader batch, out _));
        Assert.Equal((10, CompressionType.None), (batch.RecordCount, batch.Compression));
    }

    [Fact]
    public void Fetch_v12_from_librdkafka_has_its_limits_session_and_partitions_in_order()
    {
        // 0x12 replica -1, 0x16 max_wait 000000c8, 0x1a min_bytes 1, 0x1e max_bytes 03200000,
        // 0x22 isolation 01, 0x23 session_id 0, 0x27 session_epoch -1, 0x2b topics [1] "t1",
        // 0x2f partitions [4], 33 bytes each: partition, leader epoch 0, offset 0, last epoch -1,
        // log start -1, max bytes 00100000; then forgotten [] and rack "".
        (_, FetchRequest fetch) = Decode<FetchRequest>("librdkafka-2.16", "027-Fetch-v12");

        Assert.Equal((-1, 200, 1, 52_428_800), (fetch.ReplicaId, fetch.MaxWaitMs, fetch.MinBytes, fetch.MaxBytes));
        Assert.Equal((sbyte)1, fetch.IsolationLevel);
        Assert.Equal((0, -1), (fetch.SessionId, fetch.SessionEpoch));
        FetchRequest.FetchTopic topic = Assert.Single(fetch.Topics);
        Assert.Equal("t1", topic.Topic);
        Assert.Equal([3, 2, 0, 1], topic.Partitions.Select(p => p.Partition));
        Assert.All(topic.Partitions, p =>
            Assert.Equal((0, 0L, -1, -1L, 1_048_576), (p.CurrentLeaderEpoch, p.FetchOffset, p.LastFetchedEpoch, p.LogStartOffset, p.PartitionMaxBytes)));
        Assert.Empty(fetch.ForgottenTopicsData);
        Assert.Equal("", fetch.RackId);
    }

    [Fact]
    public void JoinGroup_v5_from_librdkafka_has_its_timeouts_ids_and_protocols()
    {
        // 0x11 group "g1", 0x15 session 00002710, 0x19 rebalance 000493e0, 0x1d member "" (0000),
        // 0x1f instance null (ffff), 0x21 protocol type "consumer", 0x2d protocols [2]: "range"
        // with 24 bytes of metadata, "roundrobin" with 24.
        (RequestHeader header, JoinGroupRequest join) = Decode<JoinGroupRequest>("librdkafka-2.16", "039-JoinGroup-v5");

        Assert.Equal("member0", header.ClientId);
        Assert.Equal("g1", join.GroupId);
        Assert.Equal((10_000, 300_000), (join.SessionTimeoutMs, join.RebalanceTimeoutMs));
        Assert.Equal("", join.MemberId);
        Assert.Null(join.GroupInstanceId);
        Assert.Equal("consumer", join.ProtocolType);
        Assert.Equal(["range", "roundrobin"], join.Protocols.Select(p => p.Name));
        Assert.All(join.Protocols, p => Assert.Equal(24, p.Metadata.Length));
    }

    [Fact]
    public void Metadata_v12_response_has_its_broker_cluster_and_controller()
    {
        // 0x00 correlation 2, 0x04 header tags, 0x05 throttle 0, 0x09 brokers [1]: node 1,
        // "127.0.0.1", port 00009921, rack null; 0x1e cluster id (23 chars), 0x36 controller 0, topics [].
        byte[] frame = GoldenPair.All.Single(p => p.Client == "librdkafka-2.16" && p.Stem == "002-Metadata-v12").Response()!;
        var reader = new KafkaReader(frame.AsMemory());
        Assert.Equal(2, reader.ReadInt32());
        reader.SkipTaggedFields();
        var metadata = new MetadataResponse();
        metadata.Read(ref reader, 12);
        Assert.False(reader.Failed);

        Assert.Equal(0, metadata.ThrottleTimeMs);
        MetadataResponse.MetadataResponseBroker broker = Assert.Single(metadata.Brokers);
        Assert.Equal((1, "127.0.0.1", 39201), (broker.NodeId, broker.Host, broker.Port));
        Assert.Null(broker.Rack);
        Assert.Equal("mockCluster15824454a844", metadata.ClusterId);
        Assert.Equal(0, metadata.ControllerId);
        Assert.Empty(metadata.Topics);
    }

    private static (RequestHeader Header, T Request) Decode<T>(string client, string stem)
        where T : IKafkaMessage, new()
    {
        var reader = new KafkaReader(GoldenFrame.Request(client, stem).AsMemory());
        RequestHeader header = RequestHeader.Read(ref reader);
        var request = new T();
        request.Read(ref reader, header.ApiVersion);
        Assert.False(reader.Failed);
        Assert.Equal(0, reader.Remaining);
        return (header, request);
    }
}
