using BenchmarkDotNet.Attributes;
using LogBroker.Broker.Tests.Handlers;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Broker.Benchmarks;

/// <summary>
/// The broker's own cost per request, without sockets: Produce and Fetch frames go through a real
/// <see cref="Network.KafkaConnection"/> (framing, the in-flight queue, the dispatcher, decode, the
/// handler, storage, response encoding and the write loop) over in-memory pipes to a whole
/// <see cref="EmbeddedBroker"/> (garnet's embedded-server shape). Requests are encoded once in setup
/// and the responses are skipped unread, so nearly all the time measured is the broker's; 64 requests
/// are pipelined per operation, as a client with a full in-flight window would send them.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private const int Pipelined = 64;
    private string _directory = "";
    private EmbeddedBroker _broker = null!;
    private EmbeddedClient _client = null!;
    private byte[] _produces = [];
    private byte[] _fetches = [];

    /// <summary>Records per produced batch (100-byte values).</summary>
    [Params(10)]
    public int Records { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "logbroker-bench-pipeline-" + Guid.NewGuid().ToString("N"));
        _broker = EmbeddedBroker.StartAsync(_directory,
        [
            new("Storage:Log:SegmentBytes", (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("Storage:Log:RetentionBytes", (256 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("Storage:RetentionCheckInterval", "00:00:01"),
        ]).GetAwaiter().GetResult();
        _client = _broker.Connect();
        var create = new CreateTopicsRequest { Topics = [new CreateTopicsRequest.CreatableTopic { Name = "bench", NumPartitions = 1, ReplicationFactor = 1 }] };
        _client.SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, create).GetAwaiter().GetResult();

        byte[] produce = EmbeddedClient.Encode(ApiKey.Produce, 9, 1, RequestFrames.Produce("bench", 0, Batch(Records)));
        _produces = Repeat(produce, Pipelined);
        _client.WriteAsync(_produces).AsTask().GetAwaiter().GetResult(); // data for the fetches
        _client.SkipFramesAsync(Pipelined).AsTask().GetAwaiter().GetResult();

        var fetch = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = 0,
            MinBytes = 0,
            MaxBytes = 1024 * 1024,
            Topics =
            [
                new FetchRequest.FetchTopic
                {
                    Topic = "bench",
                    Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 16 * 1024, LogStartOffset = -1 }],
                },
            ],
        };
        _fetches = Repeat(EmbeddedClient.Encode(ApiKey.Fetch, 11, 2, fetch), Pipelined);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _broker.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>A Produce v9 (acks=1, one batch to one partition) through the whole broker.</summary>
    [Benchmark(OperationsPerInvoke = Pipelined)]
    public async Task Produce()
    {
        await _client.WriteAsync(_produces).ConfigureAwait(false);
        await _client.SkipFramesAsync(Pipelined).ConfigureAwait(false);
    }

    /// <summary>A Fetch v11 (no wait; up to 16 KiB of one partition from offset 0) through the whole broker.</summary>
    [Benchmark(OperationsPerInvoke = Pipelined)]
    public async Task Fetch()
    {
        await _client.WriteAsync(_fetches).ConfigureAwait(false);
        await _client.SkipFramesAsync(Pipelined).ConfigureAwait(false);
    }

    private static byte[] Repeat(byte[] frame, int times)
    {
        byte[] all = new byte[frame.Length * times];
        for (int i = 0; i < times; i++)
        {
            frame.CopyTo(all, i * frame.Length);
        }

        return all;
    }

    private static byte[] Batch(int records) => LogBroker.TestKit.Batches.Create(records, 100);
}
