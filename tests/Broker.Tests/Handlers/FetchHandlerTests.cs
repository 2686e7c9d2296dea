using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>Fetch (key 1) over an in-memory connection: records, high watermark, refusals, long poll.</summary>
public sealed class FetchHandlerTests : HandlerTest
{
    internal static FetchRequest Query(string topic, int partition, long offset, int maxWaitMs = 0, int minBytes = 0) => new()
    {
        ReplicaId = -1,
        MaxWaitMs = maxWaitMs,
        MinBytes = minBytes,
        MaxBytes = 1 << 20,
        Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
    };

    [Fact]
    public async Task Stored_batches_come_back_with_the_high_watermark()
    {
        await CreateTopicAsync("f");
        await ProduceAsync("f", 0, 3);
        await ProduceAsync("f", 0, 4);

        FetchResponse response = await Client.SendAsync<FetchResponse>(ApiKey.Fetch, 12, Query("f", 0, 0), cancellationToken: Token);

        FetchResponse.PartitionData data = response.Responses[0].Partitions[0];
        Assert.Equal((0, 7L, 0L), (data.ErrorCode, data.HighWatermark, data.LogStartOffset));
        Assert.Equal([(0L, 3), (3L, 4)], Batches.Split(data.Records.GetValueOrDefault().Span).Select(b => (b.BaseOffset, b.Records)));
    }

    [Fact]
    public async Task An_offset_past_the_end_gets_OFFSET_OUT_OF_RANGE_and_an_unknown_partition_UNKNOWN_TOPIC_OR_PARTITION()
    {
        await CreateTopicAsync("f");
        await ProduceAsync("f", 0, 2);

        FetchResponse beyond = await Client.SendAsync<FetchResponse>(ApiKey.Fetch, 12, Query("f", 0, 5), cancellationToken: Token);
        FetchResponse unknown = await Client.SendAsync<FetchResponse>(ApiKey.Fetch, 12, Query("nope", 0, 0), cancellationToken: Token);

        Assert.Equal((short)ErrorCode.OffsetOutOfRange, beyond.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, unknown.Responses[0].Partitions[0].ErrorCode);
    }

    [Fact]
    public async Task A_parked_fetch_is_answered_by_a_produce_on_another_connection_well_before_its_max_wait()
    {
        await CreateTopicAsync("f");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Task<FetchResponse> parked = Client.SendAsync<FetchResponse>(ApiKey.Fetch, 12, Query("f", 0, 0, maxWaitMs: 20_000, minBytes: 1), cancellationToken: Token);
        await Task.Delay(100, Token);
        Assert.False(parked.IsCompleted);

        EmbeddedClient producer = Broker.Connect();
        ProduceResponse produced = await producer.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("f", 0, Batches.Create(2)), cancellationToken: Token);
        Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);

        FetchResponse response = await parked.WaitAsync(TimeSpan.FromSeconds(30), Token);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"answered after {watch.Elapsed}");
        Assert.Equal(2, response.Responses[0].Partitions[0].HighWatermark);
    }
}
