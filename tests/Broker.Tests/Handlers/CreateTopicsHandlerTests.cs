using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>CreateTopics (key 19) over an in-memory connection.</summary>
public sealed class CreateTopicsHandlerTests : HandlerTest
{
    private Task<CreateTopicsResponse> CreateAsync(string name, int partitions) =>
        Client.SendAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }],
        }, cancellationToken: Token);

    [Fact]
    public async Task A_new_topic_is_created_and_a_second_create_gets_TOPIC_ALREADY_EXISTS()
    {
        Assert.Equal(0, (await CreateAsync("c", 2)).Topics[0].ErrorCode);
        Assert.Equal((short)ErrorCode.TopicAlreadyExists, (await CreateAsync("c", 2)).Topics[0].ErrorCode);
    }

    [Fact]
    public async Task Zero_partitions_gets_INVALID_PARTITIONS_and_a_bad_name_INVALID_TOPIC_EXCEPTION()
    {
        Assert.Equal((short)ErrorCode.InvalidPartitions, (await CreateAsync("c", 0)).Topics[0].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, (await CreateAsync("no/slash", 1)).Topics[0].ErrorCode);
    }
}
