using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>CreatePartitions (key 37) over an in-memory connection.</summary>
public sealed class CreatePartitionsHandlerTests : HandlerTest
{
    private Task<CreatePartitionsResponse> GrowAsync(string topic, int count) =>
        Client.SendAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, 2,
            new CreatePartitionsRequest { Topics = [new CreatePartitionsRequest.CreatePartitionsTopic { Name = topic, Count = count }], TimeoutMs = 1000 }, cancellationToken: Token);

    [Fact]
    public async Task A_topic_grows_and_may_not_shrink()
    {
        await CreateTopicAsync("g");
        Assert.Equal(0, (await GrowAsync("g", 3)).Results[0].ErrorCode);
        Assert.Equal(0, await ProduceAsync("g", 2, 1)); // the new partition takes records

        Assert.Equal((short)ErrorCode.InvalidPartitions, (await GrowAsync("g", 2)).Results[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await GrowAsync("nope", 2)).Results[0].ErrorCode);
    }
}
