using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>JoinGroup (key 11) over an in-memory connection.</summary>
public sealed class JoinGroupHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_new_member_is_asked_for_its_id_then_leads_generation_1_with_its_metadata()
    {
        JoinGroupResponse joined = await JoinAsync("jg");

        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal(1, joined.GenerationId);
        Assert.Equal(joined.MemberId, joined.Leader);
        Assert.Equal("range", joined.ProtocolName);
        JoinGroupResponse.JoinGroupResponseMember member = Assert.Single(joined.Members);
        Assert.Equal(new byte[] { 0, 1 }, member.Metadata.ToArray());
    }

    [Fact]
    public async Task A_session_timeout_outside_the_brokers_bounds_gets_INVALID_SESSION_TIMEOUT()
    {
        JoinGroupResponse response = await Client.SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, 5, new JoinGroupRequest
        {
            GroupId = "jg",
            SessionTimeoutMs = 1,
            RebalanceTimeoutMs = 10_000,
            MemberId = "",
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0 } }],
        }, cancellationToken: Token);

        Assert.Equal((short)ErrorCode.InvalidSessionTimeout, response.ErrorCode);
    }
    private async Task<JoinGroupResponse> JoinStaticAsync(string group, short version, string memberId = "") =>
        await Client.SendAsync<JoinGroupResponse>(ApiKey.JoinGroup, version, new JoinGroupRequest
        {
            GroupId = group,
            SessionTimeoutMs = 10_000,
            RebalanceTimeoutMs = 10_000,
            MemberId = memberId,
            GroupInstanceId = "instance-1",
            ProtocolType = "consumer",
            Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[] { 0, 1 } }],
            Reason = version >= 8 ? "rejoining after a restart" : null,
        }, cancellationToken: Token);

    private async Task<JoinGroupResponse> StableStaticLeaderAsync(string group)
    {
        JoinGroupResponse joined = await JoinStaticAsync(group, 7); // a static member gets its id at once
        Assert.Equal(0, joined.ErrorCode);
        Assert.Equal("consumer", joined.ProtocolType); // v7 answers the protocol type
        Assert.Equal(joined.MemberId, joined.Leader);
        SyncGroupResponse synced = await Client.SendAsync<SyncGroupResponse>(ApiKey.SyncGroup, 5, new SyncGroupRequest
        {
            GroupId = group,
            GenerationId = joined.GenerationId,
            MemberId = joined.MemberId,
            GroupInstanceId = "instance-1",
            ProtocolType = "consumer",
            ProtocolName = "range",
            Assignments = [new SyncGroupRequest.SyncGroupRequestAssignment { MemberId = joined.MemberId, Assignment = new byte[] { 9 } }],
        }, cancellationToken: Token);
        Assert.Equal(0, synced.ErrorCode);
        return joined;
    }

    [Fact]
    public async Task V9_tells_a_returning_static_leader_it_leads_with_the_members_but_to_skip_its_assignor()
    {
        JoinGroupResponse first = await StableStaticLeaderAsync("jg9");

        JoinGroupResponse back = await JoinStaticAsync("jg9", 9); // restarted: no member id, same instance id
        Assert.Equal(0, back.ErrorCode);
        Assert.NotEqual(first.MemberId, back.MemberId);
        Assert.Equal(first.GenerationId, back.GenerationId); // no rebalance
        Assert.Equal(back.MemberId, back.Leader);
        Assert.True(back.SkipAssignment);
        JoinGroupResponse.JoinGroupResponseMember member = Assert.Single(back.Members);
        Assert.Equal(back.MemberId, member.MemberId);
        Assert.Equal("instance-1", member.GroupInstanceId);
    }

    [Fact]
    public async Task Before_v9_a_returning_static_leader_is_given_the_old_leader_id_so_it_does_not_assign()
    {
        JoinGroupResponse first = await StableStaticLeaderAsync("jg8");

        JoinGroupResponse back = await JoinStaticAsync("jg8", 8);
        Assert.Equal(0, back.ErrorCode);
        Assert.Equal(first.GenerationId, back.GenerationId);
        Assert.Equal(first.MemberId, back.Leader);
        Assert.False(back.SkipAssignment);
        Assert.Empty(back.Members);
    }
}
