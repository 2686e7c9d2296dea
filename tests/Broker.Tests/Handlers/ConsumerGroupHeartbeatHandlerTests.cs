using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>ConsumerGroupHeartbeat (key 68) over an in-memory connection: the server-side protocol (KIP-848).</summary>
public sealed class ConsumerGroupHeartbeatHandlerTests : HandlerTest
{
    internal static ConsumerGroupHeartbeatRequest Join(string group, params string[] topics) => new()
    {
        GroupId = group,
        MemberId = Guid.NewGuid().ToString("N"),
        MemberEpoch = 0,
        RebalanceTimeoutMs = 10_000,
        SubscribedTopicNames = [.. topics],
        ServerAssignor = null,
        TopicPartitions = [],
    };

    [Fact]
    public async Task A_joining_member_gets_an_epoch_and_every_partition_of_its_topic()
    {
        await CreateTopicAsync("kt", partitions: 3);

        ConsumerGroupHeartbeatResponse response = await Client.SendAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 0, Join("kg", "kt"), cancellationToken: Token);

        Assert.Equal(0, response.ErrorCode);
        Assert.True(response.MemberEpoch >= 1);
        Assert.True(response.HeartbeatIntervalMs > 0);
        Assert.Equal([0, 1, 2], response.Assignment!.TopicPartitions.SelectMany(t => t.Partitions).Order());
    }
}
