using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DescribeGroups (key 15) over an in-memory connection.</summary>
public sealed class DescribeGroupsHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_group_named_twice_is_described_once_with_its_member_and_assignment()
    {
        (string member, _) = await StableGroupAsync("dg");

        DescribeGroupsResponse response = await Client.SendAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = ["dg", "dg", "unknown"] }, cancellationToken: Token);

        Assert.Equal(["dg", "unknown"], response.Groups.Select(g => g.GroupId));
        DescribeGroupsResponse.DescribedGroup group = response.Groups[0];
        Assert.Equal(("Stable", "consumer", "range"), (group.GroupState, group.ProtocolType, group.ProtocolData));
        DescribeGroupsResponse.DescribedGroupMember described = Assert.Single(group.Members);
        Assert.Equal((member, "embedded"), (described.MemberId, described.ClientId));
        Assert.Equal(new byte[] { 7 }, described.MemberAssignment.ToArray());
        Assert.Equal("Dead", response.Groups[1].GroupState);
    }
}
