using System.Buffers;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.TestKit;

namespace LogBroker.Protocol.Tests;

/// <summary>
/// Every request and response captured from librdkafka 2.16, kcat, kafka-python and kafkajs decodes
/// with the generated codecs, consuming every byte, and encodes back to the identical bytes.
/// </summary>
public sealed class GoldenFrameCodecTests
{
    public static TheoryData<string, string> Pairs()
    {
        var data = new TheoryData<string, string>();
        foreach (GoldenPair pair in GoldenPair.All)
        {
            data.Add(pair.Client, pair.Stem);
        }

        return data;
    }

    /// <summary>
    /// librdkafka's all-topics Metadata v12 request carries 3 bytes after its last field, and its mock
    /// cluster writes 1 trailing byte in every Metadata v12 response. Java brokers and clients ignore
    /// trailing bytes, so the codec must too: these frames must decode, and re-encode to the bytes
    /// before the trailer.
    /// </summary>
    private static int TrailingBytes(GoldenPair pair, bool request) =>
        (pair.ApiName, pair.Version, request) switch
        {
            ("Metadata", 12, true) when pair.Note.Contains("all topics", StringComparison.Ordinal) => 3,
            ("Metadata", 12, false) => 1,
            _ => 0,
        };

    /// <summary>
    /// Error responses of librdkafka's mock cluster that are not valid Kafka: a LeaveGroup v3 error
    /// without its members array and a SyncGroup v3 error with a null (non-nullable) assignment. The
    /// frames README says mock responses are not authoritative; a correct decoder must refuse these.
    /// </summary>
    private static bool IsMalformedMockResponse(GoldenPair pair) =>
        pair.Client == "kafkajs-2.2.4" && pair.Stem is "032-LeaveGroup-v3" or "052-LeaveGroup-v3" or "051-SyncGroup-v3";

    private static GoldenPair Find(string client, string stem) => GoldenPair.All.Single(p => p.Client == client && p.Stem == stem);

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Request_decodes_fully_and_re_encodes_byte_for_byte(string client, string stem)
    {
        GoldenPair pair = Find(client, stem);
        byte[] frame = pair.Request();

        var reader = new KafkaReader(frame.AsMemory());
        RequestHeader header = RequestHeader.Read(ref reader);
        Assert.Equal(pair.ApiKey, header.ApiKey);
        Assert.Equal(pair.Version, header.ApiVersion);
        IKafkaMessage request = ApiMessages.CreateRequest((ApiKey)header.ApiKey);
        request.Read(ref reader, header.ApiVersion);
        Assert.False(reader.Failed, "decode failed");
        Assert.Equal(TrailingBytes(pair, request: true), reader.Remaining);
        frame = frame[..reader.Position];

        var output = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(output);
        header.Write(ref writer);
        request.Write(ref writer, header.ApiVersion);
        writer.Commit();
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(output.WrittenSpan));
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Response_decodes_fully_and_re_encodes_byte_for_byte(string client, string stem)
    {
        GoldenPair pair = Find(client, stem);
        byte[]? frame = pair.Response();
        if (frame is null)
        {
            Assert.Contains("no response", pair.Note, StringComparison.Ordinal); // acks=0, or the client hung up first
            return;
        }

        var key = (ApiKey)pair.ApiKey;
        var reader = new KafkaReader(frame.AsMemory());
        int correlationId = reader.ReadInt32();
        if (ApiMessages.ResponseHeaderHasTaggedFields(key, pair.Version))
        {
            reader.SkipTaggedFields();
        }

        IKafkaMessage response = ApiMessages.CreateResponse(key);
        response.Read(ref reader, pair.Version);
        if (IsMalformedMockResponse(pair))
        {
            Assert.True(reader.Failed);
            return;
        }

        Assert.False(reader.Failed, "decode failed");
        Assert.Equal(TrailingBytes(pair, request: false), reader.Remaining);
        frame = frame[..reader.Position];

        var output = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(output);
        ApiMessages.WriteResponseHeader(ref writer, key, pair.Version, correlationId);
        response.Write(ref writer, pair.Version);
        writer.Commit();
        Assert.Equal(Convert.ToHexString(frame), Convert.ToHexString(output.WrittenSpan));
    }

    /// <summary>
    /// Versions no captured client sent (issue 16 added them): bodies written out by hand, field by field,
    /// from Kafka 3.9's schemas, independent of the generated codecs. Each must decode to the fields
    /// written and encode back to the same bytes.
    /// </summary>
    public static TheoryData<string> HandWrittenBodies() => ["ListOffsetsRequest-v0", "ListOffsetsResponse-v0", "FetchRequest-v13", "DeleteTopicsRequest-v6"];

    private static readonly Guid TopicId = Guid.Parse("0102030405060708090a0b0c0d0e0f10");

    [Theory]
    [MemberData(nameof(HandWrittenBodies))]
    public void Hand_written_bodies_of_the_added_versions_decode_and_re_encode_byte_for_byte(string name)
    {
        (IKafkaMessage Message, short Version, string Hex, Action<IKafkaMessage> Check) body = name switch
        {
            "ListOffsetsRequest-v0" => (new ListOffsetsRequest(), 0,
                "FFFFFFFF" + "00000001" + "0002" + "7431" + "00000001" + "00000000" + "FFFFFFFFFFFFFFFF" + "00000001",
                m =>
                {
                    var r = (ListOffsetsRequest)m;
                    Assert.Equal(-1, r.ReplicaId);
                    Assert.Equal("t1", r.Topics.Single().Name);
                    ListOffsetsRequest.ListOffsetsPartition p = r.Topics[0].Partitions.Single();
                    Assert.Equal((0, -1L, 1), (p.PartitionIndex, p.Timestamp, p.MaxNumOffsets));
                }
            ),
            "ListOffsetsResponse-v0" => (new ListOffsetsResponse(), 0,
                "00000001" + "0002" + "7431" + "00000001" + "00000000" + "0000" + "00000002" + "000000000000000A" + "0000000000000000",
                m =>
                {
                    ListOffsetsResponse.ListOffsetsPartitionResponse p = ((ListOffsetsResponse)m).Topics.Single().Partitions.Single();
                    Assert.Equal([10L, 0L], p.OldStyleOffsets);
                }
            ),
            "FetchRequest-v13" => (new FetchRequest(), 13,
                "FFFFFFFF" + "000001F4" + "00000001" + "7FFFFFFF" + "00" + "00000000" + "FFFFFFFF" // replica, wait, min, max, isolation, session, epoch
                + "02" + "0102030405060708090A0B0C0D0E0F10" // one topic, by id
                + "02" + "00000000" + "FFFFFFFF" + "0000000000000000" + "FFFFFFFF" + "FFFFFFFFFFFFFFFF" + "00100000" + "00" // one partition
                + "00" + "01" + "01" + "00", // topic tags, no forgotten topics, rack "", tags
                m =>
                {
                    var f = (FetchRequest)m;
                    Assert.Equal((500, 1, int.MaxValue, -1), (f.MaxWaitMs, f.MinBytes, f.MaxBytes, f.SessionEpoch));
                    Assert.Equal(TopicId, f.Topics.Single().TopicId);
                    FetchRequest.FetchPartition p = f.Topics[0].Partitions.Single();
                    Assert.Equal((0, 0L, -1, 1 << 20), (p.Partition, p.FetchOffset, p.LastFetchedEpoch, p.PartitionMaxBytes));
                }
            ),
            "DeleteTopicsRequest-v6" => (new DeleteTopicsRequest(), 6,
                "02" + "00" + "0102030405060708090A0B0C0D0E0F10" + "00" + "00007530" + "00", // one topic: null name, id; timeout 30 s
                m =>
                {
                    var d = (DeleteTopicsRequest)m;
                    Assert.Null(d.Topics.Single().Name);
                    Assert.Equal(TopicId, d.Topics[0].TopicId);
                    Assert.Equal(30_000, d.TimeoutMs);
                }
            ),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        (IKafkaMessage message, short version, string hex, Action<IKafkaMessage> check) = body;
        byte[] bytes = Convert.FromHexString(hex);
        var reader = new KafkaReader(bytes.AsMemory());
        message.Read(ref reader, version);
        Assert.False(reader.Failed, "decode failed");
        Assert.Equal(0, reader.Remaining);
        check(message);

        var output = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(output);
        message.Write(ref writer, version);
        writer.Commit();
        Assert.Equal(hex, Convert.ToHexString(output.WrittenSpan));
    }
}
