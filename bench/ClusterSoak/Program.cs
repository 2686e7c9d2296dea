using System.Diagnostics;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.TestKit.History;

// The soak's client (bench/cluster-soak.sh runs the fault loop beside it): creates the topic (replication factor
// 3, min.insync.replicas=2), produces unique values with acks=all and idempotence for the given time, recording
// every send, ack and failure in a History, then reads every partition back from the start and prints the
// checker's verdict. Exit code 0 only when the verdict is valid and something was acknowledged.
// With a faults file (lines "<unix ms> <broker id>", one per kill, written by the fault loop) it also prints each
// fault's failover time: how long after the kill the partitions that stopped being acknowledged were acknowledged again.
// Usage: ClusterSoak <bootstrap> <topic> <partitions> <seconds> [faults-file]
if (args.Length is not (4 or 5) || !int.TryParse(args[2], out var partitions) || !int.TryParse(args[3], out var seconds)
    || partitions is < 1 or > 64 || seconds is < 1 or > 86_400)
{
    Console.Error.WriteLine("usage: ClusterSoak <bootstrap> <topic> <partitions 1-64> <seconds 1-86400> [faults-file]");
    return 2;
}

var faultsFile = args.Length == 5 ? args[4] : null;

// SOAK_RATE records/s (default 5,000; 0: as fast as the producer takes them). A correctness soak, not a throughput
// run: the history of every record is kept in memory, and every acknowledged record must be read back at the end.
var rate = int.TryParse(Environment.GetEnvironmentVariable("SOAK_RATE"), out var r) && r >= 0 ? r : 5_000;
var acks = new AckTimeline(partitions, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), seconds + 120);

var (bootstrap, topic) = (args[0], args[1]);
using (var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build())
{
    try
    {
        await admin.CreateTopicsAsync([new TopicSpecification
        {
            Name = topic, NumPartitions = partitions, ReplicationFactor = 3,
            Configs = new Dictionary<string, string> { ["min.insync.replicas"] = "2" },
        }]);
    }
    catch (CreateTopicsException e)
    {
        Console.WriteLine($"create topic: {e.Results[0].Error.Reason}");
    }
}

var history = new History();
var producerConfig = new ProducerConfig
{
    BootstrapServers = bootstrap,
    Acks = Acks.All,
    EnableIdempotence = true,
    MessageTimeoutMs = 30_000,
    LingerMs = 5,
};
var clock = Stopwatch.StartNew();
long sent = 0;
using (var producer = new ProducerBuilder<Null, string>(producerConfig).Build())
{
    using var inFlight = new SemaphoreSlim(1000);
    while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
    {
        if (rate > 0 && sent % 100 == 0 && TimeSpan.FromSeconds(sent / (double)rate) - clock.Elapsed is { Ticks: > 0 } ahead)
        {
            await Task.Delay(ahead);
        }

        var value = $"v-{sent}";
        var partition = (int)(sent % partitions);
        sent++;
        history.Sent(value, partition);
        await inFlight.WaitAsync();
        try
        {
            producer.Produce(new TopicPartition(topic, partition), new Message<Null, string> { Value = value }, report =>
            {
                if (report.Error.IsError)
                {
                    history.Failed(value);
                }
                else
                {
                    history.Acked(value, report.Offset.Value);
                    acks.Acked(partition, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                }

                inFlight.Release();
            });
        }
        catch (ProduceException<Null, string>)
        {
            // Refused before sending (unknown partition, full queue): a failed send, and a pause before the next.
            history.Failed(value);
            inFlight.Release();
            await Task.Delay(100);
        }
    }

    producer.Flush(TimeSpan.FromSeconds(60));
}

// Read back: every partition from the start up to its high watermark, bounded in time.
var consumerConfig = new ConsumerConfig
{
    BootstrapServers = bootstrap,
    GroupId = "soak-" + Guid.NewGuid().ToString("N"),
    EnableAutoCommit = false,
    AutoOffsetReset = AutoOffsetReset.Earliest,
    EnablePartitionEof = true,
};
using (var consumer = new ConsumerBuilder<Ignore, string>(consumerConfig).Build())
{
    for (var p = 0; p < partitions; p++)
    {
        var tp = new TopicPartition(topic, p);
        long high;
        try
        {
            high = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).High.Value;
        }
        catch (KafkaException e)
        {
            Console.WriteLine($"partition {p}: watermarks unavailable ({e.Error.Reason})");
            continue;
        }

        consumer.Assign(new TopicPartitionOffset(tp, Offset.Beginning));
        var deadline = Stopwatch.StartNew();
        long next = 0;
        var bound = TimeSpan.FromSeconds(60 + (high / 20_000)); // generous for the records there, yet bounded
        while (next < high && deadline.Elapsed < bound)
        {
            var result = consumer.Consume(TimeSpan.FromSeconds(1));
            if (result is null || result.IsPartitionEOF)
            {
                continue;
            }

            history.ReadAt(1, p, result.Offset.Value, result.Message.Value);
            next = result.Offset.Value + 1;
        }

        consumer.Unassign();
    }
}

var verdict = history.Check();
Console.WriteLine($"soak: {seconds}s, {partitions} partitions, {sent} sends");
Console.WriteLine(verdict);
if (faultsFile is not null && File.Exists(faultsFile))
{
    var faults = new List<long>();
    foreach (var line in File.ReadAllLines(faultsFile))
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length >= 1 && long.TryParse(fields[0], out var at))
        {
            faults.Add(at);
        }
    }

    var failovers = new List<long>(faults.Count);
    var stalls = new List<long>(faults.Count);
    for (int i = 0; i < faults.Count; i++)
    {
        failovers.Add(acks.FailoverMs(faults[i]));
        stalls.Add(acks.StallMs(faults[i], i + 1 < faults.Count ? faults[i + 1] : long.MaxValue / 2));
    }

    Console.WriteLine($"failover ms per fault (kill -9 to the first acks=all acknowledgement again of every partition that stopped): [{string.Join(", ", failovers)}]");
    Summarize("failover ms", failovers);
    Console.WriteLine($"stall ms per fault (the longest gap in any partition's acknowledgements that began from the fault to the next): [{string.Join(", ", stalls)}]");
    Summarize("stall ms", stalls);
}

static void Summarize(string name, List<long> values)
{
    if (values.Count > 0)
    {
        values = [.. values];
        values.Sort();
        Console.WriteLine($"{name}: n={values.Count} min={values[0]} median={values[values.Count / 2]} " +
            $"p90={values[(int)Math.Min(values.Count - 1, Math.Ceiling(values.Count * 0.9) - 1)]} max={values[^1]}");
    }
}

return verdict.Valid && verdict.Acked > 0 ? 0 : 1;

/// <summary>
/// When each partition's records were acknowledged, in 10 ms buckets from the start (one bit each: bounded by the
/// run's length, not by the record count).
/// </summary>
internal sealed class AckTimeline(int partitions, long startMs, int seconds)
{
    private const int BucketMs = 10;
    private readonly System.Collections.BitArray[] _acked = [.. Enumerable.Range(0, partitions).Select(_ => new System.Collections.BitArray(seconds * 1000 / BucketMs))];

    public void Acked(int partition, long nowMs)
    {
        long bucket = (nowMs - startMs) / BucketMs;
        if (bucket >= 0 && bucket < _acked[partition].Length)
        {
            lock (_acked[partition])
            {
                _acked[partition][(int)bucket] = true;
            }
        }
    }

    /// <summary>
    /// For a kill at <paramref name="killedMs"/>: the longest time from it to the next acknowledgement over the partitions
    /// whose acknowledgements stopped across it (a gap of more than 200 ms around the kill); 0 when none stopped.
    /// </summary>
    public long FailoverMs(long killedMs)
    {
        long kill = (killedMs - startMs) / BucketMs;
        long worst = 0;
        foreach (var acked in _acked)
        {
            if (kill < 0 || kill >= acked.Length)
            {
                continue;
            }

            long before = kill;
            while (before >= 0 && !acked[(int)before])
            {
                before--;
            }

            long after = kill + 1;
            while (after < acked.Length && !acked[(int)after])
            {
                after++;
            }

            if (after < acked.Length && (after - before) * BucketMs > 200)
            {
                worst = Math.Max(worst, (after - kill) * BucketMs);
            }
        }

        return worst;
    }

    /// <summary>
    /// The longest stall of any partition that began in [<paramref name="fromMs"/> − 200 ms, <paramref name="untilMs"/>):
    /// a run of more than 200 ms without an acknowledgement, ended by one. Unlike <see cref="FailoverMs"/>, it sees a
    /// stall that starts after the fault (a leader cut off from etcd alone keeps acknowledging until its lease lapses).
    /// </summary>
    public long StallMs(long fromMs, long untilMs)
    {
        long from = Math.Max(1, (fromMs - startMs - 200) / BucketMs);
        long longest = 0;
        foreach (var acked in _acked)
        {
            long until = Math.Min(acked.Length, (untilMs - startMs) / BucketMs);
            for (long i = from; i < until; i++)
            {
                if (!acked[(int)(i - 1)] || acked[(int)i])
                {
                    continue; // not the first bucket of a gap
                }

                long end = i;
                while (end < acked.Length && !acked[(int)end])
                {
                    end++;
                }

                if (end < acked.Length && (end - i) * BucketMs > 200)
                {
                    longest = Math.Max(longest, (end - i) * BucketMs);
                }

                i = end;
            }
        }

        return longest;
    }
}
