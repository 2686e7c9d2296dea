using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DeleteTopics (key 20) over an in-memory connection.</summary>
public sealed class DeleteTopicsHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_topic_is_deleted_once_and_then_unknown()
    {
        await CreateTopicAsync("d");
        var request = new DeleteTopicsRequest { TopicNames = ["d"] };

        DeleteTopicsResponse first = await Client.SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4, request, cancellationToken: Token);
        DeleteTopicsResponse second = await Client.SendAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, 4, request, cancellationToken: Token);

        Assert.Equal(0, first.Responses[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, second.Responses[0].ErrorCode);
    }
}
