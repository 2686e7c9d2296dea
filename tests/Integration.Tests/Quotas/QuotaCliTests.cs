using LogBroker.Cli;
using LogBroker.Client.Admin;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary><c>logbroker quotas describe|alter</c> and <see cref="ClientQuotasAdmin"/> against a real broker process of its own (quotas are broker-wide).</summary>
public sealed class QuotaCliTests : IAsyncDisposable
{
    private readonly OwnedBroker _owned = new("qcli");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private BrokerProcess Broker => _owned.Process;

    public ValueTask DisposeAsync() => _owned.DisposeAsync();

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--bootstrap", Broker.Bootstrap], new CliContext(output, error, new StringReader(""), interactive: false), Ct);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Quotas_are_set_described_with_filters_and_removed()
    {
        await _owned.StartAsync(BrokerProcess.FreePort());

        (int code, string output, string error) = await RunAsync("quotas", "alter", "--client-id", "fast", "--set", "producer_byte_rate=1048576", "--set", "consumer_byte_rate=2000");
        Assert.True(code == 0, error);
        Assert.Contains("altered the quotas of client-id=fast", output, StringComparison.Ordinal);
        (code, _, error) = await RunAsync("quotas", "alter", "--user", "alice", "--client-id-default", "--set", "request_percentage=50");
        Assert.True(code == 0, error);

        (code, output, _) = await RunAsync("quotas", "describe");
        Assert.Equal(0, code);
        Assert.Contains("client-id=fast\tconsumer_byte_rate=2000,producer_byte_rate=1048576", output, StringComparison.Ordinal);
        Assert.Contains("user=alice,client-id=<default>\trequest_percentage=50", output, StringComparison.Ordinal);

        // Filters: an exact client id (not strict: alice's entity has a default client id, not "fast"), any user, the default client id.
        (_, output, _) = await RunAsync("quotas", "describe", "--client-id", "fast", "--strict");
        Assert.Single(output.Trim().Split('\n'));
        (_, output, _) = await RunAsync("quotas", "describe", "--any-user");
        Assert.Equal("user=alice,client-id=<default>\trequest_percentage=50", output.Trim());
        (_, output, _) = await RunAsync("quotas", "describe", "--client-id-default");
        Assert.StartsWith("user=alice", output.Trim(), StringComparison.Ordinal);

        (code, _, error) = await RunAsync("quotas", "alter", "--client-id", "fast", "--remove", "consumer_byte_rate");
        Assert.True(code == 0, error);
        await using (var admin = new ClientQuotasAdmin(new AdminOptions { BootstrapServers = Broker.Bootstrap }))
        {
            ClientQuotaEntry fast = Assert.Single(await admin.DescribeAsync([new QuotaFilter("client-id", QuotaMatch.Exact, "fast")], strict: true, Ct));
            Assert.Equal(new QuotaEntityPart("client-id", "fast"), Assert.Single(fast.Entity));
            Assert.Equal(1048576, Assert.Single(fast.Quotas).Value);

            await admin.AlterAsync([new QuotaEntityPart("user", "alice"), new QuotaEntityPart("client-id", null)], new Dictionary<string, double?> { ["request_percentage"] = null }, cancellationToken: Ct);
            Assert.Empty(await admin.DescribeAsync([new QuotaFilter("user", QuotaMatch.Any)], cancellationToken: Ct));
        }

        // Refusals: a malformed --set, no entity, an unknown key (the broker's INVALID_REQUEST), validate-only changes nothing.
        (code, _, _) = await RunAsync("quotas", "alter", "--client-id", "x", "--set", "producer_byte_rate=lots");
        Assert.Equal(2, code);
        (code, _, _) = await RunAsync("quotas", "alter", "--set", "producer_byte_rate=10");
        Assert.Equal(2, code);
        (code, _, error) = await RunAsync("quotas", "alter", "--client-id", "x", "--set", "bogus_rate=10");
        Assert.NotEqual(0, code);
        Assert.Contains("bogus_rate", error, StringComparison.Ordinal);
        (code, output, _) = await RunAsync("quotas", "alter", "--client-id", "x", "--set", "producer_byte_rate=10", "--validate-only");
        Assert.Equal(0, code);
        Assert.Contains("validated", output, StringComparison.Ordinal);
        (_, output, _) = await RunAsync("quotas", "describe", "--client-id", "x");
        Assert.Equal("", output.Trim());
    }
}
