using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.Ops.Tests;

/// <summary>
/// The admin JSON API against a real broker host (Kestrel on 127.0.0.1:0): topics, partitions, message
/// pages and their bounds, groups and lag after a real consumer commits, lag history, offset reset
/// (dry run and applied) and group deletion with writes allowed.
/// </summary>
public sealed class ApiTests(WritableOpsBroker broker) : IClassFixture<WritableOpsBroker>
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_endpoints_answer_and_a_foreign_host_header_is_refused()
    {
        Assert.Equal("live\n", await broker.Http.GetStringAsync(new Uri("health/live", UriKind.Relative), Ct));
        Assert.Equal("ready\n", await broker.Http.GetStringAsync(new Uri("health/ready", UriKind.Relative), Ct));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("api/broker", UriKind.Relative));
        request.Headers.Host = "attacker.example";
        using HttpResponseMessage response = await broker.Http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Topics_partitions_and_message_pages_are_read_through_the_log_within_bounds()
    {
        string topic = OpsBroker.UniqueName("api");
        await CreateAsync(topic, 2);
        await ProduceAsync(topic, 0, 20, i => $"{{\"n\":{i}}}");
        await ProduceAsync(topic, 1, 3, i => new string('x', 2000));

        JsonElement list = await GetAsync($"api/topics?search={topic}");
        Assert.Equal(1, list.GetProperty("total").GetInt32());
        JsonElement row = list.GetProperty("topics")[0];
        Assert.Equal(topic, row.GetProperty("name").GetString());
        Assert.Equal(2, row.GetProperty("partitions").GetInt32());
        Assert.Equal(23, row.GetProperty("records").GetInt64());

        JsonElement detail = await GetAsync($"api/topics/{topic}");
        JsonElement p0 = detail.GetProperty("partitions")[0];
        Assert.Equal(0, p0.GetProperty("startOffset").GetInt64());
        Assert.Equal(20, p0.GetProperty("endOffset").GetInt64());
        Assert.Equal(3, detail.GetProperty("partitions")[1].GetProperty("endOffset").GetInt64());
        Assert.Contains(detail.GetProperty("configs").EnumerateArray(), c => c.GetProperty("name").GetString() == "retention.ms");

        JsonElement page = await GetAsync($"api/topics/{topic}/partitions/0/messages?offset=5&limit=4");
        JsonElement[] messages = [.. page.GetProperty("messages").EnumerateArray()];
        Assert.Equal([5L, 6, 7, 8], messages.Select(m => m.GetProperty("offset").GetInt64()));
        Assert.Equal("k5", Text(messages[0].GetProperty("key")));
        Assert.Equal("{\"n\":5}", Text(messages[0].GetProperty("value")));
        Assert.Equal("h", messages[0].GetProperty("headers")[0].GetProperty("key").GetString());
        Assert.Equal("5", Text(messages[0].GetProperty("headers")[0].GetProperty("value")));
        Assert.Equal(9, page.GetProperty("nextOffset").GetInt64());
        Assert.Equal(1, page.GetProperty("prevOffset").GetInt64());

        // Bounds: limit is clamped to Console:MaxBrowseRecords (10 in this fixture).
        page = await GetAsync($"api/topics/{topic}/partitions/0/messages?offset=0&limit=100000");
        Assert.Equal(10, page.GetProperty("messages").GetArrayLength());
        Assert.Equal(10, page.GetProperty("nextOffset").GetInt64());

        // Bytes: 2,000-byte records, 1,024-byte budget: the first batch is read whole, then the page stops.
        page = await GetAsync($"api/topics/{topic}/partitions/1/messages?offset=0&maxBytes=1024");
        Assert.Equal(1, page.GetProperty("messages").GetArrayLength());
        Assert.True(page.GetProperty("truncated").GetBoolean());
        Assert.Equal(1, page.GetProperty("nextOffset").GetInt64());
        Assert.InRange(page.GetProperty("bytesRead").GetInt32(), 2000, 3999); // the first batch whole, not the second

        // No offset: the latest page.
        page = await GetAsync($"api/topics/{topic}/partitions/0/messages?limit=3");
        Assert.Equal([17L, 18, 19], page.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("offset").GetInt64()));

        using HttpResponseMessage missing = await broker.Http.GetAsync(new Uri($"api/topics/{topic}/partitions/9/messages", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Group_lag_after_a_real_consumer_commits_then_a_dry_run_and_an_applied_reset()
    {
        string topic = OpsBroker.UniqueName("lag");
        string group = OpsBroker.UniqueName("g");
        await CreateAsync(topic, 1);
        await ProduceAsync(topic, 0, 20, i => $"v{i}");

        using (IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = broker.Bootstrap,
            GroupId = group,
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            SessionTimeoutMs = 6000,
        }).Build())
        {
            consumer.Subscribe(topic);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(60));
            ConsumeResult<string, string> result;
            do
            {
                result = consumer.Consume(deadline.Token);
            }
            while (result.Offset < 11);

            consumer.Commit([new TopicPartitionOffset(topic, 0, 12)]);
            JsonElement live = await GetAsync($"api/groups/{group}");
            Assert.Equal("Stable", live.GetProperty("state").GetString());
            JsonElement member = Assert.Single(live.GetProperty("members").EnumerateArray());
            Assert.Equal(topic, member.GetProperty("assignment")[0].GetProperty("topic").GetString());
            consumer.Close();
        }

        JsonElement detail = await GetAsync($"api/groups/{group}");
        JsonElement offset = Assert.Single(detail.GetProperty("offsets").EnumerateArray());
        Assert.Equal(12, offset.GetProperty("committed").GetInt64());
        Assert.Equal(20, offset.GetProperty("logEnd").GetInt64());
        Assert.Equal(20 - 12, offset.GetProperty("lag").GetInt64());
        Assert.Equal(20 - 12, detail.GetProperty("totalLag").GetInt64());
        Assert.InRange(offset.GetProperty("timeLagMs").GetInt64(), 0, 120_000);

        JsonElement groups = await GetAsync("api/groups");
        JsonElement listed = Assert.Single(groups.EnumerateArray(), g => g.GetProperty("id").GetString() == group);
        Assert.Equal(8, listed.GetProperty("lag").GetInt64());

        // The sampler (every 200 ms here) records the lag.
        JsonElement history = default;
        for (int i = 0; i < 100; i++)
        {
            history = await GetAsync($"api/groups/{group}/lag-history");
            if (history.EnumerateArray().Any(s => s.GetProperty("lag").GetInt64() == 8))
            {
                break;
            }

            await Task.Delay(100, Ct);
        }

        Assert.Contains(history.EnumerateArray(), s => s.GetProperty("lag").GetInt64() == 8);

        JsonElement dry = await PostAsync($"api/groups/{group}/reset-offsets", new { to = "earliest", dryRun = true }, HttpStatusCode.OK);
        JsonElement planned = Assert.Single(dry.GetProperty("plan").EnumerateArray());
        Assert.Equal(12, planned.GetProperty("current").GetInt64());
        Assert.Equal(0, planned.GetProperty("target").GetInt64());
        Assert.Equal(20, planned.GetProperty("lagAfter").GetInt64());
        Assert.False(dry.GetProperty("applied").GetBoolean());
        Assert.Equal(12, (await GetAsync($"api/groups/{group}")).GetProperty("offsets")[0].GetProperty("committed").GetInt64());

        JsonElement applied = await PostAsync($"api/groups/{group}/reset-offsets", new { to = "offset", offset = 15, dryRun = false }, HttpStatusCode.OK);
        Assert.True(applied.GetProperty("applied").GetBoolean());
        detail = await GetAsync($"api/groups/{group}");
        Assert.Equal(15, detail.GetProperty("offsets")[0].GetProperty("committed").GetInt64());
        Assert.Equal(5, detail.GetProperty("totalLag").GetInt64());

        using HttpResponseMessage deleted = await broker.Http.DeleteAsync(new Uri($"api/groups/{group}", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using HttpResponseMessage gone = await broker.Http.GetAsync(new Uri($"api/groups/{group}", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    internal static string Text(JsonElement base64) => Encoding.UTF8.GetString(Convert.FromBase64String(base64.GetString()!));

    private async Task<JsonElement> GetAsync(string path)
    {
        using HttpResponseMessage response = await broker.Http.GetAsync(new Uri(path, UriKind.Relative), Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<JsonElement> PostAsync(string path, object body, HttpStatusCode expected)
    {
        using HttpResponseMessage response = await broker.Http.PostAsJsonAsync(new Uri(path, UriKind.Relative), body, Ct);
        string text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(expected == response.StatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task CreateAsync(string topic, int partitions)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]);
    }

    internal static async Task ProduceAsync(string bootstrap, string topic, int partition, int count, Func<int, string> value, CancellationToken ct)
    {
        using IProducer<string, string> producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.All,
            LingerMs = 0,
        }).Build();
        for (int i = 0; i < count; i++)
        {
            await producer.ProduceAsync(new TopicPartition(topic, partition), new Message<string, string>
            {
                Key = $"k{i}",
                Value = value(i),
                Headers = [new Header("h", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))],
            }, ct);
        }
    }

    private Task ProduceAsync(string topic, int partition, int count, Func<int, string> value) =>
        ProduceAsync(broker.Bootstrap, topic, partition, count, value, Ct);
}

/// <summary>With <c>Console:AllowWrites</c> off (the default) a reset is a dry run only and deletion is refused.</summary>
public sealed class ReadOnlyApiTests(OpsBroker broker) : IClassFixture<OpsBroker>
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writes_are_refused_and_change_nothing()
    {
        string topic = OpsBroker.UniqueName("ro");
        string group = OpsBroker.UniqueName("g");
        await ApiTests.ProduceAsync(broker.Bootstrap, topic, 0, 5, i => $"v{i}", Ct);
        using (IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = group }).Build())
        {
            consumer.Commit([new TopicPartitionOffset(topic, 0, 3)]);
        }

        using HttpResponseMessage reset = await broker.Http.PostAsJsonAsync(new Uri($"api/groups/{group}/reset-offsets", UriKind.Relative),
            new { to = "earliest", dryRun = false }, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, reset.StatusCode);
        using HttpResponseMessage dry = await broker.Http.PostAsJsonAsync(new Uri($"api/groups/{group}/reset-offsets", UriKind.Relative),
            new { to = "earliest", dryRun = true }, Ct);
        Assert.Equal(HttpStatusCode.OK, dry.StatusCode);
        using HttpResponseMessage delete = await broker.Http.DeleteAsync(new Uri($"api/groups/{group}", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);

        string detail = await broker.Http.GetStringAsync(new Uri($"api/groups/{group}", UriKind.Relative), Ct);
        JsonElement offset = JsonDocument.Parse(detail).RootElement.GetProperty("offsets")[0];
        Assert.Equal(3, offset.GetProperty("committed").GetInt64());
        Assert.Equal(2, offset.GetProperty("lag").GetInt64());
    }
}
