using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LogBroker.Cli;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cli;

/// <summary>The logbroker tool driven in process (and as a child process) against a real broker.</summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class CliTests(BrokerFixture broker)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(int Code, string Out, string Err)> RunWithInputAsync(string? stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--bootstrap", broker.Bootstrap], new CliContext(output, error, new StringReader(stdin ?? ""), interactive: false), Ct);
        return (code, output.ToString(), error.ToString());
    }

    private Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    private static async Task<List<ConsumeRecord>> ReadAsync(string bootstrap, string topic, int partitions)
    {
        await using var consumer = new KafkaConsumer(new ConsumerOptions { BootstrapServers = bootstrap, FetchMaxWait = TimeSpan.FromMilliseconds(100) });
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = bootstrap });
        var tps = Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, p)).ToList();
        Dictionary<TopicPartition, long> ends = (await admin.ListOffsetsAsync(tps, OffsetSpec.Latest, Ct)).ToDictionary(o => o.Partition, o => o.Offset);
        consumer.Assign(tps.Select(tp => new TopicPartitionOffset(tp.Topic, tp.Partition, Offsets.Beginning)));
        var records = new List<ConsumeRecord>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (records.Count < ends.Values.Sum())
        {
            ConsumeBatch batch = (await consumer.NextBatchAsync(timeout.Token))!;
            records.AddRange(batch.ToList());
        }

        return [.. records.OrderBy(r => r.Partition.Partition).ThenBy(r => r.Offset)];
    }

    [Fact]
    public async Task Topics_commands_create_list_describe_alter_and_delete()
    {
        string topic = BrokerFixture.UniqueTopic("cli");
        (int code, string output, string error) = await RunAsync("topics", "create", topic, "--partitions", "3", "--config", "retention.ms=3600000");
        Assert.True(code == 0, error);
        Assert.Contains($"created topic {topic}", output, StringComparison.Ordinal);

        (code, output, _) = await RunAsync("topics", "list");
        Assert.Equal(0, code);
        Assert.Contains(topic, output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("topics", "alter", topic, "--config", "retention.ms=7200000", "--partitions", "4");
        Assert.True(code == 0, error);
        (code, output, _) = await RunAsync("topics", "describe", topic);
        Assert.Equal(0, code);
        Assert.Contains("partitions 4", output, StringComparison.Ordinal);
        Assert.Contains("bytes", output, StringComparison.Ordinal);
        Assert.Contains("7200000", output, StringComparison.Ordinal);

        (code, _, error) = await RunAsync("topics", "create", topic, "--partitions", "1");
        Assert.Equal(6, code);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));

        (code, _, _) = await RunAsync("topics", "delete", topic);
        Assert.Equal(0, code);
        (code, _, error) = await RunAsync("topics", "describe", topic);
        Assert.Equal(4, code);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Produce_lines_with_keys_and_headers_then_consume_them_as_json()
    {
        string topic = BrokerFixture.UniqueTopic("cli-pc");
        Assert.Equal(0, (await RunAsync("topics", "create", topic, "--partitions", "2")).Code);
        (int code, _, string error) = await RunWithInputAsync("alice:say \"hi\" <café>\nbob:two\nno separator here\n", "produce", topic, "--key-separator", ":", "--header", "source=cli", "--compression", "zstd");
        Assert.True(code == 0, error);
        Assert.Contains("produced 3 records", error, StringComparison.Ordinal);

        (code, string output, error) = await RunAsync("consume", topic, "--format", "json");
        Assert.True(code == 0, error);
        List<JsonElement> lines = [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];
        Assert.Equal(3, lines.Count);
        JsonElement alice = lines.Single(l => l.GetProperty("key").ValueKind == JsonValueKind.String && l.GetProperty("key").GetString() == "alice");
        Assert.Equal("say \"hi\" <café>", alice.GetProperty("value").GetString());
        Assert.Contains("\"value\":\"say \\\"hi\\\" <café>\"", output, StringComparison.Ordinal); // relaxed escaping: as a person would write it
        Assert.Equal("cli", alice.GetProperty("headers").GetProperty("source").GetString());
        Assert.Equal(KafkaProducer.PartitionForKey("alice"u8, 2), alice.GetProperty("partition").GetInt32());
        Assert.Contains(lines, l => l.GetProperty("key").ValueKind == JsonValueKind.Null && l.GetProperty("value").GetString() == "no separator here");

        (code, output, _) = await RunAsync("consume", topic, "--max", "1", "--partitions", "0,1");
        Assert.Equal(0, code);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Reset_offsets_to_a_datetime_makes_the_group_reread_from_the_first_record_at_or_after_it()
    {
        string topic = BrokerFixture.UniqueTopic("cli-reset");
        Assert.Equal(0, (await RunAsync("topics", "create", topic, "--partitions", "2")).Code);
        var baseTime = DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            var records = Enumerable.Range(0, 100).Select(i => new ProducerRecord(Encoding.UTF8.GetBytes("k" + i), Encoding.UTF8.GetBytes("v" + i)) { Timestamp = baseTime.AddMinutes(i) }).ToList();
            await producer.ProduceBatchAsync(topic, records, Ct);
        }

        string group = "cli-group-" + Guid.NewGuid().ToString("N");
        (int code, _, string error) = await RunAsync("consume", topic, "--group", group);
        Assert.True(code == 0, error);
        Assert.Contains("consumed 100 records", error, StringComparison.Ordinal);

        (code, string output, _) = await RunAsync("groups", "list");
        Assert.Equal(0, code);
        Assert.Contains(group, output, StringComparison.Ordinal);

        (code, output, _) = await RunAsync("groups", "describe", group);
        Assert.Equal(0, code);
        Assert.Contains("Empty", output, StringComparison.Ordinal);

        // Dry run changes nothing.
        (code, output, error) = await RunAsync("groups", "reset-offsets", group, "--topic", topic, "--to-datetime", "2026-11-23T11:00:00Z", "--dry-run");
        Assert.True(code == 0, error);
        Assert.Contains("dry run", output, StringComparison.Ordinal);

        (code, output, error) = await RunAsync("groups", "reset-offsets", group, "--topic", topic, "--to-datetime", "2026-11-23T11:00:00Z", "--execute");
        Assert.True(code == 0, error);

        // The group's consumer re-reads exactly the records at or after 11:00 (minute 60 onwards).
        await using var consumer = new KafkaConsumer(new ConsumerOptions { BootstrapServers = broker.Bootstrap, GroupId = group, FetchMaxWait = TimeSpan.FromMilliseconds(100) });
        consumer.Subscribe([topic]);
        var reread = new List<ConsumeRecord>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (reread.Count < 40)
        {
            reread.AddRange((await consumer.NextBatchAsync(timeout.Token))!.ToList());
        }

        Assert.Equal(40, reread.Count);
        Assert.Equal(Enumerable.Range(60, 40).Select(i => "v" + i).Order(), reread.Select(r => Encoding.UTF8.GetString(r.Value!)).Order());
        Assert.All(reread, r => Assert.True(r.Timestamp >= baseTime.AddMinutes(60).ToUnixTimeMilliseconds()));

        // While the group has an active member, resets are refused.
        (code, _, error) = await RunAsync("groups", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute");
        Assert.Equal(6, code);
        Assert.Contains("active members", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_into_a_topic_copies_the_range_exactly_and_a_second_run_adds_nothing()
    {
        string source = BrokerFixture.UniqueTopic("cli-src");
        string target = BrokerFixture.UniqueTopic("cli-dst");
        Assert.Equal(0, (await RunAsync("topics", "create", source, "--partitions", "2")).Code);
        Assert.Equal(0, (await RunAsync("topics", "create", target, "--partitions", "2")).Code);
        var baseTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap, CompressionType = CompressionType.Lz4 }))
        {
            var records = Enumerable.Range(0, 300).Select(i => new ProducerRecord(i % 7 == 0 ? null : Encoding.UTF8.GetBytes("k" + i), i % 11 == 0 ? null : Encoding.UTF8.GetBytes("value " + i))
            {
                Timestamp = baseTime.AddSeconds(i),
                Partition = i % 2,
                Headers = i % 3 == 0 ? [new RecordHeader("trace", Encoding.UTF8.GetBytes("t" + i)), new RecordHeader("empty", null)] : null,
            }).ToList();
            await producer.ProduceBatchAsync(source, records, Ct);
        }

        using var dir = new TempDirectory("replay");
        string checkpoint = Path.Combine(dir.Path, "cp.json");
        (int code, string output, string error) = await RunAsync("replay", "--topic", source, "--from-offset", "20", "--to-offset", "120", "--into", target, "--checkpoint", checkpoint);
        Assert.True(code == 0, error);
        Assert.Contains("replayed 200 records", output, StringComparison.Ordinal);

        List<ConsumeRecord> src = [.. (await ReadAsync(broker.Bootstrap, source, 2)).Where(r => r.Offset is >= 20 and < 120)];
        List<ConsumeRecord> dst = await ReadAsync(broker.Bootstrap, target, 2);
        AssertSameRecords(src, dst, samePartition: true);

        (code, _, error) = await RunAsync("replay", "--topic", source, "--from-offset", "20", "--to-offset", "120", "--into", target, "--checkpoint", checkpoint);
        Assert.Equal(0, code);
        Assert.Contains("already completed", error, StringComparison.Ordinal);
        Assert.Equal(200, (await ReadAsync(broker.Bootstrap, target, 2)).Count);
    }

    [Fact]
    public async Task Replay_by_time_to_a_file_and_errors_for_bad_ranges()
    {
        string source = BrokerFixture.UniqueTopic("cli-file");
        Assert.Equal(0, (await RunAsync("topics", "create", source, "--partitions", "1")).Code);
        var baseTime = DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap }))
        {
            await producer.ProduceBatchAsync(source, Enumerable.Range(0, 50).Select(i => new ProducerRecord(null, new byte[] { (byte)i, 0xFF }) { Timestamp = baseTime.AddMinutes(i) }).ToList(), Ct);
        }

        using var dir = new TempDirectory("replay-file");
        string file = Path.Combine(dir.Path, "out.jsonl");
        (int code, _, string error) = await RunAsync("replay", "--topic", source, "--from-time", "2026-11-23T10:10:00Z", "--to-time", baseTime.AddMinutes(20).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--to-file", file, "--checkpoint", Path.Combine(dir.Path, "cp.json"));
        Assert.True(code == 0, error);
        string[] lines = File.ReadAllLines(file);
        Assert.Equal(10, lines.Length);
        JsonElement first = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal(10, first.GetProperty("offset").GetInt64());
        Assert.Equal(new byte[] { 10, 0xFF }, first.GetProperty("value").GetBytesFromBase64());

        (code, _, error) = await RunAsync("replay", "--topic", source, "--from-offset", "500", "--to-stdout");
        Assert.Equal(5, code);
        Assert.Single(error.Trim().Split('\n'));
        (code, _, _) = await RunAsync("replay", "--topic", "no-such-topic-" + Guid.NewGuid().ToString("N"), "--from-offset", "0", "--to-stdout");
        Assert.Equal(4, code);
        (code, _, _) = await RunAsync("replay", "--topic", source, "--to-stdout");
        Assert.Equal(2, code);
        (code, _, error) = await RunAsync("replay", "--topic", source, "--from-time", "yesterday", "--to-stdout");
        Assert.Equal(2, code);
        Assert.Contains("ISO-8601", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_broker_is_one_line_and_exit_code_3()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await CliApp.RunAsync(["topics", "list", "--bootstrap", $"127.0.0.1:{BrokerProcess.FreePort()}", "--timeout", "2"], new CliContext(output, error, new StringReader(""), false), Ct);
        Assert.Equal(3, code);
        Assert.Single(error.ToString().Trim().Split('\n'));
        Assert.StartsWith("error: ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_interrupted_replay_resumed_completes_with_no_duplicates()
    {
        string source = BrokerFixture.UniqueTopic("cli-kill-src");
        string target = BrokerFixture.UniqueTopic("cli-kill-dst");
        Assert.Equal(0, (await RunAsync("topics", "create", source, "--partitions", "2")).Code);
        Assert.Equal(0, (await RunAsync("topics", "create", target, "--partitions", "3")).Code);
        await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap, Linger = TimeSpan.FromMilliseconds(1), BatchSize = 4096 }))
        {
            // Many small batches so the replay checkpoints often.
            for (int chunk = 0; chunk < 40; chunk++)
            {
                await producer.ProduceBatchAsync(source, Enumerable.Range(chunk * 100, 100).Select(i => new ProducerRecord(Encoding.UTF8.GetBytes("key-" + i), Encoding.UTF8.GetBytes("v" + i))).ToList(), Ct);
            }
        }

        using var dir = new TempDirectory("replay-kill");
        string checkpoint = Path.Combine(dir.Path, "cp.json");
        string[] replay = ["replay", "--topic", source, "--from-offset", "0", "--into", target, "--partitioning", "key", "--checkpoint", checkpoint, "--bootstrap", broker.Bootstrap];

        // Run the tool as a real process, slowed down, and kill it part-way.
        using (Process tool = StartTool([.. replay, "--rate", "1500"]))
        {
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline && (await TargetCountAsync(target)) < 1000)
            {
                await Task.Delay(50, Ct);
            }

            tool.Kill(entireProcessTree: true);
            await tool.WaitForExitAsync(Ct);
        }

        long partial = await TargetCountAsync(target);
        Assert.InRange(partial, 1000, 3999);

        using (Process tool = StartTool(replay))
        {
            await tool.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            Assert.True(tool.ExitCode == 0, await tool.StandardError.ReadToEndAsync(Ct));
        }

        List<ConsumeRecord> copied = await ReadAsync(broker.Bootstrap, target, 3);
        Assert.Equal(4000, copied.Count);
        Assert.Equal(4000, copied.Select(r => Encoding.UTF8.GetString(r.Value!)).Distinct().Count());
        Assert.All(copied, r => Assert.Equal(KafkaProducer.PartitionForKey(r.Key, 3), r.Partition.Partition));
    }

    private async Task<long> TargetCountAsync(string topic)
    {
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap });
        return (await admin.ListOffsetsAsync(Enumerable.Range(0, 3).Select(p => new TopicPartition(topic, p)), OffsetSpec.Latest, Ct)).Sum(o => o.Offset);
    }

    private static Process StartTool(string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "logbroker.dll"));
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start logbroker");
    }

    private static void AssertSameRecords(List<ConsumeRecord> source, List<ConsumeRecord> target, bool samePartition)
    {
        Assert.Equal(source.Count, target.Count);
        foreach (IGrouping<int, ConsumeRecord> partition in source.GroupBy(r => r.Partition.Partition))
        {
            List<ConsumeRecord> copies = [.. target.Where(r => !samePartition || r.Partition.Partition == partition.Key)];
            List<ConsumeRecord> originals = [.. partition];
            Assert.Equal(originals.Count, copies.Count);
            for (int i = 0; i < originals.Count; i++)
            {
                Assert.Equal(originals[i].Key, copies[i].Key);
                Assert.Equal(originals[i].Value, copies[i].Value);
                Assert.Equal(originals[i].Timestamp, copies[i].Timestamp);
                Assert.Equal(originals[i].Headers.Select(h => (h.Key, h.Value?.ToArray())), copies[i].Headers.Select(h => (h.Key, h.Value?.ToArray())));
            }
        }
    }
}
