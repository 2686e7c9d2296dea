using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>ListOffsets (key 2) over an in-memory connection: earliest, latest, by time, unknown partition.</summary>
public sealed class ListOffsetsHandlerTests : HandlerTest
{
    internal static ListOffsetsRequest Query(string topic, long timestamp, int partition = 0) => new()
    {
        ReplicaId = -1,
        Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = topic, Partitions = [new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = partition, Timestamp = timestamp }] }],
    };

    [Fact]
    public async Task Earliest_latest_and_a_timestamp_give_the_offsets_of_the_log()
    {
        await CreateTopicAsync("l");
        await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("l", 0, Batches.WithTimestamps(1000, 2000, 3000)), cancellationToken: Token);

        long Offset(ListOffsetsResponse r) => r.Topics[0].Partitions[0].Offset;
        Assert.Equal(0, Offset(await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, Query("l", -2), cancellationToken: Token)));
        Assert.Equal(3, Offset(await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, Query("l", -1), cancellationToken: Token)));
        Assert.Equal(1, Offset(await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, Query("l", 1500), cancellationToken: Token)));
    }

    [Fact]
    public async Task An_unknown_partition_gets_UNKNOWN_TOPIC_OR_PARTITION()
    {
        ListOffsetsResponse response = await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, Query("nope", -1), cancellationToken: Token);

        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Topics[0].Partitions[0].ErrorCode);
    }
}
