using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Integration.Tests.Security;

/// <summary>
/// The checks beyond Produce, Fetch and Metadata, on a real broker over SASL_PLAINTEXT/SCRAM with
/// Confluent.Kafka: a group without ACLs refused on subscribe and on commit, topic creation refused and
/// allowed by a prefixed Create, and a cluster-level call refused.
/// </summary>
public sealed class AclEnforcementTests(AclBroker fixture) : IClassFixture<AclBroker>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ClientConfig As(string user) => new()
    {
        BootstrapServers = $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}",
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha256,
        SaslUsername = user,
        SaslPassword = user == SecureBroker.AdminUser ? SecureBroker.AdminPassword : "pw-" + user,
        SocketTimeoutMs = 10_000,
    };

    private IAdminClient Admin(string user = SecureBroker.AdminUser) => new AdminClientBuilder(As(user)).Build();

    private static AclBinding Acl(ResourceType type, string name, string user, AclOperation operation, ResourcePatternType pattern = ResourcePatternType.Literal) => new()
    {
        Pattern = new ResourcePattern { Type = type, Name = name, ResourcePatternType = pattern },
        Entry = new AccessControlEntry { Principal = "User:" + user, Host = "*", Operation = operation, PermissionType = AclPermissionType.Allow },
    };

    private async Task UserAsync(string user, params AclBinding[] acls)
    {
        using IAdminClient admin = Admin();
        await ConfluentSecurityTests.CreateUserAsync(admin, user, "pw-" + user);
        if (acls.Length > 0)
        {
            await admin.CreateAclsAsync(acls);
        }
    }

    [Fact]
    public async Task A_consumer_without_Read_on_its_group_gets_GROUP_AUTHORIZATION_FAILED_on_subscribe_and_on_commit()
    {
        string topic = BrokerFixture.UniqueTopic("acl-grp");
        using (IAdminClient admin = Admin())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        }

        await UserAsync("grouper", Acl(ResourceType.Topic, topic, "grouper", AclOperation.Read));
        var config = new ConsumerConfig(As("grouper")) { GroupId = "forbidden-group", EnableAutoCommit = false, AutoOffsetReset = AutoOffsetReset.Earliest };
        using (IConsumer<Ignore, string> consumer = new ConsumerBuilder<Ignore, string>(config).Build())
        {
            consumer.Subscribe(topic);
            var refused = Assert.Throws<ConsumeException>(() =>
            {
                for (int i = 0; i < 20; i++)
                {
                    consumer.Consume(TimeSpan.FromSeconds(1));
                }
            });
            Assert.Equal(ErrorCode.GroupAuthorizationFailed, refused.Error.Code);
            consumer.Close();
        }

        // With Describe only, FindCoordinator answers; JoinGroup and OffsetCommit (Read) are refused.
        using (IAdminClient admin = Admin())
        {
            await admin.CreateAclsAsync([Acl(ResourceType.Group, "forbidden-group", "grouper", AclOperation.Describe)]);
        }

        using (IConsumer<Ignore, string> joining = new ConsumerBuilder<Ignore, string>(config).Build())
        {
            joining.Subscribe(topic);
            var refused = Assert.Throws<ConsumeException>(() =>
            {
                for (int i = 0; i < 20; i++)
                {
                    joining.Consume(TimeSpan.FromSeconds(1));
                }
            });
            Assert.Equal(ErrorCode.GroupAuthorizationFailed, refused.Error.Code);
        }

        using (IConsumer<Ignore, string> assigned = new ConsumerBuilder<Ignore, string>(config).Build())
        {
            assigned.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            KafkaException commit = Assert.ThrowsAny<KafkaException>(() => assigned.Commit([new TopicPartitionOffset(topic, 0, 0)]));
            ErrorCode code = commit is TopicPartitionOffsetException partitions && partitions.Results.Count > 0 && partitions.Results[0].Error.IsError
                ? partitions.Results[0].Error.Code
                : commit.Error.Code;
            Assert.Equal(ErrorCode.GroupAuthorizationFailed, code);
        }

        // With Read on the group the same consumer joins and reads.
        using (IAdminClient admin = Admin())
        {
            await admin.CreateAclsAsync([Acl(ResourceType.Group, "forbidden-group", "grouper", AclOperation.Read)]);
        }

        using (IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig(As(SecureBroker.AdminUser))).Build())
        {
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "allowed" }, Ct);
        }

        using IConsumer<Ignore, string> member = new ConsumerBuilder<Ignore, string>(config).Build();
        member.Subscribe(topic);
        ConsumeResult<Ignore, string>? got = null;
        for (int i = 0; i < 30 && got is null; i++)
        {
            got = member.Consume(TimeSpan.FromSeconds(1));
        }

        Assert.Equal("allowed", got?.Message.Value);
        member.Commit(got!);
        member.Close();
    }

    [Fact]
    public async Task CreateTopics_is_refused_without_Create_and_allowed_by_a_prefixed_Create()
    {
        string allowed = BrokerFixture.UniqueTopic("team-a-");
        await UserAsync("creator", Acl(ResourceType.Topic, "team-a-", "creator", AclOperation.Create, ResourcePatternType.Prefixed),
            Acl(ResourceType.Topic, "team-a-", "creator", AclOperation.Describe, ResourcePatternType.Prefixed));
        using IAdminClient creator = Admin("creator");
        var refused = await Assert.ThrowsAsync<CreateTopicsException>(() =>
            creator.CreateTopicsAsync([new TopicSpecification { Name = BrokerFixture.UniqueTopic("team-b-"), NumPartitions = 1, ReplicationFactor = 1 }]));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, Assert.Single(refused.Results).Error.Code);

        await creator.CreateTopicsAsync([new TopicSpecification { Name = allowed, NumPartitions = 2, ReplicationFactor = 1 }]);
        Metadata metadata = creator.GetMetadata(allowed, TimeSpan.FromSeconds(10));
        Assert.Equal(2, Assert.Single(metadata.Topics).Partitions.Count);
    }

    [Fact]
    public async Task Broker_configs_without_DescribeConfigs_on_the_cluster_get_CLUSTER_AUTHORIZATION_FAILED()
    {
        await UserAsync("plain");
        using IAdminClient plain = Admin("plain");
        int node;
        using (IAdminClient admin = Admin())
        {
            node = admin.GetMetadata(TimeSpan.FromSeconds(10)).Brokers[0].BrokerId;
        }

        var broker = new ConfigResource { Type = ResourceType.Broker, Name = node.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var refused = await Assert.ThrowsAsync<DescribeConfigsException>(() => plain.DescribeConfigsAsync([broker]));
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, Assert.Single(refused.Results).Error.Code);

        using (IAdminClient admin = Admin())
        {
            await admin.CreateAclsAsync([Acl(ResourceType.Broker, "kafka-cluster", "plain", AclOperation.DescribeConfigs)]);
        }

        List<DescribeConfigsResult> allowed = await plain.DescribeConfigsAsync([broker]);
        Assert.NotEmpty(Assert.Single(allowed).Entries);
    }
}
