using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Integration.Tests.Security;

/// <summary>A <see cref="SecureBroker"/> with ACLs checked (admin is the super user; no ACL found means denied).</summary>
public sealed class AclBroker : IAsyncLifetime
{
    public SecureBroker Broker { get; } = new() { ExtraSettings = ["--Security:AuthorizationEnabled=true"] };

    public ValueTask InitializeAsync() => Broker.InitializeAsync();

    public ValueTask DisposeAsync() => Broker.DisposeAsync();
}

/// <summary>ACLs made with Confluent.Kafka's admin client and enforced on Produce, Fetch and Metadata over SASL_PLAINTEXT/SCRAM.</summary>
public sealed class AclTests(AclBroker fixture) : IClassFixture<AclBroker>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ClientConfig As(string user, string password) => new()
    {
        BootstrapServers = $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}",
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha256,
        SaslUsername = user,
        SaslPassword = password,
        SocketTimeoutMs = 10_000,
    };

    private IAdminClient Admin() => new AdminClientBuilder(As(SecureBroker.AdminUser, SecureBroker.AdminPassword)).Build();

    private static AclBinding Binding(string topic, string principal, AclOperation operation, AclPermissionType permission) => new()
    {
        Pattern = new ResourcePattern { Type = ResourceType.Topic, Name = topic, ResourcePatternType = ResourcePatternType.Literal },
        Entry = new AccessControlEntry { Principal = principal, Host = "*", Operation = operation, PermissionType = permission },
    };

    private async Task SetUpAsync(string topic, string user, params AclBinding[] acls)
    {
        using IAdminClient admin = Admin();
        await ConfluentSecurityTests.CreateUserAsync(admin, user, "pw-" + user);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
        await admin.CreateAclsAsync(acls);
    }

    [Fact]
    public async Task A_writer_without_Read_produces_and_gets_TOPIC_AUTHORIZATION_FAILED_on_fetch()
    {
        await SetUpAsync("acl-write", "writer", Binding("acl-write", "User:writer", AclOperation.Write, AclPermissionType.Allow));
        using (IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig(As("writer", "pw-writer"))).Build())
        {
            DeliveryResult<Null, string> delivered = await producer.ProduceAsync("acl-write", new Message<Null, string> { Value = "hello" }, Ct);
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        }

        using (IAdminClient groupAdmin = Admin())
        {
            // librdkafka looks up the coordinator of its group even when assigned: let it, so the refusal is the fetch's.
            await groupAdmin.CreateAclsAsync([new AclBinding
            {
                Pattern = new ResourcePattern { Type = ResourceType.Group, Name = "unused", ResourcePatternType = ResourcePatternType.Literal },
                Entry = new AccessControlEntry { Principal = "User:writer", Host = "*", Operation = AclOperation.Read, PermissionType = AclPermissionType.Allow },
            }]);
        }

        var config = new ConsumerConfig(As("writer", "pw-writer")) { GroupId = "unused", EnableAutoCommit = false };
        using IConsumer<Null, string> consumer = new ConsumerBuilder<Null, string>(config).Build();
        consumer.Assign(new TopicPartitionOffset("acl-write", 0, Offset.Beginning));
        var refused = Assert.Throws<ConsumeException>(() =>
        {
            for (int i = 0; i < 20; i++)
            {
                consumer.Consume(TimeSpan.FromSeconds(1));
            }
        });
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, refused.Error.Code);

        using IAdminClient admin = Admin();
        DescribeAclsResult described = await admin.DescribeAclsAsync(new AclBindingFilter
        {
            PatternFilter = new ResourcePatternFilter { Type = ResourceType.Topic, Name = "acl-write", ResourcePatternType = ResourcePatternType.Literal },
            EntryFilter = new AccessControlEntryFilter { Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
        });
        AclBinding only = Assert.Single(described.AclBindings);
        Assert.Equal("User:writer", only.Entry.Principal);
        Assert.Equal(AclOperation.Write, only.Entry.Operation);
    }

    [Fact]
    public async Task Metadata_hides_topics_without_Describe_deny_beats_allow_and_the_super_user_sees_all()
    {
        await SetUpAsync("acl-hidden", "nosy",
            Binding("acl-hidden", "User:*", AclOperation.Describe, AclPermissionType.Allow),
            Binding("acl-hidden", "User:nosy", AclOperation.Describe, AclPermissionType.Deny));
        using (IAdminClient admin = Admin())
        {
            await ConfluentSecurityTests.CreateUserAsync(admin, "viewer", "pw-viewer");
            Assert.Contains(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "acl-hidden");
        }

        using (IAdminClient viewer = new AdminClientBuilder(As("viewer", "pw-viewer")).Build())
        {
            Assert.Contains(viewer.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "acl-hidden");
        }

        using IAdminClient nosy = new AdminClientBuilder(As("nosy", "pw-nosy")).Build();
        Assert.DoesNotContain(nosy.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "acl-hidden");
    }

    [Fact]
    public async Task Only_principals_with_Alter_on_the_cluster_create_ACLs()
    {
        using (IAdminClient admin = Admin())
        {
            await ConfluentSecurityTests.CreateUserAsync(admin, "intruder", "pw-intruder");
        }

        using IAdminClient intruder = new AdminClientBuilder(As("intruder", "pw-intruder")).Build();
        var refused = await Assert.ThrowsAsync<CreateAclsException>(() =>
            intruder.CreateAclsAsync([Binding("acl-any", "User:intruder", AclOperation.All, AclPermissionType.Allow)]));
        Assert.Equal(ErrorCode.ClusterAuthorizationFailed, Assert.Single(refused.Results).Error.Code);
    }
}
