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
}
