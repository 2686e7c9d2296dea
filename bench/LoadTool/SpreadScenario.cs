// Produce throughput spread over many active partitions (issue 10): LogBroker.Client (acks=1, 100 B,
// explicit partition = record index mod partitions, so every partition gets the same share) into
// topics of 1, 1,000 and 10,000 partitions, in alternating rounds on one broker process, each reported
// against the one-partition median of the same run. Then Metadata of one topic and a Fetch of every
// partition (offset 0, 1 KiB per partition) at 1,000 and 10,000 partitions, timed over one raw
// loopback connection, to show the cost per partition.
//
//   dotnet run -c Release --project bench/LoadTool -- --scenario spread [--records 1000000]
using System.Diagnostics;
using System.Globalization;
using LogBroker.Client.Producer;
using LogBroker.Protocol.Messages;

namespace LogBroker.LoadTool;

internal static class SpreadScenario
{
    private const int Chunk = 10_000; // a multiple of every partition count below
    private const int Rounds = 3;
    private static readonly int[] PartitionCounts = [1, 1_000, 10_000];

    public static async Task RunAsync(global::Broker broker, int records)
    {
        int count = Math.Max(Chunk, records / Chunk * Chunk);
        await using (var admin = new LogBroker.Client.Admin.AdminClient(new LogBroker.Client.Admin.AdminOptions { BootstrapServers = broker.Bootstrap }))
        {
            foreach (int p in PartitionCounts)
            {
                var clock = Stopwatch.StartNew();
                await admin.CreateTopicsAsync([new LogBroker.Client.Admin.NewTopic(Topic(p), p)]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"created {Topic(p)} ({p} partitions) in {clock.Elapsed.TotalSeconds:F2} s"));
            }
        }

        var rates = new Dictionary<int, List<double>>();
        foreach (int p in PartitionCounts)
        {
            rates[p] = [];
        }

        for (int round = 0; round < Rounds; round++)
        {
            foreach (int p in PartitionCounts)
            {
                (TimeSpan elapsed, TimeSpan client, TimeSpan brokerCpu, long clientRss) = await ProduceAsync(broker, Topic(p), p, count);
                double s = elapsed.TotalSeconds;
                rates[p].Add(count / s);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"produce 100 B acks=1 over {p,6} partitions (round {round + 1}): {count / s,9:F0} records/s, {(double)count * 100 / s / 1e6:F1} MB/s, " +
                    $"client CPU {client.TotalSeconds:F2} s ({client.TotalSeconds / s:F2} cores), broker CPU {brokerCpu.TotalSeconds:F2} s ({brokerCpu.TotalSeconds / s:F2} cores), " +
                    $"broker µs/record {brokerCpu.TotalMicroseconds / count:F2}, client RSS peak {clientRss / 1048576} MiB"));
            }
        }

        double baseline = RoundStats.Median(rates[1]);
        foreach (int p in PartitionCounts)
        {
            List<double> r = rates[p];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"summary {p,6} partitions: median {RoundStats.Median(r):F0} records/s (range {r.Min():F0}–{r.Max():F0}), {RoundStats.Median(r) / baseline:P0} of the 1-partition median"));
        }

        int port = int.Parse(broker.Bootstrap[(broker.Bootstrap.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        using var connection = await ScaleScenario.Connection.OpenAsync(port);
        foreach (int p in PartitionCounts)
        {
            await TimeMetadataAndFetchAsync(connection, p, (long)Rounds * count / p + 1);
        }

        var times = new List<double>();
        int partitionsSeen = 0;
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            MetadataResponse all = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 9, new MetadataRequest { Topics = null, AllowAutoTopicCreation = false });
            times.Add(clock.Elapsed.TotalMilliseconds);
            partitionsSeen = 0;
            foreach (MetadataResponse.MetadataResponseTopic t in all.Topics)
            {
                partitionsSeen += t.Partitions.Count;
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"metadata of all topics ({partitionsSeen} partitions): median {RoundStats.Median(times):F2} ms (range {times.Min():F2}–{times.Max():F2}) = {RoundStats.Median(times) * 1000 / partitionsSeen:F2} µs/partition"));
    }

    private static string Topic(int partitions) => "spread-" + partitions.ToString(CultureInfo.InvariantCulture);

    private static async Task<(TimeSpan Elapsed, TimeSpan Client, TimeSpan Broker, long ClientRss)> ProduceAsync(global::Broker broker, string topic, int partitions, int count)
    {
        byte[] value = new byte[100];
        new Random(1).NextBytes(value);
        var chunk = new ProducerRecord[Chunk];
        for (int j = 0; j < Chunk; j++)
        {
            chunk[j] = new ProducerRecord(null, value) { Partition = j % partitions };
        }

        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = broker.Bootstrap,
            Acks = Acks.Leader,
            EnableIdempotence = false,
            Linger = TimeSpan.FromMilliseconds(5),
            BufferMemory = 256L * 1024 * 1024,
        });
        await producer.ProduceBatchAsync(topic, new ArraySegment<ProducerRecord>(chunk, 0, 1)); // metadata, connection
        TimeSpan clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan brokerBefore = broker.CpuTime;
        var clock = Stopwatch.StartNew();
        var inFlight = new Queue<Task>();
        long rss = 0; // the client's resident set, sampled once per chunk (Environment.WorkingSet is VmRSS)
        for (int sent = 0; sent < count; sent += Chunk)
        {
            rss = Math.Max(rss, Environment.WorkingSet);
            inFlight.Enqueue(producer.ProduceBatchAsync(topic, chunk).AsTask());
            if (inFlight.Count > 16)
            {
                await inFlight.Dequeue();
            }
        }

        while (inFlight.Count > 0)
        {
            await inFlight.Dequeue();
        }

        rss = Math.Max(rss, Environment.WorkingSet);
        return (clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - clientBefore, broker.CpuTime - brokerBefore, rss);
    }

    /// <summary>Metadata of the one topic and a Fetch of all its partitions, 5 times each; the fetch also checks
    /// that every partition holds exactly its share of the records (one extra in partition 0 per producer warm-up).</summary>
    private static async Task TimeMetadataAndFetchAsync(ScaleScenario.Connection connection, int partitions, long perPartition)
    {
        string topic = Topic(partitions);
        var metadata = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            MetadataResponse response = await connection.RequestAsync<MetadataResponse>(ApiKey.Metadata, 9,
                new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = false });
            metadata.Add(clock.Elapsed.TotalMilliseconds);
            Check(response.Topics.Count == 1 && response.Topics[0].Partitions.Count == partitions, $"metadata of {topic}: wrong partition count");
        }

        var fetch = new List<double>();
        int expected = 0, served = 0;
        for (int i = 0; i < 5; i++)
        {
            var request = new FetchRequest.FetchTopic { Topic = topic };
            for (int p = 0; p < partitions; p++)
            {
                request.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1024 });
            }

            var clock = Stopwatch.StartNew();
            FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11,
                new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 64 << 20, Topics = [request] });
            fetch.Add(clock.Elapsed.TotalMilliseconds);
            expected = served = 0;
            foreach (FetchResponse.PartitionData partition in response.Responses[0].Partitions)
            {
                // Partition 0 also got the one warm-up record of each of the Rounds producers.
                long want = partition.PartitionIndex == 0 ? perPartition - 1 + Rounds : perPartition - 1;
                expected += partition.ErrorCode == 0 && partition.HighWatermark == want ? 1 : 0;
                served += partition.Records.GetValueOrDefault().IsEmpty ? 0 : 1;
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"metadata of {topic} ({partitions} partitions): median {RoundStats.Median(metadata):F2} ms (range {metadata.Min():F2}–{metadata.Max():F2}) = {RoundStats.Median(metadata) * 1000 / partitions:F2} µs/partition"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fetch of every partition of {topic} from offset 0, 1 KiB each: median {RoundStats.Median(fetch):F2} ms (range {fetch.Min():F2}–{fetch.Max():F2}) = {RoundStats.Median(fetch) * 1000 / partitions:F2} µs/partition; " +
            $"{expected}/{partitions} partitions at the expected high watermark, {served} served data"));
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new InvalidOperationException(message);
        }
    }
}
