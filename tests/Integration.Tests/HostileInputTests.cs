using System.Buffers.Binary;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Raw sockets sending what no well-behaved client sends. Every case ends in a Kafka error code or a
/// closed connection — never a crash, a hang or a large allocation — and other connections keep working.
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class HostileInputTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(100 * 1024 * 1024 + 1)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(0)]
    [InlineData(7)]
    public async Task A_size_prefix_out_of_bounds_closes_the_connection_before_any_body_is_read(int size)
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        byte[] prefix = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(prefix, size);
        await connection.SendRawAsync(prefix);

        Assert.True(await connection.IsClosedByPeerAsync(Patience));
        await AssertBrokerStillAnswersAsync();
    }

    [Fact]
    public async Task An_unknown_api_key_closes_the_connection()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.SendAsync(Header(999, 0, 1), []);

        Assert.True(await connection.IsClosedByPeerAsync(Patience));
        await AssertBrokerStillAnswersAsync();
    }

    [Fact]
    public async Task An_unsupported_version_of_a_known_api_closes_the_connection()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.SendAsync(Header((short)ApiKey.Produce, 99, 1), [0, 0, 0, 0]);

        Assert.True(await connection.IsClosedByPeerAsync(Patience));
    }

    [Fact]
    public async Task ApiVersions_in_an_unknown_version_gets_the_v0_answer_with_unsupported_version()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.SendAsync(Header((short)ApiKey.ApiVersions, 77, 42), [0xDE, 0xAD]);

        byte[] response = await connection.ReceiveAsync(Patience);
        var reader = new KafkaReader(response);
        Assert.Equal(42, reader.ReadInt32());
        var body = new ApiVersionsResponse();
        body.Read(ref reader, 0);
        Assert.False(reader.Failed);
        Assert.Equal((short)Protocol.ErrorCode.UnsupportedVersion, body.ErrorCode);
        Assert.Contains(body.ApiKeys, k => k.ApiKey == (short)ApiKey.ApiVersions && k.MaxVersion == 4);
        Assert.Contains(body.ApiKeys, k => k.ApiKey == (short)ApiKey.Produce && k.MinVersion == 3);
    }

    [Fact]
    public async Task A_huge_array_count_closes_the_connection_without_allocating_for_it()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        // Metadata v1 whose topic array claims 2^31-1 entries and ends right there.
        await connection.SendAsync(Header((short)ApiKey.Metadata, 1, 1), [0x7F, 0xFF, 0xFF, 0xFF]);

        Assert.True(await connection.IsClosedByPeerAsync(Patience));
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 16 * 1024 * 1024, "the count must not drive an allocation");
    }

    [Fact]
    public async Task A_frame_that_announces_a_large_body_and_stalls_costs_only_what_was_sent()
    {
        // The broker is in-process, so GC.GetTotalAllocatedBytes also counts what test classes running in
        // parallel allocate meanwhile. Up to three rounds of 20 stalled frames, each measured alone: a broker that
        // allocated what is announced (1.8 GiB a round) fails every round; one round under the budget suffices.
        long least = long.MaxValue;
        for (int round = 0; round < 3 && least >= 64 * 1024 * 1024; round++)
        {
            var connections = new List<RawConnection>();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 20; i++)
            {
                RawConnection c = await RawConnection.OpenAsync(broker.Port);
                connections.Add(c);
                byte[] start = new byte[4 + 1024];
                BinaryPrimitives.WriteInt32BigEndian(start, 90 * 1024 * 1024);
                await c.SendRawAsync(start);
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
            least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            await AssertBrokerStillAnswersAsync();
            connections.ForEach(c => c.Dispose());
        }

        Assert.True(least < 64 * 1024 * 1024, $"20 × 90 MiB announced must not be allocated up front (least of the rounds: {least:N0} bytes)");
    }

    [Fact]
    public async Task A_garbage_record_batch_gets_corrupt_message_and_the_connection_stays_open()
    {
        string topic = BrokerFixture.UniqueTopic("hostile");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await CreateTopicAsync(connection, topic);

        byte[] batch = Batches.Create(3);
        batch[^1] ^= 0xFF; // breaks the CRC
        var request = new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 1000,
            TopicData = [new ProduceRequest.TopicProduceData { Name = topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = batch }] }],
        };
        ProduceResponse response = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, request, Patience);

        Assert.Equal((short)Protocol.ErrorCode.CorruptMessage, response.Responses[0].PartitionResponses[0].ErrorCode);
        // Same connection, next request: still served.
        ProduceResponse valid = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 1000,
            TopicData = [new ProduceRequest.TopicProduceData { Name = topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = Batches.Create(2) }] }],
        }, Patience);
        Assert.Equal((0, 0L), (valid.Responses[0].PartitionResponses[0].ErrorCode, valid.Responses[0].PartitionResponses[0].BaseOffset));
    }

    [Theory]
    [InlineData(1)] // two batches in one partition's records
    [InlineData(2)] // magic 1
    [InlineData(3)] // a control batch from a client
    [InlineData(4)] // record count that does not match the offset delta
    public async Task Batches_a_client_may_not_send_get_invalid_record(int variant)
    {
        string topic = BrokerFixture.UniqueTopic("invalid");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await CreateTopicAsync(connection, topic);
        byte[] batch = Batches.Create(2);
        switch (variant)
        {
            case 1:
                batch = [.. batch, .. Batches.Create(1)];
                break;
            case 2:
                batch[Protocol.Records.RecordBatch.MagicOffset] = 1;
                break;
            case 3:
                BinaryPrimitives.WriteInt16BigEndian(batch.AsSpan(Protocol.Records.RecordBatch.AttributesOffset), 0x20);
                Protocol.Records.RecordBatch.WriteCrc(batch);
                break;
            case 4:
                BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(Protocol.Records.RecordBatch.LastOffsetDeltaOffset), 5);
                Protocol.Records.RecordBatch.WriteCrc(batch);
                break;
        }

        ProduceResponse response = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 1000,
            TopicData = [new ProduceRequest.TopicProduceData { Name = topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = batch }] }],
        }, Patience);

        Assert.Equal((short)Protocol.ErrorCode.InvalidRecord, response.Responses[0].PartitionResponses[0].ErrorCode);
    }

    [Fact]
    public async Task Random_frames_never_take_the_broker_down_and_a_bystander_connection_keeps_working()
    {
        using RawConnection bystander = await RawConnection.OpenAsync(broker.Port);
        var random = new Random(20261124);
        for (int i = 0; i < 300; i++)
        {
            using RawConnection attacker = await RawConnection.OpenAsync(broker.Port);
            short key = (short)random.Next(-2, 70);
            short version = (short)random.Next(-1, 20);
            byte[] body = new byte[random.Next(0, 300)];
            random.NextBytes(body);
            await attacker.SendAsync(Header(key, version, i), body);
            if (i % 50 == 0)
            {
                ApiVersionsResponse ok = await bystander.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
                Assert.Equal(0, ok.ErrorCode);
            }
        }

        await AssertBrokerStillAnswersAsync();
    }

    private static async Task CreateTopicAsync(RawConnection connection, string topic)
    {
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
    }

    private async Task AssertBrokerStillAnswersAsync()
    {
        using RawConnection fresh = await RawConnection.OpenAsync(broker.Port);
        ApiVersionsResponse response = await fresh.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
        Assert.Equal(0, response.ErrorCode);
    }

    private static byte[] Header(short key, short version, int correlationId)
    {
        byte[] header = new byte[10];
        BinaryPrimitives.WriteInt16BigEndian(header, key);
        BinaryPrimitives.WriteInt16BigEndian(header.AsSpan(2), version);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), correlationId);
        BinaryPrimitives.WriteInt16BigEndian(header.AsSpan(8), -1); // null client id
        return header;
    }
}
