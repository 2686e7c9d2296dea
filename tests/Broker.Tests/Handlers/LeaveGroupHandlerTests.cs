using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>LeaveGroup (key 13) over an in-memory connection: v3 answers per member.</summary>
public sealed class LeaveGroupHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_member_leaves_and_a_stranger_in_the_same_request_gets_UNKNOWN_MEMBER_ID()
    {
        (string member, _) = await StableGroupAsync("lg");

        LeaveGroupResponse response = await Client.SendAsync<LeaveGroupResponse>(ApiKey.LeaveGroup, 3, new LeaveGroupRequest
        {
            GroupId = "lg",
            Members = [new LeaveGroupRequest.MemberIdentity { MemberId = member }, new LeaveGroupRequest.MemberIdentity { MemberId = "stranger" }],
        }, cancellationToken: Token);

        Assert.Equal([(member, (short)0), ("stranger", (short)ErrorCode.UnknownMemberId)], response.Members.Select(m => (m.MemberId, m.ErrorCode)));
        DescribeGroupsResponse described = await Client.SendAsync<DescribeGroupsResponse>(ApiKey.DescribeGroups, 5, new DescribeGroupsRequest { Groups = ["lg"] }, cancellationToken: Token);
        Assert.Equal("Empty", described.Groups[0].GroupState);
    }
}
