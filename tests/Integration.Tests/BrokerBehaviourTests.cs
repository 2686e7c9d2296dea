using Confluent.Kafka;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>Protocol behaviour that clients rely on, checked over raw connections.</summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class BrokerBehaviourTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_parked_fetch_is_answered_before_later_requests_on_its_connection_and_wakes_on_produce()
    {
        string topic = await CreateTopicAsync();
        using RawConnection consumer = await RawConnection.OpenAsync(broker.Port);
        using RawConnection producer = await RawConnection.OpenAsync(broker.Port);

        // Fetch (waits up to 10 s for data) then ApiVersions, pipelined on one connection.
        long sent = System.Diagnostics.Stopwatch.GetTimestamp();
        await consumer.SendRequestAsync(ApiKey.Fetch, 11, 100, Fetch(topic, 0, maxWaitMs: 10_000));
        await consumer.SendRequestAsync(ApiKey.ApiVersions, 2, 101, new ApiVersionsRequest());
        await Task.Delay(300, TestContext.Current.CancellationToken);
        ProduceResponse produced = await producer.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(3)), Patience);
        Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);

        (int firstId, byte[] first) = await consumer.ReceiveWithIdAsync(Patience);
        TimeSpan parked = System.Diagnostics.Stopwatch.GetElapsedTime(sent);
        (int secondId, _) = await consumer.ReceiveWithIdAsync(Patience);
        Assert.Equal((100, 101), (firstId, secondId));

        // Woken by the produce (at about 0.3 s), not answered at its 10 s deadline with whatever is there.
        Assert.True(parked < TimeSpan.FromSeconds(5), $"the parked fetch was answered after {parked.TotalSeconds:F1} s of its 10 s wait");
        FetchResponse fetch = Decode<FetchResponse>(first, ApiKey.Fetch, 11);
        FetchResponse.PartitionData data = fetch.Responses[0].Partitions[0];
        Assert.Equal((0, 3L), (data.ErrorCode, data.HighWatermark));
        Assert.Equal(3, Batches.Split(data.Records!.Value.Span).Single().Records);
    }

    [Fact]
    public async Task Fetch_outside_the_log_gets_offset_out_of_range_and_at_the_end_an_empty_answer()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(2)), Patience);

        FetchResponse beyond = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11, Fetch(topic, 5, maxWaitMs: 0), Patience);
        FetchResponse atEnd = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11, Fetch(topic, 2, maxWaitMs: 0), Patience);

        Assert.Equal((short)Protocol.ErrorCode.OffsetOutOfRange, beyond.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal(0, atEnd.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal(0, atEnd.Responses[0].Partitions[0].Records!.Value.Length);
    }

    [Fact]
    public async Task Acks_zero_gets_no_response_and_the_next_request_is_answered()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        ProduceRequest request = RequestFrames.Produce(topic, 0, Batches.Create(4));
        request.Acks = 0;
        await connection.SendRequestAsync(ApiKey.Produce, 7, 7, request);
        await connection.SendRequestAsync(ApiKey.ApiVersions, 2, 8, new ApiVersionsRequest());

        (int id, _) = await connection.ReceiveWithIdAsync(Patience);
        Assert.Equal(8, id);
        ListOffsetsResponse offsets = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 5, ListOffsets(topic, -1), Patience);
        Assert.Equal(4, offsets.Topics[0].Partitions[0].Offset);
    }

    [Fact]
    public async Task Metadata_creates_missing_topics_only_when_asked_and_produce_never_does()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        string wanted = BrokerFixture.UniqueTopic("auto");
        string notWanted = BrokerFixture.UniqueTopic("noauto");

        MetadataResponse created = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = wanted }],
            AllowAutoTopicCreation = true,
        }, Patience);
        MetadataResponse refused = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = notWanted }],
            AllowAutoTopicCreation = false,
        }, Patience);
        ProduceResponse produced = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(notWanted, 0, Batches.Create(1)), Patience);

        Assert.Equal(0, created.Topics[0].ErrorCode);
        Assert.NotEqual(Guid.Empty, created.Topics[0].TopicId);
        Assert.Single(created.Topics[0].Partitions);
        Assert.Equal((short)Protocol.ErrorCode.UnknownTopicOrPartition, refused.Topics[0].ErrorCode);
        Assert.Equal((short)Protocol.ErrorCode.UnknownTopicOrPartition, produced.Responses[0].PartitionResponses[0].ErrorCode);

        // Metadata v12 can also look a topic up by the id it returned.
        MetadataResponse byId = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { TopicId = created.Topics[0].TopicId, Name = null }],
        }, Patience);
        Assert.Equal(wanted, byId.Topics[0].Name);
    }

    [Fact]
    public async Task ListOffsets_answers_earliest_latest_max_timestamp_and_by_time()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.WithTimestamps(1000, 2000)), Patience);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.WithTimestamps(9000, 3000)), Patience);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.WithTimestamps(4000)), Patience);

        async Task<(long Offset, long Timestamp)> Ask(long timestamp)
        {
            ListOffsetsResponse r = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, ListOffsets(topic, timestamp), Patience);
            return (r.Topics[0].Partitions[0].Offset, r.Topics[0].Partitions[0].Timestamp);
        }

        Assert.Equal(0, (await Ask(-2)).Offset);
        Assert.Equal(5, (await Ask(-1)).Offset);
        Assert.Equal((2L, 9000L), await Ask(-3));
        Assert.Equal((1L, 2000L), await Ask(1500));
        Assert.Equal((2L, 9000L), await Ask(2500)); // offset order: the batch at 2 is the first with a record ≥ 2500
        Assert.Equal(-1, (await Ask(10_000)).Offset);
    }

    [Fact]
    public async Task DeleteRecords_moves_the_low_watermark_for_every_client()
    {
        string topic = await CreateTopicAsync();
        using (IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.Bootstrap }).Build())
        {
            for (int i = 0; i < 10; i++)
            {
                await producer.ProduceAsync(topic, new Message<Null, string> { Value = "v" + i }, TestContext.Current.CancellationToken);
            }
        }

        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
        List<Confluent.Kafka.Admin.DeleteRecordsResult> deleted = await admin.DeleteRecordsAsync([new TopicPartitionOffset(topic, 0, 6)]);
        Assert.Equal(6, deleted.Single().Offset.Value);

        using IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = "unused" }).Build();
        WatermarkOffsets watermarks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10));
        Assert.Equal((6L, 10L), (watermarks.Low.Value, watermarks.High.Value));
    }

    [Fact]
    public async Task Idle_connections_are_closed_and_connections_over_the_limit_refused()
    {
        await using var limited = new BrokerFixture { Settings = ["--Broker:IdleTimeout=00:00:01", "--Broker:MaxConnections=2"] };
        await limited.InitializeAsync();
        using RawConnection first = await RawConnection.OpenAsync(limited.Port);
        using RawConnection second = await RawConnection.OpenAsync(limited.Port);
        await first.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);
        await second.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Patience);

        using RawConnection third = await RawConnection.OpenAsync(limited.Port);
        Assert.True(await third.IsClosedByPeerAsync(Patience), "a third connection is over MaxConnections=2");
        Assert.True(await first.IsClosedByPeerAsync(Patience), "an idle connection is closed after IdleTimeout");
    }

    [Fact]
    public async Task The_idempotent_producer_state_answers_duplicates_gaps_and_stale_epochs()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        InitProducerIdResponse init = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4,
            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000 }, Patience);
        Assert.Equal((0, (short)0), (init.ErrorCode, init.ProducerEpoch));
        long id = init.ProducerId;

        async Task<(short Error, long Offset)> Send(short epoch, int sequence, int records)
        {
            var builder = new Protocol.Records.RecordBatchBuilder { ProducerId = id, ProducerEpoch = epoch, BaseSequence = sequence };
            for (int i = 0; i < records; i++)
            {
                builder.Add(1_700_000_000_000, "k"u8, "v"u8);
            }

            ProduceResponse r = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, builder.ToArray()), Patience);
            return (r.Responses[0].PartitionResponses[0].ErrorCode, r.Responses[0].PartitionResponses[0].BaseOffset);
        }

        Assert.Equal((0, 0L), await Send(0, 0, 3));
        Assert.Equal((0, 3L), await Send(0, 3, 2));
        Assert.Equal((0, 0L), await Send(0, 0, 3)); // a retry of the first batch: success, original offset, not stored again
        Assert.Equal((short)Protocol.ErrorCode.OutOfOrderSequenceNumber, (await Send(0, 9, 1)).Error); // gap
        InitProducerIdResponse again = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4,
            new InitProducerIdRequest { TransactionalId = null, ProducerId = id, ProducerEpoch = 0 }, Patience);
        Assert.NotEqual(id, again.ProducerId); // as Kafka: a non-transactional producer always gets a fresh id, never a bump
        Assert.Equal(0, again.ProducerEpoch);
        Assert.Equal((0, 5L), await Send(1, 0, 1));  // a new epoch starts again at sequence 0
        Assert.Equal((short)Protocol.ErrorCode.InvalidProducerEpoch, (await Send(0, 5, 1)).Error); // the old epoch is fenced

        ListOffsetsResponse end = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 5, ListOffsets(topic, -1), Patience);
        Assert.Equal(6, end.Topics[0].Partitions[0].Offset);
    }

    [Fact]
    public async Task A_batch_over_the_topic_max_message_bytes_gets_message_too_large()
    {
        string topic = BrokerFixture.UniqueTopic("large");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic
            {
                Name = topic,
                NumPartitions = 1,
                ReplicationFactor = 1,
                Configs = [new CreateTopicsRequest.CreatableTopicConfig { Name = "max.message.bytes", Value = "1000" }],
            }],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);

        ProduceResponse tooLarge = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(20, valueBytes: 100)), Patience);
        ProduceResponse small = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(2, valueBytes: 10)), Patience);

        Assert.Equal((short)Protocol.ErrorCode.MessageTooLarge, tooLarge.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal((0, 0L), (small.Responses[0].PartitionResponses[0].ErrorCode, small.Responses[0].PartitionResponses[0].BaseOffset));
    }

    [Fact]
    public async Task CreateTopics_validate_only_and_bad_requests_create_nothing()
    {
        string topic = BrokerFixture.UniqueTopic("validate");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsResponse response = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            validateOnly = true,
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 2, ReplicationFactor = 1 },
                new CreateTopicsRequest.CreatableTopic { Name = topic + "-rf", NumPartitions = 1, ReplicationFactor = 3 },
                new CreateTopicsRequest.CreatableTopic { Name = "bad name!", NumPartitions = 1, ReplicationFactor = 1 },
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = topic + "-cfg",
                    NumPartitions = 1,
                    ReplicationFactor = 1,
                    Configs = [new CreateTopicsRequest.CreatableTopicConfig { Name = "cleanup.policy", Value = "compact" }],
                },
            ],
        }, Patience);

        Assert.Equal(
            [0, (short)Protocol.ErrorCode.InvalidReplicationFactor, (short)Protocol.ErrorCode.InvalidTopicException, (short)Protocol.ErrorCode.InvalidConfig],
            response.Topics.Select(t => t.ErrorCode));
        MetadataResponse metadata = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }],
            AllowAutoTopicCreation = false,
        }, Patience);
        Assert.Equal((short)Protocol.ErrorCode.UnknownTopicOrPartition, metadata.Topics[0].ErrorCode);
    }

    private async Task<string> CreateTopicAsync()
    {
        string topic = BrokerFixture.UniqueTopic("behaviour");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
        return topic;
    }

    private static FetchRequest Fetch(string topic, long offset, int maxWaitMs) => new()
    {
        MaxWaitMs = maxWaitMs,
        MinBytes = 1,
        MaxBytes = 1 << 20,
        Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
    };

    private static ListOffsetsRequest ListOffsets(string topic, long timestamp) => new()
    {
        ReplicaId = -1,
        Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = topic, Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = timestamp }] }],
    };

    private static T Decode<T>(byte[] response, ApiKey key, short version)
        where T : IKafkaMessage, new()
    {
        var reader = new KafkaReader(response.AsMemory());
        _ = reader.ReadInt32();
        if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
        {
            reader.SkipTaggedFields();
        }

        var message = new T();
        message.Read(ref reader, version);
        Assert.False(reader.Failed);
        return message;
    }
}
