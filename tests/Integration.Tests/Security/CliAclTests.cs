using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Cli;

namespace LogBroker.Integration.Tests.Security;

/// <summary><c>logbroker acls list|add|remove</c> against a real broker with ACLs on, over SASL_PLAINTEXT/SCRAM.</summary>
public sealed class CliAclTests(AclBroker fixture) : IClassFixture<AclBroker>
{
    private async Task<(int Code, string Out, string Err)> RunAsAsync(string user, string password, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--bootstrap", $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}", "--security-protocol", "SASL_PLAINTEXT",
            "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", user, "--sasl-password", password],
            new CliContext(output, error, new StringReader(""), interactive: false), TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }

    private Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsAsync(SecureBroker.AdminUser, SecureBroker.AdminPassword, args);

    private async Task SetUpAsync(string topic, string user)
    {
        var config = new AdminClientConfig
        {
            BootstrapServers = $"127.0.0.1:{fixture.Broker.SaslPlaintextPort}",
            SecurityProtocol = SecurityProtocol.SaslPlaintext,
            SaslMechanism = SaslMechanism.ScramSha256,
            SaslUsername = SecureBroker.AdminUser,
            SaslPassword = SecureBroker.AdminPassword,
        };
        using IAdminClient admin = new AdminClientBuilder(config).Build();
        await ConfluentSecurityTests.CreateUserAsync(admin, user, "pw-" + user);
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }

    [Fact]
    public async Task Add_list_and_remove_change_what_the_principal_may_see()
    {
        string topic = BrokerFixture.UniqueTopic("cli-acl");
        await SetUpAsync(topic, "viewer");
        (int code, string output, string error) = await RunAsAsync("viewer", "pw-viewer", "topics", "list");
        Assert.True(code == 0, error);
        Assert.DoesNotContain(topic, output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("acls", "add", "--allow-principal", "User:viewer", "--operation", "describe", "--operation", "READ", "--topic", topic);
        Assert.True(code == 0, error);
        Assert.Contains($"added\tTopic\tLiteral\t{topic}\tUser:viewer\t*\tDescribe\tAllow", output, StringComparison.Ordinal);
        (code, output, error) = await RunAsync("acls", "add", "--deny-principal", "User:viewer", "--operation", "Write", "--topic", "cli-acl", "--resource-pattern-type", "prefixed");
        Assert.True(code == 0, error);

        (code, output, error) = await RunAsync("acls", "list", "--topic", topic);
        Assert.True(code == 0, error);
        Assert.Equal([$"Topic\tLiteral\t{topic}\tUser:viewer\t*\tDescribe\tAllow", $"Topic\tLiteral\t{topic}\tUser:viewer\t*\tRead\tAllow"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        (_, output, _) = await RunAsync("acls", "list", "--topic", topic, "--resource-pattern-type", "match");
        Assert.Contains("Topic\tPrefixed\tcli-acl\tUser:viewer\t*\tWrite\tDeny", output, StringComparison.Ordinal);
        (_, output, _) = await RunAsync("acls", "list", "--principal", "User:viewer");
        Assert.Equal(3, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        (code, output, error) = await RunAsAsync("viewer", "pw-viewer", "topics", "list");
        Assert.True(code == 0, error);
        Assert.Contains(topic, output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("acls", "remove", "--topic", topic, "--allow-principal", "User:viewer", "--operation", "Describe");
        Assert.True(code == 0, error);
        Assert.Equal([$"removed\tTopic\tLiteral\t{topic}\tUser:viewer\t*\tDescribe\tAllow"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        (code, output, _) = await RunAsAsync("viewer", "pw-viewer", "topics", "list");
        Assert.Contains(topic, output, StringComparison.Ordinal); // Read still implies Describe

        (code, output, error) = await RunAsync("acls", "remove", "--topic", topic);
        Assert.True(code == 0, error);
        (code, output, _) = await RunAsAsync("viewer", "pw-viewer", "topics", "list");
        Assert.Equal(0, code);
        Assert.DoesNotContain(topic, output, StringComparison.Ordinal);
        (code, _, _) = await RunAsync("acls", "remove", "--topic", topic);
        Assert.Equal(4, code); // nothing left to remove
    }

    [Fact]
    public async Task The_producer_and_consumer_shortcuts_and_a_refusal_for_a_principal_without_Alter_on_the_cluster()
    {
        string topic = BrokerFixture.UniqueTopic("cli-pc");
        await SetUpAsync(topic, "app");
        (int code, string output, string error) = await RunAsync("acls", "add", "--allow-principal", "User:app", "--producer", "--consumer", "--topic", topic, "--group", "app-group");
        Assert.True(code == 0, error);
        (_, output, _) = await RunAsync("acls", "list", "--principal", "User:app");
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["Group\tLiteral\tapp-group\tUser:app\t*\tRead\tAllow", $"Topic\tLiteral\t{topic}\tUser:app\t*\tCreate\tAllow", $"Topic\tLiteral\t{topic}\tUser:app\t*\tDescribe\tAllow",
            $"Topic\tLiteral\t{topic}\tUser:app\t*\tRead\tAllow", $"Topic\tLiteral\t{topic}\tUser:app\t*\tWrite\tAllow"], lines.Order(StringComparer.Ordinal));

        (code, _, error) = await RunAsAsync("app", "pw-app", "acls", "add", "--allow-principal", "User:app", "--operation", "All", "--cluster");
        Assert.Equal(1, code);
        Assert.Contains("ClusterAuthorizationFailed", error, StringComparison.OrdinalIgnoreCase);
        (code, _, error) = await RunAsAsync("app", "pw-app", "acls", "list");
        Assert.Equal(1, code);
        (code, _, error) = await RunAsync("acls", "add", "--allow-principal", "app", "--topic", topic);
        Assert.Equal(2, code); // a principal is User:name
        Assert.Contains("User:name", error, StringComparison.Ordinal);
        (code, _, _) = await RunAsync("acls", "add", "--allow-principal", "User:app", "--operation", "Fly", "--topic", topic);
        Assert.Equal(2, code);
    }
}
