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
    private async Task<ListOffsetsResponse.ListOffsetsPartitionResponse[]> ListOffsetsAsync(TopicRegistry topics, long timestamp, short version = 7)
    {
        var handler = new ListOffsetsHandler(topics, TimeProvider.System);
        var topic = new ListOffsetsRequest.ListOffsetsTopic { Name = Topic };
        for (int p = 0; p < 2; p++)
        {
            topic.Partitions.Add(new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p, Timestamp = timestamp, MaxNumOffsets = 10 });
        }

        using RequestContext context = Context(ApiKey.ListOffsets, version);
        var response = (ListOffsetsResponse)(await handler.HandleAsync(context, new ListOffsetsRequest { ReplicaId = -1, Topics = [topic] }))!;
        return [.. response.Topics.Single().Partitions];
    }

    [Fact]
    public async Task ListOffsets_answers_KAFKA_STORAGE_ERROR_when_the_time_index_cannot_be_mapped_and_offsets_once_it_can()
    {
        Assert.Equal(0, await ProduceAsync(0));
        Assert.Equal(0, await ProduceAsync(1));
        _logs.Get(new TopicPartition(Topic, 0))!.Roll(); // the time index of a sealed segment is mapped when searched
        _logs.Get(new TopicPartition(Topic, 1))!.Roll();
        FailNextOnPartition0(StorageOperation.Map);
        ListOffsetsResponse.ListOffsetsPartitionResponse[] first = await ListOffsetsAsync(_topics, timestamp: 0);
        Assert.Equal((short)ErrorCode.KafkaStorageError, first[0].ErrorCode);
        Assert.Equal(-1, first[0].Offset);
        Assert.Equal(0, first[1].ErrorCode);
        Assert.Equal(0, first[1].Offset);
        ListOffsetsResponse.ListOffsetsPartitionResponse[] second = await ListOffsetsAsync(_topics, timestamp: 0);
        Assert.Equal(0, second[0].ErrorCode);
        Assert.Equal(0, second[0].Offset);
    }

    [Fact]
    public async Task A_partition_whose_load_failed_answers_KAFKA_STORAGE_ERROR_to_Fetch_and_ListOffsets_instead_of_reading_as_empty()
    {
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0, await ProduceAsync(0));
            Assert.Equal(0, await ProduceAsync(1));
        }

        _topics.Dispose();
        _logs.Dispose();
        string directory = Path.Combine(_dir.Path, Topic + "-0") + Path.DirectorySeparatorChar;
        using LogManager logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path, Log = Config, FailedPartitionRetryInterval = TimeSpan.FromHours(1) });
        logs.Faults.Inject = (op, path) => op == StorageOperation.Open && path.StartsWith(directory, StringComparison.Ordinal) ? new IOException("injected EIO", 5) : null;
        using var topics = new TopicRegistry(logs, Config, NullLogger<TopicRegistry>.Instance);

        var fetch = new FetchHandler(topics, new BrokerOptions(), TimeProvider.System);
        var request = new FetchRequest.FetchTopic { Topic = Topic };
        for (int p = 0; p < 2; p++)
        {
            request.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1 << 20 });
        }

        using (RequestContext context = Context(ApiKey.Fetch, 11))
        {
            var response = (FetchResponse)(await fetch.HandleAsync(context, new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 1 << 20, Topics = [request] }))!;
            List<FetchResponse.PartitionData> partitions = response.Responses.Single().Partitions;
            Assert.Equal((short)ErrorCode.KafkaStorageError, partitions[0].ErrorCode);
            Assert.True(partitions[0].Records.GetValueOrDefault().IsEmpty);
            Assert.Equal(0, partitions[1].ErrorCode);
            Assert.False(partitions[1].Records.GetValueOrDefault().IsEmpty);
        }

        foreach (short version in new short[] { 0, 7 })
        {
            ListOffsetsResponse.ListOffsetsPartitionResponse[] latest = await ListOffsetsAsync(topics, timestamp: -1, version);
            Assert.Equal((short)ErrorCode.KafkaStorageError, latest[0].ErrorCode);
            Assert.Empty(latest[0].OldStyleOffsets);
            Assert.Equal(0, latest[1].ErrorCode);
        }
    }
}
