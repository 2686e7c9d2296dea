using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>ConsumerGroupDescribe (key 69) over an in-memory connection.</summary>
public sealed class ConsumerGroupDescribeHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_server_side_group_is_described_once_with_its_member_and_an_unknown_one_gets_GROUP_ID_NOT_FOUND()
    {
        await CreateTopicAsync("kt");
        ConsumerGroupHeartbeatRequest join = ConsumerGroupHeartbeatHandlerTests.Join("kd", "kt");
        Assert.Equal(0, (await Client.SendAsync<ConsumerGroupHeartbeatResponse>(ApiKey.ConsumerGroupHeartbeat, 0, join, cancellationToken: Token)).ErrorCode);

        ConsumerGroupDescribeResponse response = await Client.SendAsync<ConsumerGroupDescribeResponse>(ApiKey.ConsumerGroupDescribe, 0,
            new ConsumerGroupDescribeRequest { GroupIds = ["kd", "kd", "never"] }, cancellationToken: Token);

        Assert.Equal(["kd", "never"], response.Groups.Select(g => g.GroupId));
        ConsumerGroupDescribeResponse.Member member = Assert.Single(response.Groups[0].Members);
        Assert.Equal((join.MemberId, "embedded"), (member.MemberId, member.ClientId));
        Assert.Equal(["kt"], member.SubscribedTopicNames);
        Assert.Equal((short)ErrorCode.GroupIdNotFound, response.Groups[1].ErrorCode);
    }
}
