using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DeleteRecords (key 21) over an in-memory connection.</summary>
public sealed class DeleteRecordsHandlerTests : HandlerTest
{
    private Task<DeleteRecordsResponse> DeleteAsync(string topic, long before) =>
        Client.SendAsync<DeleteRecordsResponse>(ApiKey.DeleteRecords, 2, new DeleteRecordsRequest
        {
            Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = topic, Partitions = [new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = 0, Offset = before }] }],
            TimeoutMs = 1000,
        }, cancellationToken: Token);

    [Fact]
    public async Task Records_before_an_offset_go_and_the_low_watermark_moves_there()
    {
        await CreateTopicAsync("r");
        await ProduceAsync("r", 0, 10);

        DeleteRecordsResponse.DeleteRecordsPartitionResult result = (await DeleteAsync("r", 4)).Topics[0].Partitions[0];

        Assert.Equal((0, 4L), (result.ErrorCode, result.LowWatermark));
        ListOffsetsResponse earliest = await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, ListOffsetsHandlerTests.Query("r", -2), cancellationToken: Token);
        Assert.Equal(4, earliest.Topics[0].Partitions[0].Offset);
    }

    [Fact]
    public async Task An_offset_past_the_high_watermark_gets_OFFSET_OUT_OF_RANGE()
    {
        await CreateTopicAsync("r");
        await ProduceAsync("r", 0, 2);

        Assert.Equal((short)ErrorCode.OffsetOutOfRange, (await DeleteAsync("r", 3)).Topics[0].Partitions[0].ErrorCode);
    }
}
