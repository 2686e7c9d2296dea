using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>Produce (key 0) over an in-memory connection: offsets, refusals, acks=0.</summary>
public sealed class ProduceHandlerTests : HandlerTest
{
    [Fact]
    public async Task Batches_get_consecutive_offsets_and_the_log_start()
    {
        await CreateTopicAsync("p");
        Assert.Equal(0, await ProduceAsync("p", 0, 10));
        ProduceResponse second = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("p", 0, Batches.Create(5)), cancellationToken: Token);

        ProduceResponse.PartitionProduceResponse answer = second.Responses[0].PartitionResponses[0];
        Assert.Equal((0, 10L, 0L), (answer.ErrorCode, answer.BaseOffset, answer.LogStartOffset));
    }

    [Fact]
    public async Task A_partition_that_does_not_exist_gets_UNKNOWN_TOPIC_OR_PARTITION()
    {
        await CreateTopicAsync("p");
        ProduceResponse response = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("p", 7, Batches.Create(1)), cancellationToken: Token);

        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Responses[0].PartitionResponses[0].ErrorCode);
    }

    [Fact]
    public async Task A_batch_with_a_wrong_crc_gets_CORRUPT_MESSAGE_and_nothing_is_stored()
    {
        await CreateTopicAsync("p");
        byte[] batch = Batches.Create(3);
        batch[^1] ^= 0xFF; // a record byte: covered by the CRC
        ProduceResponse response = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("p", 0, batch), cancellationToken: Token);

        Assert.Equal((short)ErrorCode.CorruptMessage, response.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.Equal(0, await ProduceAsync("p", 0, 1));
    }

    [Fact]
    public async Task Acks_zero_gets_no_response_and_the_next_request_is_answered()
    {
        await CreateTopicAsync("p");
        int correlation = Client.NextCorrelationId;
        await Client.WriteAsync(EmbeddedClient.Encode(ApiKey.Produce, 9, correlation, RequestFrames.Produce("p", 0, Batches.Create(2), acks: 0)), Token);

        // The next answer on the connection is the ListOffsets', and the records are there.
        ListOffsetsResponse latest = await Client.SendAsync<ListOffsetsResponse>(ApiKey.ListOffsets, 7, ListOffsetsHandlerTests.Query("p", -1), cancellationToken: Token);
        Assert.Equal(2, latest.Topics[0].Partitions[0].Offset);
    }
}
