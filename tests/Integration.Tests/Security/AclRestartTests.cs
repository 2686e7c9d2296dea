using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Security;

/// <summary>
/// ACLs created over the wire survive a SIGTERM and a kill -9 restart of a real broker and still allow and
/// deny: the reader consumes, the stranger (Describe but no Read on the topic) gets TOPIC_AUTHORIZATION_FAILED.
/// </summary>
public sealed class AclRestartTests
{
    private const string Admin = "admin";
    private const string AdminPassword = "admin-secret";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<BrokerProcess> StartAsync(string data, int plainPort, int saslPort) => BrokerProcess.StartAsync(data, plainPort,
        [
            "--Security:Listeners:0:Name=INTERNAL", $"--Security:Listeners:0:Address=127.0.0.1:{saslPort}", "--Security:Listeners:0:SecurityProtocol=SASL_PLAINTEXT",
            "--Security:Listeners:1:Name=PLAIN", $"--Security:Listeners:1:Address=127.0.0.1:{plainPort}", "--Security:Listeners:1:SecurityProtocol=PLAINTEXT",
            $"--Security:InitialUser={Admin}", $"--Security:SuperUsers=User:{Admin}", "--Security:AuthorizationEnabled=true",
        ],
        new Dictionary<string, string> { ["LOGBROKER__Security__InitialPassword"] = AdminPassword });

    private static ClientConfig As(int saslPort, string user, string password) => new()
    {
        BootstrapServers = $"127.0.0.1:{saslPort}",
        SecurityProtocol = SecurityProtocol.SaslPlaintext,
        SaslMechanism = SaslMechanism.ScramSha256,
        SaslUsername = user,
        SaslPassword = password,
        SocketTimeoutMs = 10_000,
    };

    private static AclBinding Allow(ResourceType type, string name, string user, AclOperation operation) => new()
    {
        Pattern = new ResourcePattern { Type = type, Name = name, ResourcePatternType = ResourcePatternType.Literal },
        Entry = new AccessControlEntry { Principal = "User:" + user, Host = "*", Operation = operation, PermissionType = AclPermissionType.Allow },
    };

    /// <summary>The first record of the topic as <paramref name="user"/> reads it, or the consumer's error code.</summary>
    private static (string? Value, ErrorCode Error) Read(int saslPort, string user, string topic)
    {
        var config = new ConsumerConfig(As(saslPort, user, "pw-" + user)) { GroupId = "restart-group", EnableAutoCommit = false };
        using IConsumer<Ignore, string> consumer = new ConsumerBuilder<Ignore, string>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        try
        {
            for (int i = 0; i < 30; i++)
            {
                if (consumer.Consume(TimeSpan.FromSeconds(1)) is { } got)
                {
                    return (got.Message.Value, ErrorCode.NoError);
                }
            }

            return (null, ErrorCode.NoError);
        }
        catch (ConsumeException e)
        {
            return (null, e.Error.Code);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ACLs_survive_a_restart_and_still_allow_and_deny(bool kill)
    {
        using var data = new TempDirectory("acl-restart");
        int plainPort = BrokerProcess.FreePort();
        int saslPort = BrokerProcess.FreePort();
        const string topic = "guarded";
        BrokerProcess broker = await StartAsync(data.Path, plainPort, saslPort);
        try
        {
            using (IAdminClient admin = new AdminClientBuilder(As(saslPort, Admin, AdminPassword)).Build())
            {
                await ConfluentSecurityTests.CreateUserAsync(admin, "reader", "pw-reader");
                await ConfluentSecurityTests.CreateUserAsync(admin, "stranger", "pw-stranger");
                await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
                await admin.CreateAclsAsync([Allow(ResourceType.Topic, topic, "reader", AclOperation.Read), Allow(ResourceType.Group, "restart-group", "reader", AclOperation.Read),
                    Allow(ResourceType.Group, "restart-group", "stranger", AclOperation.Read), Allow(ResourceType.Topic, topic, "stranger", AclOperation.Describe)]);
            }

            using (IProducer<Null, string> producer = new ProducerBuilder<Null, string>(new ProducerConfig(As(saslPort, Admin, AdminPassword))).Build())
            {
                await producer.ProduceAsync(topic, new Message<Null, string> { Value = "kept" }, Ct);
            }

            Assert.Equal(("kept", ErrorCode.NoError), Read(saslPort, "reader", topic));
            Assert.Equal((null, ErrorCode.TopicAuthorizationFailed), Read(saslPort, "stranger", topic));

            if (kill)
            {
                await broker.KillAsync();
            }
            else
            {
                await broker.TerminateAsync();
            }

            await broker.DisposeAsync();
            broker = await StartAsync(data.Path, plainPort, saslPort);

            Assert.Equal(("kept", ErrorCode.NoError), Read(saslPort, "reader", topic));
            Assert.Equal((null, ErrorCode.TopicAuthorizationFailed), Read(saslPort, "stranger", topic));
            using IAdminClient reopened = new AdminClientBuilder(As(saslPort, Admin, AdminPassword)).Build();
            DescribeAclsResult described = await reopened.DescribeAclsAsync(new AclBindingFilter
            {
                PatternFilter = new ResourcePatternFilter { Type = ResourceType.Any, ResourcePatternType = ResourcePatternType.Any },
                EntryFilter = new AccessControlEntryFilter { Operation = AclOperation.Any, PermissionType = AclPermissionType.Any },
            });
            Assert.Equal(4, described.AclBindings.Count);
        }
        finally
        {
            await broker.DisposeAsync(); // never leave a broker process behind, whatever failed
        }
    }
}
