// Many partitions on one broker process: created by CreateTopics in batches, one record produced
// into each, then SIGTERM + restart and kill -9 + restart, each timed until the broker listens
// again, every record checked after each restart, and the broker's memory, mappings and descriptors
// read from /proc at each step. Raw Kafka protocol over one loopback connection (no client library
// in the measurement).
//
//   dotnet run -c Release --project bench/LoadTool -- --scenario scale [--partitions 50000]
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.LoadTool;

internal static class ScaleScenario
{
    private const int PartitionsPerTopic = 100;
    private const int TopicsPerRequest = 10; // 1,000 partitions per CreateTopics request

    public static async Task RunAsync(string data, int partitions)
    {
        int topics = Math.Max(1, partitions / PartitionsPerTopic);
        partitions = topics * PartitionsPerTopic;
        Console.WriteLine($"# scale: {partitions} partitions ({topics} topics x {PartitionsPerTopic}), ulimit -n {Limit("Max open files")}, " +
                          $"vm.max_map_count {File.ReadAllText("/proc/sys/vm/max_map_count").Trim()}");

        // Same-run baseline: the same broker with nothing in it.
        string empty = data + "-empty";
        Directory.CreateDirectory(empty);
        (Process baseline, int basePort, TimeSpan baseStart) = await StartAsync(empty);
        Report("baseline (empty data directory): start to listening", baseStart, baseline, empty);
        await StopAsync(baseline, kill: false);

        (Process broker, int port, TimeSpan started) = await StartAsync(data);
        Report("fresh start", started, broker, data);
        using (var connection = await Connection.OpenAsync(port))
        {
            var clock = Stopwatch.StartNew();
            for (int first = 0; first < topics; first += TopicsPerRequest)
            {
                var request = new CreateTopicsRequest();
                for (int t = first; t < Math.Min(topics, first + TopicsPerRequest); t++)
                {
                    request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = Topic(t), NumPartitions = PartitionsPerTopic, ReplicationFactor = 1 });
                }

                CreateTopicsResponse response = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, request);
                foreach (CreateTopicsResponse.CreatableTopicResult result in response.Topics)
                {
                    Check(result.ErrorCode == 0, $"create {result.Name}: error {result.ErrorCode} {result.ErrorMessage}");
                }
            }

            Report($"created {partitions} partitions by CreateTopics ({TopicsPerRequest * PartitionsPerTopic} per request)", clock.Elapsed, broker, data);

            clock.Restart();
            for (int t = 0; t < topics; t++)
            {
                var topicData = new ProduceRequest.TopicProduceData { Name = Topic(t) };
                for (int p = 0; p < PartitionsPerTopic; p++)
                {
                    topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = p, Records = Batch(Topic(t), p) });
                }

                ProduceResponse response = await connection.RequestAsync<ProduceResponse>(ApiKey.Produce, 7,
                    new ProduceRequest { Acks = 1, TimeoutMs = 30_000, TopicData = [topicData] });
                foreach (ProduceResponse.PartitionProduceResponse partition in response.Responses[0].PartitionResponses)
                {
                    Check(partition.ErrorCode == 0 && partition.BaseOffset == 0, $"produce {Topic(t)}-{partition.Index}: error {partition.ErrorCode}");
                }
            }

            Report($"produced 1 record into each (acks=1, {PartitionsPerTopic} partitions per request)", clock.Elapsed, broker, data);
            clock.Restart();
            await VerifyAsync(connection, topics);
            Report("fetched and checked every record", clock.Elapsed, broker, data);
        }

        foreach (bool kill in (bool[])[false, true])
        {
            TimeSpan stopped = await StopAsync(broker, kill);
            Console.WriteLine($"{(kill ? "kill -9" : "SIGTERM")}: process gone after {stopped.TotalSeconds:F2} s");
            (broker, port, started) = await StartAsync(data);
            Report($"restart after {(kill ? "kill -9" : "SIGTERM")}: start to listening", started, broker, data);
            using var connection = await Connection.OpenAsync(port);
            var clock = Stopwatch.StartNew();
            await VerifyAsync(connection, topics);
            Report($"after {(kill ? "kill -9" : "SIGTERM")}: fetched and checked every record", clock.Elapsed, broker, data);
        }

        await StopAsync(broker, kill: false);
        foreach (string dir in new[] { data, empty })
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Topic(int t) => "scale-" + t.ToString(CultureInfo.InvariantCulture);

    private static string Key(string topic, int partition) => $"{topic}/{partition.ToString(CultureInfo.InvariantCulture)}";

    private static byte[] Batch(string topic, int partition)
    {
        var builder = new RecordBatchBuilder();
        builder.Add(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Encoding.UTF8.GetBytes(Key(topic, partition)), new byte[100]);
        return builder.ToArray();
    }

    /// <summary>Every partition from offset 0: exactly one batch of one record with its key. A fetch serves at most
    /// Storage:MaxOpenSegments partitions' data; the others are asked again.</summary>
    private static async Task VerifyAsync(Connection connection, int topics)
    {
        for (int t = 0; t < topics; t++)
        {
            string topic = Topic(t);
            var missing = new HashSet<int>(Enumerable.Range(0, PartitionsPerTopic));
            for (int attempt = 0; missing.Count > 0; attempt++)
            {
                Check(attempt < 100, $"{topic}: {missing.Count} partitions never served");
                var fetch = new FetchRequest.FetchTopic { Topic = topic };
                foreach (int p in missing)
                {
                    fetch.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1 << 16 });
                }

                FetchResponse response = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 11,
                    new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 64 << 20, Topics = [fetch] });
                foreach (FetchResponse.PartitionData partition in response.Responses[0].Partitions)
                {
                    ReadOnlySpan<byte> records = partition.Records.GetValueOrDefault().Span;
                    if (records.IsEmpty)
                    {
                        continue;
                    }

                    RecordBatchHeader header = RecordBatchHeader.Read(records);
                    Check(partition.HighWatermark == 1 && header.BaseOffset == 0 && header.RecordCount == 1 && header.TotalSize == records.Length &&
                          records.IndexOf(Encoding.UTF8.GetBytes(Key(topic, partition.PartitionIndex))) >= 0,
                        $"{topic}-{partition.PartitionIndex}: unexpected contents");
                    missing.Remove(partition.PartitionIndex);
                }
            }
        }
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new InvalidOperationException(message);
        }
    }

    private static string Limit(string name) =>
        File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?[26..].Trim() ?? "?";

    private static void Report(string step, TimeSpan elapsed, Process broker, string data)
    {
        ProcessResources r = ProcessResources.Of(broker.Id, data);
        Console.WriteLine($"{step}: {elapsed.TotalSeconds:F2} s | RssAnon {r.RssAnonKb} kB, RssFile {r.RssFileKb} kB, VmHWM {r.PeakRssKb} kB | " +
                          $"maps {r.Maps} ({r.DataMaps} of data files) | fds {r.Fds} ({r.DataFds} of data files)");
    }

    private static async Task<(Process Process, int Port, TimeSpan Started)> StartAsync(string data, params string[] settings)
    {
        var clock = Stopwatch.StartNew();
        (Process process, int port) = global::Broker.Launch(data, settings);
        while (clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            Check(!process.HasExited, $"the broker exited with {(process.HasExited ? process.ExitCode : 0)}");
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return (process, port, clock.Elapsed);
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }

        process.Kill();
        throw new TimeoutException("broker did not start");
    }

    private static async Task<TimeSpan> StopAsync(Process process, bool kill)
    {
        var clock = Stopwatch.StartNew();
        if (kill)
        {
            process.Kill();
        }
        else
        {
            using Process term = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!;
            await term.WaitForExitAsync();
        }

        if (!process.WaitForExit(180_000))
        {
            process.Kill();
            throw new TimeoutException("the broker did not stop");
        }

        TimeSpan elapsed = clock.Elapsed;
        Check(kill || process.ExitCode == 0, $"SIGTERM exit code {process.ExitCode}");
        process.Dispose();
        return elapsed;
    }

    /// <summary>One loopback connection speaking Kafka frames.</summary>
    internal sealed class Connection : IDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;
        private int _correlation;

        private Connection(TcpClient client)
        {
            _client = client;
            _stream = client.GetStream();
        }

        public static async Task<Connection> OpenAsync(int port)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return new Connection(client);
        }

        public async Task<T> RequestAsync<T>(ApiKey key, short version, IKafkaMessage request)
            where T : IKafkaMessage, new()
        {
            int correlation = ++_correlation;
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new KafkaWriter(buffer);
            new RequestHeader((short)key, version, correlation, "scale-bench").Write(ref writer);
            request.Write(ref writer, version);
            writer.Commit();
            byte[] frame = new byte[4 + buffer.WrittenCount];
            BinaryPrimitives.WriteInt32BigEndian(frame, buffer.WrittenCount);
            buffer.WrittenSpan.CopyTo(frame.AsSpan(4));
            await _stream.WriteAsync(frame);

            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            byte[] prefix = new byte[4];
            await _stream.ReadExactlyAsync(prefix, cts.Token);
            byte[] body = new byte[BinaryPrimitives.ReadInt32BigEndian(prefix)];
            await _stream.ReadExactlyAsync(body, cts.Token);
            var reader = new KafkaReader(body);
            Check(reader.ReadInt32() == correlation, "correlation id mismatch");
            if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
            {
                reader.SkipTaggedFields();
            }

            var result = new T();
            result.Read(ref reader, version);
            Check(!reader.Failed, $"{key} v{version} response did not decode");
            return result;
        }

        public void Dispose()
        {
            _stream.Dispose();
            _client.Dispose();
        }
    }
}
