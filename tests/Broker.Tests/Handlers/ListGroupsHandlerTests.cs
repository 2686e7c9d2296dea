using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>ListGroups (key 16) over an in-memory connection: each group once, state and type filters.</summary>
public sealed class ListGroupsHandlerTests : HandlerTest
{
    [Fact]
    public async Task A_stable_group_is_listed_once_and_the_filters_apply()
    {
        await StableGroupAsync("lsg");

        ListGroupsResponse all = await Client.SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest(), cancellationToken: Token);
        ListGroupsResponse stable = await Client.SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { StatesFilter = ["Stable"] }, cancellationToken: Token);
        ListGroupsResponse empty = await Client.SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { StatesFilter = ["Empty"] }, cancellationToken: Token);
        ListGroupsResponse consumer = await Client.SendAsync<ListGroupsResponse>(ApiKey.ListGroups, 5, new ListGroupsRequest { TypesFilter = ["consumer"] }, cancellationToken: Token);

        ListGroupsResponse.ListedGroup listed = Assert.Single(all.Groups, g => g.GroupId == "lsg");
        Assert.Equal(("Stable", "classic", "consumer"), (listed.GroupState, listed.GroupType, listed.ProtocolType));
        Assert.Single(stable.Groups, g => g.GroupId == "lsg");
        Assert.DoesNotContain(empty.Groups, g => g.GroupId == "lsg");
        Assert.DoesNotContain(consumer.Groups, g => g.GroupId == "lsg");
    }
}
