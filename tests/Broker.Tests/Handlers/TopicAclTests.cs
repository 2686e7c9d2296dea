using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using E = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>The topic and cluster APIs under ACLs, each with Kafka's operation and error code.</summary>
public sealed class TopicAclTests : AclHandlerTest
{
    private static CreateTopicsRequest Create(params string[] names) => new()
    {
        Topics = [.. names.Select(n => new CreateTopicsRequest.CreatableTopic { Name = n, NumPartitions = 1, ReplicationFactor = 1 })],
    };

    [Fact]
    public async Task CreateTopics_needs_Create_on_the_cluster_or_the_topic_and_shows_configs_only_with_DescribeConfigs()
    {
        Allow(AclOperation.Create, AclResourceType.Topic, "team-", AclPatternType.Prefixed);
        CreateTopicsResponse created = await SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 7, Create("team-a", "other"));
        Assert.Equal([("team-a", Code(E.None)), ("other", Code(E.TopicAuthorizationFailed))], created.Topics.Select(t => (t.Name, t.ErrorCode)));
        Assert.True(TopicExists("team-a"));
        Assert.False(TopicExists("other"));
        Assert.Equal(Code(E.TopicAuthorizationFailed), created.Topics[0].TopicConfigErrorCode); // created, configs not shown
        Assert.Empty(created.Topics[0].Configs!);
        Assert.NotEqual(Guid.Empty, created.Topics[0].TopicId);

        AllowCluster(AclOperation.Create);
        Allow(AclOperation.DescribeConfigs, AclResourceType.Topic, "other");
        created = await SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 7, Create("other"));
        Assert.Equal(0, Assert.Single(created.Topics).ErrorCode);
        Assert.Equal(0, created.Topics[0].TopicConfigErrorCode);
        Assert.NotEmpty(created.Topics[0].Configs!);
    }

    [Fact]
    public async Task DeleteTopics_tells_unknown_from_denied_only_to_principals_with_Describe()
    {
        MakeTopic("kept");
        MakeTopic("gone");
        Allow(AclOperation.Describe, AclResourceType.Topic, "kept");
        Allow(AclOperation.Describe, AclResourceType.Topic, "missing-visible");
        Allow(AclOperation.Delete, AclResourceType.Topic, "gone");
        DeleteTopicsResponse response = await SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 5,
            new DeleteTopicsRequest { TopicNames = ["kept", "gone", "missing-visible", "missing-hidden"] });
        Assert.Equal([("kept", Code(E.TopicAuthorizationFailed)), ("gone", Code(E.None)), ("missing-visible", Code(E.UnknownTopicOrPartition)),
            ("missing-hidden", Code(E.TopicAuthorizationFailed))], response.Responses.Select(r => (r.Name!, r.ErrorCode)));
        Assert.True(TopicExists("kept"));
        Assert.False(TopicExists("gone"));

        Guid id = TopicId("kept");
        Deny(AclOperation.Describe, AclResourceType.Topic, "kept");
        DeleteTopicsResponse byId = await SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 6, new DeleteTopicsRequest { Topics = [new DeleteTopicsRequest.DeleteTopicState { TopicId = id }] });
        Assert.Equal((null, Code(E.TopicAuthorizationFailed)), (byId.Responses[0].Name, byId.Responses[0].ErrorCode)); // its name withheld

        AllowCluster(AclOperation.Delete);
        response = await SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 5, new DeleteTopicsRequest { TopicNames = ["kept"] });
        Assert.Equal(0, Assert.Single(response.Responses).ErrorCode);
    }

    [Fact]
    public async Task CreatePartitions_needs_Alter_ListOffsets_Describe_and_DeleteRecords_Delete_on_the_topic()
    {
        MakeTopic("t");
        Allow(AclOperation.Describe, AclResourceType.Topic, "t");
        var grow = new CreatePartitionsRequest { Topics = [new CreatePartitionsRequest.CreatePartitionsTopic { Name = "t", Count = 2, Assignments = null }] };
        Assert.Equal(Code(E.TopicAuthorizationFailed), Assert.Single((await SendAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 3, grow)).Results).ErrorCode);
        Allow(AclOperation.Alter, AclResourceType.Topic, "t");
        Assert.Equal(0, Assert.Single((await SendAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 3, grow)).Results).ErrorCode);

        var list = new ListOffsetsRequest { ReplicaId = -1, Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = "t", Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = 0, Timestamp = -1 }] }] };
        Assert.Equal(0, (await SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, list)).Topics[0].Partitions[0].ErrorCode);
        Deny(AclOperation.Describe, AclResourceType.Topic, "t");
        Assert.Equal(Code(E.TopicAuthorizationFailed), (await SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, list)).Topics[0].Partitions[0].ErrorCode);

        var delete = new DeleteRecordsRequest { Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = "t", Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = 0 }] }] };
        Assert.Equal(Code(E.TopicAuthorizationFailed), (await SendAsync<DeleteRecordsResponse>(ApiKey.DeleteRecords, 2, delete)).Topics[0].Partitions[0].ErrorCode);
        Allow(AclOperation.Delete, AclResourceType.Topic, "t");
        Assert.Equal(0, (await SendAsync<DeleteRecordsResponse>(ApiKey.DeleteRecords, 2, delete)).Topics[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public async Task Configs_need_DescribeConfigs_and_AlterConfigs_on_the_topic_or_for_the_broker_the_cluster()
    {
        MakeTopic("t");
        DescribeConfigsResponse described = await SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, new DescribeConfigsRequest
        {
            Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = "t" }, new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 4, ResourceName = "" },
                new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = "absent" }],
        });
        Assert.Equal([Code(E.TopicAuthorizationFailed), Code(E.ClusterAuthorizationFailed), Code(E.TopicAuthorizationFailed)], described.Results.Select(r => r.ErrorCode));
        Assert.All(described.Results, r => Assert.Empty(r.Configs));

        var alter = new AlterConfigsRequest { Resources = [new AlterConfigsRequest.AlterConfigsResource { ResourceType = 2, ResourceName = "t", Configs = [new AlterConfigsRequest.AlterableConfig { Name = "retention.ms", Value = "1000" }] }] };
        var incremental = new IncrementalAlterConfigsRequest
        {
            Resources = [new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = 4, ResourceName = "", Configs = [new IncrementalAlterConfigsRequest.AlterableConfig { Name = "x", Value = "1" }] }],
        };
        Assert.Equal(Code(E.TopicAuthorizationFailed), (await SendAsync<AlterConfigsResponse>(ApiKey.AlterConfigs, 2, alter)).Responses[0].ErrorCode);
        Assert.Equal(Code(E.ClusterAuthorizationFailed), (await SendAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, incremental)).Responses[0].ErrorCode);

        Allow(AclOperation.AlterConfigs, AclResourceType.Topic, "t"); // implies DescribeConfigs
        AllowCluster(AclOperation.AlterConfigs);
        Assert.Equal(0, (await SendAsync<AlterConfigsResponse>(ApiKey.AlterConfigs, 2, alter)).Responses[0].ErrorCode);
        Assert.Equal(Code(E.InvalidRequest), (await SendAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, incremental)).Responses[0].ErrorCode); // past the ACL: broker configs are static
        described = await SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, DescribeConfigsHandlerTests.Query(2, "t", "retention.ms"));
        Assert.Equal("1000", Assert.Single(Assert.Single(described.Results).Configs).Value);
    }

    [Fact]
    public async Task InitProducerId_needs_IdempotentWrite_on_the_cluster_or_Write_on_some_topic()
    {
        var init = new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000 };
        Assert.Equal(Code(E.ClusterAuthorizationFailed), (await SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, init)).ErrorCode);
        Allow(AclOperation.Write, AclResourceType.Topic, "logs-", AclPatternType.Prefixed);
        InitProducerIdResponse allowed = await SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, init);
        Assert.Equal(0, allowed.ErrorCode);
        Assert.True(allowed.ProducerId >= 0);

        Deny(AclOperation.Write, AclResourceType.Topic, "log", AclPatternType.Prefixed); // covers every name the Allow covers
        Assert.Equal(Code(E.ClusterAuthorizationFailed), (await SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, init)).ErrorCode);
        AllowCluster(AclOperation.IdempotentWrite);
        Assert.Equal(0, (await SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, init)).ErrorCode);

        var transactional = new InitProducerIdRequest { TransactionalId = "tx", TransactionTimeoutMs = 60_000 };
        Assert.Equal(Code(E.TransactionalIdAuthorizationFailed), (await SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, transactional)).ErrorCode);
    }

    [Fact]
    public async Task DescribeLogDirs_and_the_SCRAM_APIs_need_the_cluster_and_DescribeCluster_shows_the_operations()
    {
        MakeTopic("t");
        DescribeLogDirsResponse dirs = await SendAsync<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, 4, new DescribeLogDirsRequest { Topics = null });
        Assert.Equal((Code(E.ClusterAuthorizationFailed), 0), (dirs.ErrorCode, dirs.Results.Count));
        var users = new DescribeUserScramCredentialsRequest { Users = null };
        Assert.Equal(Code(E.ClusterAuthorizationFailed), (await SendAsync<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, 0, users)).ErrorCode);
        var alterUsers = new AlterUserScramCredentialsRequest { Deletions = [new AlterUserScramCredentialsRequest.ScramCredentialDeletion { Name = "bob", Mechanism = 1 }] };
        Assert.Equal(Code(E.ClusterAuthorizationFailed), Assert.Single((await SendAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0, alterUsers)).Results).ErrorCode);
        DescribeClusterResponse cluster = await SendAsync<DescribeClusterResponse>(ApiKey.DescribeCluster, 1, new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true });
        Assert.Equal((0, int.MinValue), (cluster.ErrorCode, cluster.ClusterAuthorizedOperations)); // answered, as Kafka does, without the operations

        AllowCluster(AclOperation.Describe);
        AllowCluster(AclOperation.Alter);
        dirs = await SendAsync<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, 4, new DescribeLogDirsRequest { Topics = null });
        Assert.Equal(0, dirs.ErrorCode);
        Assert.Equal("t", Assert.Single(Assert.Single(dirs.Results).Topics).Name);
        Assert.Equal(0, (await SendAsync<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, 0, users)).ErrorCode);
        Assert.Equal(Code(E.ResourceNotFound), Assert.Single((await SendAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0, alterUsers)).Results).ErrorCode);
        cluster = await SendAsync<DescribeClusterResponse>(ApiKey.DescribeCluster, 1, new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true });
        Assert.Equal((1 << (int)AclOperation.Describe) | (1 << (int)AclOperation.Alter), cluster.ClusterAuthorizedOperations);
    }

    [Fact]
    public async Task Metadata_auto_creates_only_with_Create_and_answers_TOPIC_AUTHORIZATION_FAILED_without()
    {
        Allow(AclOperation.Describe, AclResourceType.Topic, "auto-", AclPatternType.Prefixed);
        MetadataResponse response = await SendAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = "auto-a" }],
            AllowAutoTopicCreation = true,
        });
        Assert.Equal(Code(E.TopicAuthorizationFailed), Assert.Single(response.Topics).ErrorCode);
        Assert.False(TopicExists("auto-a"));

        Allow(AclOperation.Create, AclResourceType.Topic, "auto-a");
        response = await SendAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = "auto-a" }, new MetadataRequest.MetadataRequestTopic { Name = "secret" }],
            AllowAutoTopicCreation = true,
        });
        Assert.Equal([("auto-a", Code(E.None)), ("secret", Code(E.TopicAuthorizationFailed))], response.Topics.Select(t => (t.Name!, t.ErrorCode)));
        Assert.True(TopicExists("auto-a"));
        AllowCluster(AclOperation.Create);
        response = await SendAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = "secret" }],
            AllowAutoTopicCreation = true,
        });
        Assert.Equal(Code(E.TopicAuthorizationFailed), Assert.Single(response.Topics).ErrorCode);
        Assert.False(TopicExists("secret")); // no Describe: never created, whatever Create allows
    }
}
