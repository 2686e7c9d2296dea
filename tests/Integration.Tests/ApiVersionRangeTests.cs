using Confluent.Kafka;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;
using KafkaError = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Integration.Tests;

/// <summary>
/// The versions added to reach Kafka 3.9's ranges (issue 16): each one is advertised and answered with
/// the behaviour its version defines, over raw connections and with real old clients.
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class ApiVersionRangeTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task ApiVersions_v4_advertises_Kafka_39_ranges_except_the_message_format_v0_v1_versions()
    {
        Dictionary<ApiKey, (short Min, short Max)> ranges = await RawConnection.AdvertisedRangesAsync(broker.Port, 4, Patience);
        (short Min, short Max) Range(ApiKey key) => ranges[key];
        Assert.Equal(((short)0, (short)4), Range(ApiKey.ApiVersions));
        Assert.Equal(((short)3, (short)11), Range(ApiKey.Produce));
        Assert.Equal(((short)4, (short)17), Range(ApiKey.Fetch));
        Assert.Equal(((short)0, (short)9), Range(ApiKey.ListOffsets));
        Assert.Equal(((short)0, (short)6), Range(ApiKey.FindCoordinator));
        Assert.Equal(((short)0, (short)4), Range(ApiKey.Heartbeat));
        Assert.Equal(((short)0, (short)5), Range(ApiKey.LeaveGroup));
        Assert.Equal(((short)0, (short)3), Range(ApiKey.CreatePartitions));
        Assert.Equal(((short)0, (short)5), Range(ApiKey.InitProducerId));
        Assert.Equal(((short)0, (short)4), Range(ApiKey.DescribeLogDirs));
        Assert.Equal(((short)0, (short)7), Range(ApiKey.CreateTopics));
        Assert.Equal(((short)0, (short)6), Range(ApiKey.DeleteTopics));
        Assert.Equal(((short)0, (short)4), Range(ApiKey.DescribeConfigs));
        Assert.Equal(((short)0, (short)9), Range(ApiKey.JoinGroup));
        Assert.Equal(((short)0, (short)5), Range(ApiKey.SyncGroup));
    }

    [Fact]
    public async Task ListOffsets_v0_answers_old_style_offsets_newest_first_from_the_segments()
    {
        // Small segments, so the log has several: v0's candidates are their base offsets and the end.
        string topic = await CreateTopicAsync(("segment.bytes", "1024"));
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        for (int i = 0; i < 6; i++)
        {
            ProduceResponse produced = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(5, valueBytes: 100)), Patience);
            Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);
        }

        MetadataResponse metadata = await MetadataAsync(connection, topic);
        Assert.Equal(0, metadata.Topics[0].ErrorCode);
        long[] bases = [.. SegmentBases(topic)];
        Assert.True(bases.Length >= 3, $"expected several segments, got {bases.Length}");
        long end = 30;

        long[] latestOne = await V0Async(connection, topic, -1, 1);
        long[] latestAll = await V0Async(connection, topic, -1, 100);
        long[] earliest = await V0Async(connection, topic, -2, 100);
        long[] beforeEpoch = await V0Async(connection, topic, 0, 100);
        long[] beforeNow = await V0Async(connection, topic, DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds(), 2);

        Assert.Equal([end], latestOne);
        Assert.Equal([end, .. bases.Reverse()], latestAll); // newest first, as Kafka's legacyFetchOffsetsBefore
        Assert.Equal([0L], earliest);
        Assert.Empty(beforeEpoch); // no segment was modified before 1970
        Assert.Equal([end, bases[^1]], beforeNow); // at most max_num_offsets

        // v0 knows only -1 and -2 among the negative specs; an unknown partition is named as such.
        ListOffsetsResponse maxTimestamp = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 0, ListOffsets(topic, 0, -3, 1), Patience);
        ListOffsetsResponse missing = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 0, ListOffsets(topic, 7, -1, 1), Patience);
        Assert.Equal((short)KafkaError.UnsupportedVersion, maxTimestamp.Topics[0].Partitions[0].ErrorCode);
        Assert.Equal((short)KafkaError.UnknownTopicOrPartition, missing.Topics[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public async Task ListOffsets_v8_earliest_local_is_the_log_start_and_v9_latest_tiered_is_none()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(10)), Patience);
        DeleteRecordsResponse deleted = await connection.RequestAsync<DeleteRecordsResponse>(ApiKey.DeleteRecords, 2, new DeleteRecordsRequest
        {
            TimeoutMs = 5000,
            Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = topic, Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = 4 }] }],
        }, Patience);
        Assert.Equal(0, deleted.Topics[0].Partitions[0].ErrorCode);

        ListOffsetsResponse local = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 8, ListOffsets(topic, 0, -4, 1), Patience);
        ListOffsetsResponse tiered = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 9, ListOffsets(topic, 0, -5, 1), Patience);
        ListOffsetsResponse unknownSpec = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 9, ListOffsets(topic, 0, -6, 1), Patience);

        ListOffsetsResponse.ListOffsetsPartitionResponse l = local.Topics[0].Partitions[0], t = tiered.Topics[0].Partitions[0];
        Assert.Equal((0, 4L, -1L), (l.ErrorCode, l.Offset, l.Timestamp));
        Assert.Equal((0, -1L, -1L, -1), (t.ErrorCode, t.Offset, t.Timestamp, t.LeaderEpoch));
        Assert.Equal((short)KafkaError.InvalidRequest, unknownSpec.Topics[0].Partitions[0].ErrorCode);
    }

    [Theory]
    [InlineData(13)]
    [InlineData(15)]
    [InlineData(17)]
    public async Task Fetch_v13_and_later_reads_a_topic_by_its_id_and_answers_UNKNOWN_TOPIC_ID_for_any_other(short version)
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(3)), Patience);
        Guid id = (await MetadataAsync(connection, topic)).Topics[0].TopicId;
        Assert.NotEqual(Guid.Empty, id);

        FetchResponse found = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, version, FetchById(id), Patience);
        FetchResponse unknown = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, version, FetchById(Guid.NewGuid()), Patience);
        FetchResponse zero = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, version, FetchById(Guid.Empty), Patience);

        Assert.Equal(id, found.Responses[0].TopicId);
        FetchResponse.PartitionData data = found.Responses[0].Partitions[0];
        Assert.Equal((0, 3L), (data.ErrorCode, data.HighWatermark));
        Assert.Equal(3, Batches.Split(data.Records!.Value.Span).Single().Records);
        Assert.Equal((short)KafkaError.UnknownTopicId, unknown.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal(-1, unknown.Responses[0].Partitions[0].HighWatermark);
        Assert.Equal((short)KafkaError.UnknownTopicId, zero.Responses[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public async Task Confluent_consumers_fetch_by_topic_id_with_Fetch_v13_or_later()
    {
        string topic = await CreateTopicAsync();
        using (RawConnection connection = await RawConnection.OpenAsync(broker.Port))
        {
            await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(5)), Patience);
        }

        var sent = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using IConsumer<byte[], byte[]> consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = "unused-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            Debug = "protocol",
        }).SetLogHandler((_, log) =>
        {
            if (log.Message.Contains("Sent FetchRequest", StringComparison.Ordinal))
            {
                sent.Enqueue(log.Message);
            }
        }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, 0));
        for (int i = 0; i < 5; i++)
        {
            Assert.NotNull(consumer.Consume(Patience));
        }

        Assert.NotEmpty(sent);
        Assert.All(sent, line => Assert.Matches(@"FetchRequest \(v1[3-7],", line));
    }

    [Fact]
    public async Task Fetch_by_id_of_a_deleted_topic_recreated_under_its_name_gets_UNKNOWN_TOPIC_ID()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        Guid old = (await MetadataAsync(connection, topic)).Topics[0].TopicId;
        DeleteTopicsResponse deleted = await connection.RequestAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4, new DeleteTopicsRequest { TopicNames = [topic] }, Patience);
        Assert.Equal(0, deleted.Responses[0].ErrorCode);
        await CreateTopicAsync(topic);
        await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce(topic, 0, Batches.Create(2)), Patience);
        Guid current = (await MetadataAsync(connection, topic)).Topics[0].TopicId;

        FetchResponse byOld = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 16, FetchById(old), Patience);
        FetchResponse byCurrent = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 16, FetchById(current), Patience);

        Assert.NotEqual(old, current);
        Assert.Equal((short)KafkaError.UnknownTopicId, byOld.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal((0, 2L), (byCurrent.Responses[0].Partitions[0].ErrorCode, byCurrent.Responses[0].Partitions[0].HighWatermark));
    }

    [Fact]
    public async Task Transactions_are_refused_by_InitProducerId_as_not_supported_and_share_groups_have_no_coordinator()
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        FindCoordinatorResponse txn = await connection.RequestAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 2,
            new FindCoordinatorRequest { Key = "txn-1", KeyType = 1 }, Patience);
        FindCoordinatorResponse txnBatched = await connection.RequestAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4,
            new FindCoordinatorRequest { KeyType = 1, CoordinatorKeys = ["txn-1", "txn-2"] }, Patience);
        FindCoordinatorResponse share = await connection.RequestAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 6,
            new FindCoordinatorRequest { KeyType = 2, CoordinatorKeys = ["share-1"] }, Patience);
        FindCoordinatorResponse shareTooOld = await connection.RequestAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 5,
            new FindCoordinatorRequest { KeyType = 2, CoordinatorKeys = ["share-1"] }, Patience);
        FindCoordinatorResponse group = await connection.RequestAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 6,
            new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = ["g"] }, Patience);
        InitProducerIdResponse init = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 5,
            new InitProducerIdRequest { TransactionalId = "txn-1", TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 }, Patience);
        InitProducerIdResponse idempotent = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 5,
            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 }, Patience);

        // The coordinator lookup succeeds (see FindCoordinatorHandler); InitProducerId refuses.
        Assert.Equal((0, broker.Port), (txn.ErrorCode, txn.Port));
        Assert.All(txnBatched.Coordinators, c => Assert.Equal((0, broker.Port), (c.ErrorCode, c.Port)));
        Assert.Equal((short)KafkaError.CoordinatorNotAvailable, share.Coordinators.Single().ErrorCode);
        Assert.Equal((short)KafkaError.InvalidRequest, shareTooOld.Coordinators.Single().ErrorCode);
        Assert.Equal((0, broker.Port), (group.Coordinators.Single().ErrorCode, group.Coordinators.Single().Port));
        Assert.Equal(((short)KafkaError.UnsupportedVersion, -1L), (init.ErrorCode, init.ProducerId));
        Assert.Equal(0, idempotent.ErrorCode);
        Assert.True(idempotent.ProducerId >= 0);
    }

    [Fact]
    public void Confluent_InitTransactions_fails_with_a_not_supported_error()
    {
        using IProducer<byte[], byte[]> producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = broker.Bootstrap,
            TransactionalId = "txn-" + Guid.NewGuid().ToString("N"),
        }).Build();

        KafkaException error = Assert.ThrowsAny<KafkaException>(() => producer.InitTransactions(TimeSpan.FromSeconds(5)));

        // librdkafka retries InitProducerId until the call's timeout, then reports the broker's error.
        Assert.Equal(Confluent.Kafka.ErrorCode.UnsupportedVersion, error.Error.Code);
        Assert.Contains("API version not supported", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_other_added_versions_are_answered()
    {
        string topic = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        ProduceResponse produced = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 11, RequestFrames.Produce(topic, 0, Batches.Create(2)), Patience);
        CreatePartitionsResponse grown = await connection.RequestAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 3, new CreatePartitionsRequest
        {
            TimeoutMs = 5000,
            Topics = [new CreatePartitionsRequest.CreatePartitionsTopic { Name = topic, Count = 2, Assignments = null }],
        }, Patience);
        DescribeLogDirsResponse dirs = await connection.RequestAsync<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, 0, new DescribeLogDirsRequest
        {
            Topics = [new DescribeLogDirsRequest.DescribableLogDirTopic { Topic = topic, Partitions = [0] }],
        }, Patience);
        HeartbeatResponse heartbeat = await connection.RequestAsync<HeartbeatResponse>(ApiKey.Heartbeat, 4, new HeartbeatRequest
        {
            GroupId = "no-such-group-" + Guid.NewGuid().ToString("N"),
            GenerationId = 1,
            MemberId = "m",
        }, Patience);
        LeaveGroupResponse left = await connection.RequestAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 5, new LeaveGroupRequest
        {
            GroupId = "no-such-group-" + Guid.NewGuid().ToString("N"),
            Members = [new LeaveGroupRequest.MemberIdentity { MemberId = "m", Reason = "test" }],
        }, Patience);

        Assert.Equal((0, 0L), (produced.Responses[0].PartitionResponses[0].ErrorCode, produced.Responses[0].PartitionResponses[0].BaseOffset));
        Assert.Equal(0, grown.Results[0].ErrorCode);
        Assert.True(dirs.Results.Single().Topics.Single().Partitions.Single().PartitionSize > 0);
        Assert.NotEqual(0, heartbeat.ErrorCode); // the group does not exist: an error, in v4's flexible encoding
        Assert.NotEqual(0, left.ErrorCode + left.Members.Sum(m => m.ErrorCode));
    }

    [Fact]
    public async Task DeleteTopics_v6_deletes_by_id_and_refuses_what_Kafkas_controller_refuses()
    {
        string byId = await CreateTopicAsync();
        string byName = await CreateTopicAsync();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        Guid id = (await MetadataAsync(connection, byId)).Topics[0].TopicId;
        Guid unknown = Guid.NewGuid();

        DeleteTopicsResponse response = await connection.RequestAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 6, new DeleteTopicsRequest
        {
            TimeoutMs = 5000,
            Topics =
            [
                new DeleteTopicsRequest.DeleteTopicState { Name = null, TopicId = id },
                new DeleteTopicsRequest.DeleteTopicState { Name = byName, TopicId = Guid.Empty },
                new DeleteTopicsRequest.DeleteTopicState { Name = null, TopicId = unknown },
                new DeleteTopicsRequest.DeleteTopicState { Name = "both", TopicId = Guid.NewGuid() },
                new DeleteTopicsRequest.DeleteTopicState { Name = null, TopicId = Guid.Empty },
                new DeleteTopicsRequest.DeleteTopicState { Name = "missing-" + Guid.NewGuid().ToString("N"), TopicId = Guid.Empty },
            ],
        }, Patience);

        DeleteTopicsResponse.DeletableTopicResult[] r = [.. response.Responses];
        Assert.Equal(6, r.Length);
        Assert.Equal((byId, id, (short)0, (string?)null), (r[0].Name, r[0].TopicId, r[0].ErrorCode, r[0].ErrorMessage));
        Assert.Equal((byName, (short)0), (r[1].Name, r[1].ErrorCode));
        Assert.Equal((null, unknown, (short)KafkaError.UnknownTopicId), (r[2].Name, r[2].TopicId, r[2].ErrorCode));
        Assert.Equal((short)KafkaError.InvalidRequest, r[3].ErrorCode);
        Assert.Equal((short)KafkaError.InvalidRequest, r[4].ErrorCode);
        Assert.Equal((short)KafkaError.UnknownTopicOrPartition, r[5].ErrorCode);
        Assert.NotNull(r[5].ErrorMessage); // v5+ carry the message
        MetadataResponse after = await MetadataAsync(connection, byId);
        Assert.Equal((short)KafkaError.UnknownTopicOrPartition, after.Topics[0].ErrorCode);
    }

    [Fact]
    public async Task CreateTopics_v7_answers_partitions_configs_and_the_topic_id()
    {
        string topic = BrokerFixture.UniqueTopic("versions");
        string checkedOnly = BrokerFixture.UniqueTopic("versions");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsRequest Request(string name, bool validateOnly) => new()
        {
            timeoutMs = 5000,
            validateOnly = validateOnly,
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = name,
                    NumPartitions = 3,
                    ReplicationFactor = -1,
                    Configs =
                    [
                        new CreateTopicsRequest.CreatableTopicConfig { Name = "retention.ms", Value = "3600000" },
                        new CreateTopicsRequest.CreatableTopicConfig { Name = "compression.type", Value = "zstd" },
                    ],
                },
            ],
        };

        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 7, Request(topic, false), Patience);
        CreateTopicsResponse validated = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 5, Request(checkedOnly, true), Patience);
        CreateTopicsResponse again = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 7, Request(topic, false), Patience);

        CreateTopicsResponse.CreatableTopicResult c = created.Topics.Single();
        Assert.Equal((0, 3, (short)1), (c.ErrorCode, c.NumPartitions, c.ReplicationFactor));
        Assert.Equal((await MetadataAsync(connection, topic)).Topics[0].TopicId, c.TopicId);
        Assert.NotEqual(Guid.Empty, c.TopicId);
        CreateTopicsResponse.CreatableTopicConfigs Config(CreateTopicsResponse.CreatableTopicResult r, string name) => r.Configs!.Single(x => x.Name == name);
        Assert.Equal(("3600000", (sbyte)1), (Config(c, "retention.ms").Value, Config(c, "retention.ms").ConfigSource));
        Assert.Equal(("zstd", (sbyte)1), (Config(c, "compression.type").Value, Config(c, "compression.type").ConfigSource));
        Assert.Equal((sbyte)5, Config(c, "segment.bytes").ConfigSource);

        CreateTopicsResponse.CreatableTopicResult v = validated.Topics.Single();
        Assert.Equal((0, 3), (v.ErrorCode, v.NumPartitions));
        Assert.Equal("3600000", Config(v, "retention.ms").Value);
        Assert.Equal("zstd", Config(v, "compression.type").Value);
        Assert.Equal((short)KafkaError.UnknownTopicOrPartition, (await MetadataAsync(connection, checkedOnly)).Topics[0].ErrorCode);

        CreateTopicsResponse.CreatableTopicResult a = again.Topics.Single();
        Assert.Equal(((short)KafkaError.TopicAlreadyExists, -1, (short)-1), (a.ErrorCode, a.NumPartitions, a.ReplicationFactor));
    }

    [Fact]
    public async Task DescribeConfigs_v3_and_v4_give_config_types_and_documentation_when_asked()
    {
        string topic = await CreateTopicAsync(("retention.ms", "3600000"));
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        DescribeConfigsRequest Request(bool documentation) => new()
        {
            IncludeDocumentation = documentation,
            Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = topic, ConfigurationKeys = null }],
        };

        DescribeConfigsResponse withDocs = await connection.RequestAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, Request(true), Patience);
        DescribeConfigsResponse without = await connection.RequestAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 3, Request(false), Patience);

        DescribeConfigsResponse.DescribeConfigsResourceResult retention = withDocs.Results[0].Configs.Single(c => c.Name == "retention.ms");
        Assert.Equal(("3600000", (sbyte)5), (retention.Value, retention.ConfigType)); // LONG
        Assert.False(string.IsNullOrEmpty(retention.Documentation));
        Assert.Equal((sbyte)7, withDocs.Results[0].Configs.Single(c => c.Name == "cleanup.policy").ConfigType); // LIST
        Assert.Equal((sbyte)3, withDocs.Results[0].Configs.Single(c => c.Name == "segment.bytes").ConfigType); // INT
        Assert.All(withDocs.Results[0].Configs, c => Assert.NotEqual((sbyte)0, c.ConfigType));
        Assert.All(without.Results[0].Configs, c => Assert.Null(c.Documentation));
    }

    [Fact]
    public async Task A_classic_group_forms_with_JoinGroup_v6_and_SyncGroup_v4()
    {
        string group = "versions-group-" + Guid.NewGuid().ToString("N");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        JoinGroupRequest Join(string memberId) => new()
        {
            GroupId = group,
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            MemberId = memberId,
            GroupInstanceId = null,
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 1, 2 } }],
        };

        JoinGroupResponse first = await connection.RequestAsync<JoinGroupResponse>(ApiKey.JoinGroup, 6, Join(""), Patience);
        Assert.Equal((short)KafkaError.MemberIdRequired, first.ErrorCode); // KIP-394, v4+
        JoinGroupResponse joined = await connection.RequestAsync<JoinGroupResponse>(ApiKey.JoinGroup, 6, Join(first.MemberId), Patience);
        SyncGroupResponse synced = await connection.RequestAsync<SyncGroupResponse>(ApiKey.SyncGroup, 4, new SyncGroupRequest
        {
            GroupId = group,
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            GroupInstanceId = null,
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 9, 8, 7 } }],
        }, Patience);

        Assert.Equal((0, "range", joined.MemberId), (joined.ErrorCode, joined.ProtocolName, joined.Leader));
        Assert.Equal([0, 1, 2], joined.Members.Single().Metadata.ToArray());
        Assert.Equal(0, synced.ErrorCode);
        Assert.Equal([9, 8, 7], synced.Assignment.ToArray());
    }

    /// <summary>
    /// kafka-python 2.0.2 (Debian python3-kafka) told it talks to Kafka 0.10.0 resets positions with
    /// ListOffsets v0 (max_num_offsets 1) and reads <c>old_style_offsets</c>: a real client of v0.
    /// </summary>
    [Fact]
    public async Task Kafka_python_as_a_0_10_0_client_resets_positions_with_ListOffsets_v0()
    {
        Assert.SkipUnless(KafkaPython.Available(), KafkaPython.Missing);
        string topic = await CreateTopicAsync();
        using (RawConnection connection = await RawConnection.OpenAsync(broker.Port))
        {
            await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, RequestFrames.Produce(topic, 0, Batches.Create(7)), Patience);
        }

        string script = $$"""
            from kafka import KafkaConsumer, TopicPartition
            c = KafkaConsumer(bootstrap_servers='127.0.0.1:{{broker.Port}}', api_version=(0, 10, 0),
                              auto_offset_reset='latest', enable_auto_commit=False, group_id=None,
                              request_timeout_ms=15000, consumer_timeout_ms=1000)
            tp = TopicPartition('{{topic}}', 0)
            c.assign([tp])
            latest = c.position(tp)
            c.seek_to_beginning(tp)
            print(latest, c.position(tp))
            c.close()
            """;
        int exit = KafkaPython.Run(script, out string output, timeoutMs: 60_000);

        Assert.True(exit == 0, output);
        Assert.Equal("7 0", output.Trim().Split('\n')[^1].Trim());
    }

    private IReadOnlyList<long> SegmentBases(string topic) =>
        broker.Service<Broker.Metadata.TopicRegistry>().Partition(topic, 0)!.SegmentBaseOffsets;

    private static async Task<long[]> V0Async(RawConnection connection, string topic, long timestamp, int max)
    {
        ListOffsetsResponse response = await connection.RequestAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 0, ListOffsets(topic, 0, timestamp, max), Patience);
        Assert.Equal(0, response.Topics[0].Partitions[0].ErrorCode);
        return [.. response.Topics[0].Partitions[0].OldStyleOffsets];
    }

    private static Task<MetadataResponse> MetadataAsync(RawConnection connection, string topic) =>
        connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }],
            AllowAutoTopicCreation = false,
        }, Patience);

    private async Task<string> CreateTopicAsync(params (string Name, string Value)[] configs) =>
        await CreateTopicAsync(BrokerFixture.UniqueTopic("versions"), configs);

    private async Task<string> CreateTopicAsync(string topic, params (string Name, string Value)[] configs)
    {
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
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
        return topic;
    }

    private static FetchRequest FetchById(Guid id) => new()
    {
        ReplicaId = -1,
        ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = -1, ReplicaEpoch = -1 },
        MaxWaitMs = 0,
        MinBytes = 1,
        MaxBytes = 1 << 20,
        SessionEpoch = -1,
        Topics = [new FetchRequest.FetchTopic { TopicId = id, Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20, LastFetchedEpoch = -1, CurrentLeaderEpoch = -1 }] }],
    };

    private static ListOffsetsRequest ListOffsets(string topic, int partition, long timestamp, int maxNumOffsets) => new()
    {
        ReplicaId = -1,
        Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = topic, Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = timestamp, MaxNumOffsets = maxNumOffsets, CurrentLeaderEpoch = -1 }] }],
    };
}
