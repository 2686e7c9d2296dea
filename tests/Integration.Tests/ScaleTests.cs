using System.Globalization;
using System.Text;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests;

/// <summary>
/// Thousands of partitions on one broker process: created by CreateTopics, one record produced
/// into each, then SIGTERM and kill -9 restarts. The open segment files (descriptors and mappings
/// of files in the data directory, read from /proc) stay within 3 × Storage:MaxOpenSegments
/// throughout, and every record is there after each restart. (Timings: see bench/LoadTool scale.)
/// </summary>
public sealed class ScaleTests
{
    private const int Topics = 50;
    private const int PartitionsPerTopic = 100;
    private const int MaxOpenSegments = 64;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Five_thousand_partitions_stay_within_the_open_file_bound_and_survive_sigterm_and_kill_9()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Reads the broker's descriptors and mappings from /proc.");
        }

        using var data = new TempDirectory("scale");
        int port = BrokerProcess.FreePort();
        string[] settings = [$"--Storage:MaxOpenSegments={MaxOpenSegments}"];
        BrokerProcess broker = await BrokerProcess.StartAsync(data.Path, port, settings);
        try
        {
            string prefix = "scale" + Guid.NewGuid().ToString("N")[..6];
            using (RawConnection connection = await RawConnection.OpenAsync(port))
            {
                await StorageScenario.CreateTopicsAsync(connection, prefix, Topics, PartitionsPerTopic, topicsPerRequest: 10, Patience);
                StorageScenario.AssertWithinBound(data.Path, MaxOpenSegments);
                await StorageScenario.ProduceOneEachAsync(connection, prefix, Topics, PartitionsPerTopic, Patience);
                StorageScenario.AssertWithinBound(data.Path, MaxOpenSegments);
                await StorageScenario.VerifyAllAsync(connection, prefix, Topics, PartitionsPerTopic, Patience);
                StorageScenario.AssertWithinBound(data.Path, MaxOpenSegments);
            }

            foreach (bool kill in (bool[])[false, true])
            {
                if (kill)
                {
                    await broker.KillAsync();
                }
                else
                {
                    await broker.TerminateAsync();
                    Assert.Equal(0, broker.ExitCode);
                }

                await broker.DisposeAsync();
                broker = await BrokerProcess.StartAsync(data.Path, port, settings);
                StorageScenario.AssertWithinBound(data.Path, MaxOpenSegments);
                using RawConnection connection = await RawConnection.OpenAsync(port);
                await StorageScenario.VerifyAllAsync(connection, prefix, Topics, PartitionsPerTopic, Patience);
                StorageScenario.AssertWithinBound(data.Path, MaxOpenSegments);
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }
}

/// <summary>Raw-protocol steps shared by the scale and disk-full tests, and /proc readings of the broker.</summary>
internal static class StorageScenario
{
    public static string Topic(string prefix, int t) => $"{prefix}-{t.ToString(CultureInfo.InvariantCulture)}";

    public static string Tag(string topic, int partition) => $"{topic}/{partition.ToString(CultureInfo.InvariantCulture)}";

    public static async Task CreateTopicsAsync(RawConnection connection, string prefix, int topics, int partitions, int topicsPerRequest, TimeSpan patience)
    {
        for (int first = 0; first < topics; first += topicsPerRequest)
        {
            var request = new CreateTopicsRequest();
            for (int t = first; t < Math.Min(topics, first + topicsPerRequest); t++)
            {
                request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = Topic(prefix, t), NumPartitions = partitions, ReplicationFactor = 1 });
            }

            CreateTopicsResponse response = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, request, patience);
            foreach (CreateTopicsResponse.CreatableTopicResult result in response.Topics)
            {
                Assert.True(result.ErrorCode == 0, $"{result.Name}: error {result.ErrorCode} {result.ErrorMessage}");
            }
        }
    }

    /// <summary>One produce request per topic carrying one single-record batch for each of its partitions.</summary>
    public static async Task ProduceOneEachAsync(RawConnection connection, string prefix, int topics, int partitions, TimeSpan patience)
    {
        for (int t = 0; t < topics; t++)
        {
            ProduceResponse response = await ProduceAsync(connection, Topic(prefix, t), partitions, patience);
            foreach (ProduceResponse.TopicProduceResponse topic in response.Responses)
            {
                foreach (ProduceResponse.PartitionProduceResponse partition in topic.PartitionResponses)
                {
                    Assert.True(partition.ErrorCode == 0 && partition.BaseOffset == 0,
                        $"{topic.Name}-{partition.Index}: error {partition.ErrorCode}, offset {partition.BaseOffset}");
                }
            }
        }
    }

    public static Task<ProduceResponse> ProduceAsync(RawConnection connection, string topic, int partitions, TimeSpan patience,
        short acks = 1, int valueBytes = 16, string round = "")
    {
        var data = new ProduceRequest.TopicProduceData { Name = topic };
        for (int p = 0; p < partitions; p++)
        {
            data.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = p, Records = Batches.Create(1, valueBytes, tag: Tag(topic, p) + round) });
        }

        return connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7, new ProduceRequest { Acks = acks, TimeoutMs = 30_000, TopicData = [data] }, patience);
    }

    /// <summary>
    /// Fetches every partition from offset 0, a topic per request: exactly the one record produced,
    /// with its key. One fetch holds at most Storage:MaxOpenSegments partitions' data (the rest come
    /// back empty, as a bound reached), so partitions not served yet are asked for again.
    /// </summary>
    public static async Task VerifyAllAsync(RawConnection connection, string prefix, int topics, int partitions, TimeSpan patience)
    {
        for (int t = 0; t < topics; t++)
        {
            string topic = Topic(prefix, t);
            var missing = new HashSet<int>(Enumerable.Range(0, partitions));
            while (missing.Count > 0)
            {
                var fetch = new FetchRequest.FetchTopic { Topic = topic };
                foreach (int p in missing.Order())
                {
                    fetch.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1 << 16 });
                }

                FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11,
                    new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 64 << 20, Topics = [fetch] }, patience);
                Assert.Equal(0, response.ErrorCode);
                int before = missing.Count;
                foreach (FetchResponse.PartitionData partition in response.Responses.Single().Partitions)
                {
                    Assert.True(partition.ErrorCode is 0 or (short)Protocol.ErrorCode.KafkaStorageError && partition.HighWatermark is 1 or -1,
                        $"{topic}-{partition.PartitionIndex}: error {partition.ErrorCode}, high watermark {partition.HighWatermark}");
                    List<(long BaseOffset, int Records, byte[] Bytes)> batches = Batches.Split(partition.Records.GetValueOrDefault().Span);
                    if (batches.Count == 0)
                    {
                        continue; // not served in this fetch
                    }

                    (long baseOffset, int records, byte[] bytes) = batches.Single();
                    Assert.Equal((0L, 1), (baseOffset, records));
                    Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Tag(topic, partition.PartitionIndex) + "-0")) >= 0,
                        $"{topic}-{partition.PartitionIndex} holds another record");
                    missing.Remove(partition.PartitionIndex);
                }

                Assert.True(missing.Count < before, $"{topic}: a fetch served none of the {missing.Count} partitions still unread");
            }
        }
    }

    /// <summary>Every stored batch of every partition, by (partition, base offset), read from offset 0 to the high watermark.</summary>
    public static async Task<Dictionary<(int Partition, long Offset), byte[]>> ReadAllAsync(RawConnection connection, string topic, int partitions, TimeSpan patience)
    {
        var all = new Dictionary<(int, long), byte[]>();
        long[] next = new long[partitions];
        long[] end = new long[partitions];
        Array.Fill(end, long.MaxValue);
        while (next.Where((n, p) => n < end[p]).Any())
        {
            var fetch = new FetchRequest.FetchTopic { Topic = topic };
            for (int p = 0; p < partitions; p++)
            {
                if (next[p] < end[p])
                {
                    fetch.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = next[p], PartitionMaxBytes = 1 << 20 });
                }
            }

            FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11,
                new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 16 << 20, Topics = [fetch] }, patience);
            bool progress = false;
            foreach (FetchResponse.PartitionData partition in response.Responses.Single().Partitions)
            {
                Assert.True(partition.ErrorCode == 0, $"{topic}-{partition.PartitionIndex}: fetch error {partition.ErrorCode}");
                end[partition.PartitionIndex] = partition.HighWatermark;
                foreach ((long baseOffset, int records, byte[] bytes) in Batches.Split(partition.Records.GetValueOrDefault().Span))
                {
                    all[(partition.PartitionIndex, baseOffset)] = bytes;
                    next[partition.PartitionIndex] = baseOffset + records;
                    progress = true;
                }
            }

            if (!progress && next.Where((n, p) => n < end[p]).Any())
            {
                throw new InvalidOperationException($"{topic}: no progress reading below the high watermark");
            }
        }

        return all;
    }

    /// <summary>The broker process serving <paramref name="dataDirectory"/> (found by its command line in /proc).</summary>
    public static int BrokerPid(string dataDirectory)
    {
        string wanted = "--Storage:DataDirectory=" + dataDirectory;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0').Contains(wanted))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        throw new InvalidOperationException($"no broker process for {dataDirectory}");
    }

    /// <summary>Descriptors and mappings of the broker that point into the data directory, with totals and memory.</summary>
    public static ProcessResources Resources(string dataDirectory) => ProcessResources.Of(BrokerPid(dataDirectory), dataDirectory);

    /// <summary>
    /// Segment files open in the broker: each open segment holds at most three descriptors and three
    /// mappings; a few more descriptors are the data directory's lock and metadata files.
    /// </summary>
    public static void AssertWithinBound(string dataDirectory, int maxOpenSegments)
    {
        (int dataFds, int dataMaps, _, _, _, _, _) = Resources(dataDirectory);
        Assert.InRange(dataFds, 0, (3 * maxOpenSegments) + 4);
        Assert.InRange(dataMaps, 0, 3 * maxOpenSegments);
    }
}
