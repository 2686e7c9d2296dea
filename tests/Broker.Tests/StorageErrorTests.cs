using LogBroker.Broker.Handlers;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.Storage.Internal;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests;

/// <summary>
/// KAFKA_STORAGE_ERROR as each handler answers it, driven by the storage fault seam
/// (<see cref="StorageFaults"/>) on a real data directory: one pwrite or mmap of one segment file
/// fails on purpose, and the handler's answer for that partition (and for the others) is checked.
/// </summary>
public sealed class StorageErrorTests : IDisposable
{
    private const string Topic = "faulty";
    private static readonly LogConfig Config = LogConfig.Default with { SegmentBytes = 1024 * 1024, SegmentIndexBytes = 4096 };
    private readonly TempDirectory _dir = new("storage-errors");
    private readonly LogManager _logs;
    private readonly TopicRegistry _topics;
    private readonly ProducerStates _producers = new();

    public StorageErrorTests()
    {
        // A failed partition stays failed for the whole test.
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path, Log = Config, FailedPartitionRetryInterval = TimeSpan.FromHours(1) });
        _topics = new TopicRegistry(_logs, Config, NullLogger<TopicRegistry>.Instance);
        Assert.Equal(ErrorCode.None, _topics.Create(Topic, 2, new Dictionary<string, string?>(), validateOnly: false, out _));
    }

    public void Dispose()
    {
        _topics.Dispose();
        _logs.Dispose();
        _dir.Dispose();
    }

    /// <summary>The next operation of the kind on a file of partition 0 fails with EIO.</summary>
    private void FailNextOnPartition0(StorageOperation operation)
    {
        int left = 1;
        string directory = Path.Combine(_logs.DataDirectory, Topic + "-0") + Path.DirectorySeparatorChar;
        _logs.Faults.Inject = (op, path) =>
            op == operation && path.StartsWith(directory, StringComparison.Ordinal) && Interlocked.Decrement(ref left) >= 0
                ? new IOException("injected EIO", 5)
                : null;
    }

    private static RequestContext Context(ApiKey key, short version) =>
        new(new byte[16], 16, new RequestHeader((short)key, version, 1, null), "test");

    private async Task<short> ProduceAsync(int partition)
    {
        var handler = new ProduceHandler(_topics, _producers, new BrokerOptions(), TimeProvider.System);
        var request = new ProduceRequest
        {
            Acks = 1,
            TimeoutMs = 1000,
            TopicData = [new ProduceRequest.TopicProduceData { Name = Topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition, Records = Batches.Create(1) }] }],
        };
        using RequestContext context = Context(ApiKey.Produce, 7);
        var response = (ProduceResponse)(await handler.HandleAsync(context, request))!;
        return response.Responses.Single().PartitionResponses.Single().ErrorCode;
    }

    [Fact]
    public async Task Produce_answers_KAFKA_STORAGE_ERROR_for_a_failed_write_and_keeps_answering_it_for_that_partition_only()
    {
        Assert.Equal(0, await ProduceAsync(0));
        FailNextOnPartition0(StorageOperation.Write);
        Assert.Equal((short)ErrorCode.KafkaStorageError, await ProduceAsync(0));
        Assert.Equal((short)ErrorCode.KafkaStorageError, await ProduceAsync(0)); // the fault is gone; the partition stays failed
        Assert.Equal(0, await ProduceAsync(1));
    }

    [Fact]
    public async Task Fetch_answers_KAFKA_STORAGE_ERROR_when_the_segment_cannot_be_mapped_and_data_once_it_can()
    {
        Assert.Equal(0, await ProduceAsync(0));
        Assert.Equal(0, await ProduceAsync(1));
        FailNextOnPartition0(StorageOperation.Map);
        var handler = new FetchHandler(_topics, new BrokerOptions(), TimeProvider.System);
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var topic = new FetchRequest.FetchTopic { Topic = Topic };
            for (int p = 0; p < 2; p++)
            {
                topic.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1 << 20 });
            }

            using RequestContext context = Context(ApiKey.Fetch, 11);
            var response = (FetchResponse)(await handler.HandleAsync(context,
                new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 1 << 20, Topics = [topic] }))!;
            List<FetchResponse.PartitionData> partitions = response.Responses.Single().Partitions;
            if (attempt == 0)
            {
                Assert.Equal((short)ErrorCode.KafkaStorageError, partitions[0].ErrorCode);
                Assert.True(partitions[0].Records.GetValueOrDefault().IsEmpty);
            }
            else
            {
                Assert.Equal(0, partitions[0].ErrorCode);
                Assert.False(partitions[0].Records.GetValueOrDefault().IsEmpty);
            }

            Assert.Equal(0, partitions[1].ErrorCode);
            Assert.False(partitions[1].Records.GetValueOrDefault().IsEmpty);
        }
    }

    [Fact]
    public async Task DeleteRecords_answers_KAFKA_STORAGE_ERROR_on_a_failed_partition()
    {
        Assert.Equal(0, await ProduceAsync(0));
        Assert.Equal(0, await ProduceAsync(0));
        FailNextOnPartition0(StorageOperation.Write);
        Assert.Equal((short)ErrorCode.KafkaStorageError, await ProduceAsync(0));
        var handler = new DeleteRecordsHandler(_topics, _logs);
        var request = new DeleteRecordsRequest
        {
            TimeoutMs = 1000,
            Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = Topic, Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = 1 }] }],
        };
        using RequestContext context = Context(ApiKey.DeleteRecords, 2);
        var response = (DeleteRecordsResponse)(await handler.HandleAsync(context, request))!;
        DeleteRecordsResponse.DeleteRecordsPartitionResult result = response.Topics.Single().Partitions.Single();
        Assert.Equal((short)ErrorCode.KafkaStorageError, result.ErrorCode);
        Assert.Equal(0, _logs.Get(new TopicPartition(Topic, 0))!.LogStartOffset);
    }
}
