using LogBroker.Cli;

namespace LogBroker.Ops.Tests;

/// <summary><c>logbroker status</c> against a real broker's admin listener.</summary>
public sealed class StatusCommandTests(OpsBroker broker) : IClassFixture<OpsBroker>
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Status_prints_the_overview_and_the_groups_with_lag()
    {
        string topic = OpsBroker.UniqueName("status");
        string group = OpsBroker.UniqueName("g");
        await ApiTests.ProduceAsync(broker.Bootstrap, topic, 0, 9, i => $"v{i}", Ct);
        using (var consumer = new Confluent.Kafka.ConsumerBuilder<string, string>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = group }).Build())
        {
            consumer.Commit([new Confluent.Kafka.TopicPartitionOffset(topic, 0, 2)]);
        }

        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync(["status", "--admin", broker.AdminUri.ToString()], new CliContext(output, error, TextReader.Null, interactive: false), Ct);
        Assert.True(code == 0, error.ToString());
        string text = output.ToString();
        Assert.Contains($"127.0.0.1:{broker.Port}", text, StringComparison.Ordinal);
        Assert.Contains("records in / out", text, StringComparison.Ordinal);
        string line = Assert.Single(text.Split('\n'), l => l.Contains(group, StringComparison.Ordinal));
        Assert.Contains(" 7 ", line, StringComparison.Ordinal); // 9 produced, 2 committed
        Assert.Contains("Empty", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_of_an_admin_listener_that_does_not_answer_exits_unreachable()
    {
        var error = new StringWriter();
        int code = await CliApp.RunAsync(["status", "--admin", "http://127.0.0.1:1", "--timeout", "2"], new CliContext(new StringWriter(), error, TextReader.Null, interactive: false), Ct);
        Assert.Equal(3, code);
        Assert.Contains("did not answer", error.ToString(), StringComparison.Ordinal);
    }
}
