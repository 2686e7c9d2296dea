using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Integration.Tests.Security;

/// <summary>kcat over SASL_PLAINTEXT/SCRAM-SHA-512 against a broker with ACLs: Write without Read produces but cannot consume; Read consumes.</summary>
public sealed class KcatAclTests(AclBroker fixture) : IClassFixture<AclBroker>
{
    private string[] As(string user, string topic) =>
    [
        "-b", $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}", "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
        "-X", $"sasl.username={user}", "-X", $"sasl.password=pw-{user}", "-t", topic,
    ];

    private static AclBinding Allow(string topic, string user, AclOperation operation) => new()
    {
        Pattern = new ResourcePattern { Type = ResourceType.Topic, Name = topic, ResourcePatternType = ResourcePatternType.Literal },
        Entry = new AccessControlEntry { Principal = "User:" + user, Host = "*", Operation = operation, PermissionType = AclPermissionType.Allow },
    };

    [Fact]
    public async Task A_writer_without_Read_produces_but_cannot_consume_and_a_reader_consumes()
    {
        string? kcat = KcatTests.Kcat();
        Assert.SkipWhen(kcat is null, "kcat is not installed (apt-get install -y kcat); CI installs it.");
        string topic = BrokerFixture.UniqueTopic("kcat-acl");
        var config = new AdminClientConfig
        {
            BootstrapServers = $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}",
            SecurityProtocol = SecurityProtocol.SaslPlaintext,
            SaslMechanism = SaslMechanism.ScramSha256,
            SaslUsername = SecureBroker.AdminUser,
            SaslPassword = SecureBroker.AdminPassword,
        };
        using (IAdminClient admin = new AdminClientBuilder(config).Build())
        {
            await ConfluentSecurityTests.CreateUserAsync(admin, "kwriter", "pw-kwriter", ScramMechanism.ScramSha512);
            await ConfluentSecurityTests.CreateUserAsync(admin, "kreader", "pw-kreader", ScramMechanism.ScramSha512);
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
            await admin.CreateAclsAsync([Allow(topic, "kwriter", AclOperation.Write), Allow(topic, "kreader", AclOperation.Read)]);
        }

        string[] lines = [.. Enumerable.Range(0, 5).Select(i => $"secret-{i}")];
        (int code, _, string error) = await KcatTests.RunAsync(kcat!, [.. As("kwriter", topic), "-P"], string.Join('\n', lines) + "\n");
        Assert.True(code == 0, error);

        (code, string output, error) = await KcatTests.RunAsync(kcat!, [.. As("kwriter", topic), "-C", "-o", "beginning", "-e", "-q"], null);
        Assert.NotEqual(0, code);
        Assert.Contains("Topic authorization failed", error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secret", output, StringComparison.Ordinal);

        (code, output, error) = await KcatTests.RunAsync(kcat!, [.. As("kreader", topic), "-C", "-o", "beginning", "-e", "-q"], null);
        Assert.True(code == 0, error);
        Assert.Equal(lines, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
