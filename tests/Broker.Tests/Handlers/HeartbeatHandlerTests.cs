using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>Heartbeat (key 12) over an in-memory connection.</summary>
public sealed class HeartbeatHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_member_of_a_stable_group_heartbeats_and_a_wrong_generation_gets_ILLEGAL_GENERATION()
    {
        (string member, int generation) = await StableGroupAsync("hb");

        HeartbeatResponse ok = await Client.SendAsync<HeartbeatResponse>(ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "hb", MemberId = member, GenerationId = generation }, cancellationToken: Token);
        HeartbeatResponse stale = await Client.SendAsync<HeartbeatResponse>(ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "hb", MemberId = member, GenerationId = generation + 5 }, cancellationToken: Token);
        HeartbeatResponse stranger = await Client.SendAsync<HeartbeatResponse>(ApiKey.Heartbeat, 3, new HeartbeatRequest { GroupId = "hb", MemberId = "x", GenerationId = generation }, cancellationToken: Token);

        Assert.Equal(0, ok.ErrorCode);
        Assert.Equal((short)ErrorCode.IllegalGeneration, stale.ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownMemberId, stranger.ErrorCode);
    }
}
