using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests;

/// <summary>A broker host with small creation limits, shared by <see cref="TopicLifecycleTests"/>.</summary>
public sealed class LimitedBrokerFixture : IAsyncLifetime
{
    public const int PerRequest = 20;
    public const int PerTopic = 16;
    public const int AutoCreate = 3;

    public BrokerFixture Broker { get; } = new()
    {
        Settings =
        [
            $"--Broker:MaxPartitionsPerRequest={PerRequest}",
            $"--Broker:MaxPartitionsPerTopic={PerTopic}",
            "--Broker:MaxPartitionsPerBroker=100000",
            $"--Broker:MaxAutoCreateTopicsPerRequest={AutoCreate}",
        ],
    };

    public ValueTask InitializeAsync() => Broker.InitializeAsync();

    public ValueTask DisposeAsync() => Broker.DisposeAsync();
}

/// <summary>
/// Topic creation, deletion and configuration over the wire: creation limits, auto-creation limits,
/// duplicates, name length, config edge values, and InitProducerId's fresh ids.
/// </summary>
public sealed class TopicLifecycleTests(LimitedBrokerFixture fixture) : IClassFixture<LimitedBrokerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private int Port => fixture.Broker.Port;

    [Fact]
    public async Task A_CreateTopics_over_the_partitions_per_request_limit_fails_whole_with_POLICY_VIOLATION()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string a = BrokerFixture.UniqueTopic("req"), b = BrokerFixture.UniqueTopic("req");
        CreateTopicsResponse response = await CreateAsync(connection, (a, 12), (b, 9));

        Assert.All(response.Topics, t => Assert.Equal((short)ErrorCode.PolicyViolation, t.ErrorCode));
        Assert.Contains("Excessively large number of partitions per request", response.Topics[0].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await MetadataAsync(connection, false, a)).Topics[0].ErrorCode);

        response = await CreateAsync(connection, (a, 12), (b, 8));
        Assert.All(response.Topics, t => Assert.Equal((short)ErrorCode.None, t.ErrorCode));
    }

    [Fact]
    public async Task A_topic_over_the_partitions_per_topic_limit_gets_INVALID_PARTITIONS_and_so_does_growing_past_it()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string name = BrokerFixture.UniqueTopic("wide");
        CreateTopicsResponse response = await CreateAsync(connection, (name, LimitedBrokerFixture.PerTopic + 1));
        Assert.Equal((short)ErrorCode.InvalidPartitions, response.Topics[0].ErrorCode);
        Assert.Contains("MaxPartitionsPerTopic", response.Topics[0].ErrorMessage, StringComparison.Ordinal);

        Assert.Equal((short)ErrorCode.None, (await CreateAsync(connection, (name, 4))).Topics[0].ErrorCode);
        CreatePartitionsResponse grown = await connection.RequestAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, new CreatePartitionsRequest
        {
            Topics = [new CreatePartitionsRequest.CreatePartitionsTopic { Name = name, Count = LimitedBrokerFixture.PerTopic + 1, Assignments = null }],
            TimeoutMs = 10_000,
        }, Patience);
        Assert.Equal((short)ErrorCode.InvalidPartitions, grown.Results[0].ErrorCode);
        Assert.Equal(4, (await MetadataAsync(connection, false, name)).Topics[0].Partitions.Count);
    }

    [Fact]
    public async Task Duplicate_names_get_INVALID_REQUEST_once_each_and_the_other_names_are_served()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string twice = BrokerFixture.UniqueTopic("dup"), once = BrokerFixture.UniqueTopic("dup");
        CreateTopicsResponse created = await CreateAsync(connection, (twice, 1), (once, 1), (twice, 2));
        Assert.Equal(2, created.Topics.Count);
        Assert.Equal((short)ErrorCode.InvalidRequest, created.Topics.Single(t => t.Name == twice).ErrorCode);
        Assert.Equal((short)ErrorCode.None, created.Topics.Single(t => t.Name == once).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await MetadataAsync(connection, false, twice)).Topics[0].ErrorCode);

        Assert.Equal((short)ErrorCode.None, (await CreateAsync(connection, (twice, 1))).Topics[0].ErrorCode);
        CreatePartitionsResponse grown = await connection.RequestAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, new CreatePartitionsRequest
        {
            Topics =
            [
                new CreatePartitionsRequest.CreatePartitionsTopic { Name = twice, Count = 3, Assignments = null },
                new CreatePartitionsRequest.CreatePartitionsTopic { Name = once, Count = 2, Assignments = null },
                new CreatePartitionsRequest.CreatePartitionsTopic { Name = twice, Count = 4, Assignments = null },
            ],
            TimeoutMs = 10_000,
        }, Patience);
        Assert.Equal(2, grown.Results.Count);
        Assert.Equal((short)ErrorCode.InvalidRequest, grown.Results.Single(r => r.Name == twice).ErrorCode);
        Assert.Equal((short)ErrorCode.None, grown.Results.Single(r => r.Name == once).ErrorCode);
        Assert.Single((await MetadataAsync(connection, false, twice)).Topics[0].Partitions);

        DeleteTopicsResponse deleted = await connection.RequestAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4,
            new DeleteTopicsRequest { TopicNames = [twice, once, twice], TimeoutMs = 10_000 }, Patience);
        Assert.Equal(2, deleted.Responses.Count);
        Assert.Equal((short)ErrorCode.InvalidRequest, deleted.Responses.Single(r => r.Name == twice).ErrorCode);
        Assert.Equal((short)ErrorCode.None, deleted.Responses.Single(r => r.Name == once).ErrorCode);
        Assert.Equal((short)ErrorCode.None, (await MetadataAsync(connection, false, twice)).Topics[0].ErrorCode);
    }

    [Fact]
    public async Task Metadata_auto_creates_only_a_few_topics_per_request_and_the_rest_on_retry()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string[] names = [.. Enumerable.Range(0, LimitedBrokerFixture.AutoCreate + 2).Select(_ => BrokerFixture.UniqueTopic("auto"))];
        MetadataResponse first = await MetadataAsync(connection, true, names);
        Assert.Equal(LimitedBrokerFixture.AutoCreate, first.Topics.Count(t => t.ErrorCode == (short)ErrorCode.None));
        Assert.Equal(2, first.Topics.Count(t => t.ErrorCode == (short)ErrorCode.LeaderNotAvailable));

        MetadataResponse second = await MetadataAsync(connection, true, names);
        Assert.All(second.Topics, t => Assert.Equal((short)ErrorCode.None, t.ErrorCode));
    }

    [Fact]
    public async Task Names_longer_than_249_characters_are_refused_by_CreateTopics_and_Metadata()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string tooLong = new('L', 250);
        Assert.Equal((short)ErrorCode.InvalidTopicException, (await CreateAsync(connection, (tooLong, 1))).Topics[0].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, (await MetadataAsync(connection, true, tooLong)).Topics[0].ErrorCode);

        string longest = string.Concat(BrokerFixture.UniqueTopic("l"), new string('L', 249)).Substring(0, 249);
        Assert.Equal((short)ErrorCode.None, (await CreateAsync(connection, (longest, LimitedBrokerFixture.PerTopic))).Topics[0].ErrorCode);
        DeleteTopicsResponse deleted = await connection.RequestAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4,
            new DeleteTopicsRequest { TopicNames = [longest], TimeoutMs = 10_000 }, Patience);
        Assert.Equal((short)ErrorCode.None, deleted.Responses[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await MetadataAsync(connection, false, longest)).Topics[0].ErrorCode);
        Assert.Empty(Directory.EnumerateDirectories(fixture.Broker.DataDirectory, longest[..100] + "*"));
    }

    [Fact]
    public async Task InitProducerId_with_an_id_and_epoch_gives_a_fresh_id_and_never_bumps_the_one_sent()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        InitProducerIdResponse first = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 3,
            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 }, Patience);
        InitProducerIdResponse stranger = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 3,
            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = 987_654_321, ProducerEpoch = 5 }, Patience);
        InitProducerIdResponse victim = await connection.RequestAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 3,
            new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = first.ProducerId, ProducerEpoch = first.ProducerEpoch }, Patience);

        Assert.Equal((short)ErrorCode.None, stranger.ErrorCode);
        Assert.NotEqual(987_654_321, stranger.ProducerId);
        Assert.Equal(0, stranger.ProducerEpoch);
        Assert.NotEqual(first.ProducerId, victim.ProducerId);
        Assert.NotEqual(stranger.ProducerId, victim.ProducerId);
        Assert.Equal(0, victim.ProducerEpoch);
    }

    [Theory]
    [InlineData("retention.ms", "9223372036854775807", ErrorCode.None)]
    [InlineData("retention.ms", "922337203685477", ErrorCode.None)]
    [InlineData("retention.ms", "-9223372036854775808", ErrorCode.InvalidConfig)]
    [InlineData("segment.ms", "9223372036854775807", ErrorCode.None)]
    [InlineData("segment.ms", "-9223372036854775808", ErrorCode.InvalidConfig)]
    [InlineData("flush.ms", "900000000000000000", ErrorCode.None)]
    [InlineData("segment.bytes", "1024", ErrorCode.None)]
    [InlineData("segment.index.bytes", "12", ErrorCode.None)]
    [InlineData("segment.ms", "1", ErrorCode.None)]
    [InlineData("segment.bytes", "99999999999", ErrorCode.InvalidConfig)]
    [InlineData("compression.type", "zstd", ErrorCode.None)]
    [InlineData("compression.type", "brotli", ErrorCode.InvalidConfig)]
    public async Task Config_values_at_the_edges_get_an_error_code_never_a_closed_connection(string name, string value, ErrorCode expected)
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string topic = BrokerFixture.UniqueTopic("cfg");
        Assert.Equal((short)ErrorCode.None, (await CreateAsync(connection, (topic, 1))).Topics[0].ErrorCode);
        IncrementalAlterConfigsResponse altered = await AlterAsync(connection, topic, (name, value));
        Assert.Equal((short)expected, altered.Responses[0].ErrorCode);

        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = topic + "-c", NumPartitions = 1, ReplicationFactor = 1,
                    Configs = [new CreateTopicsRequest.CreatableTopicConfig { Name = name, Value = value }],
                },
            ],
            timeoutMs = 10_000,
        }, Patience);
        Assert.Equal((short)expected, created.Topics[0].ErrorCode);

        DescribeConfigsResponse described = await connection.RequestAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 1, new DescribeConfigsRequest
        {
            Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = topic, ConfigurationKeys = null }],
        }, Patience);
        Assert.Equal((short)ErrorCode.None, described.Results[0].ErrorCode);
        if (name == "compression.type")
        {
            Assert.Equal(expected == ErrorCode.None ? value : "producer", described.Results[0].Configs.Single(c => c.Name == name).Value);
        }
    }

    [Fact]
    public async Task A_config_named_twice_in_IncrementalAlterConfigs_gets_INVALID_REQUEST()
    {
        using RawConnection connection = await RawConnection.OpenAsync(Port);
        string topic = BrokerFixture.UniqueTopic("cfg2");
        Assert.Equal((short)ErrorCode.None, (await CreateAsync(connection, (topic, 1))).Topics[0].ErrorCode);
        IncrementalAlterConfigsResponse altered = await AlterAsync(connection, topic, ("retention.ms", "1000"), ("retention.ms", "2000"));
        Assert.Equal((short)ErrorCode.InvalidRequest, altered.Responses[0].ErrorCode);
    }

    private static Task<CreateTopicsResponse> CreateAsync(RawConnection connection, params (string Name, int Partitions)[] topics) =>
        connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [.. topics.Select(t => new CreateTopicsRequest.CreatableTopic { Name = t.Name, NumPartitions = t.Partitions, ReplicationFactor = 1 })],
            timeoutMs = 10_000,
        }, Patience);

    private static Task<MetadataResponse> MetadataAsync(RawConnection connection, bool autoCreate, params string[] names) =>
        connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [.. names.Select(n => new MetadataRequest.MetadataRequestTopic { Name = n })],
            AllowAutoTopicCreation = autoCreate,
        }, Patience);

    private static Task<IncrementalAlterConfigsResponse> AlterAsync(RawConnection connection, string topic, params (string Name, string Value)[] configs) =>
        connection.RequestAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, new IncrementalAlterConfigsRequest
        {
            Resources =
            [
                new IncrementalAlterConfigsRequest.AlterConfigsResource
                {
                    ResourceType = 2,
                    ResourceName = topic,
                    Configs = [.. configs.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Name, ConfigOperation = 0, Value = c.Value })],
                },
            ],
        }, Patience);
}
