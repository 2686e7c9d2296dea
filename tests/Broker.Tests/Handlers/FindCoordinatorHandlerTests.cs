using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>FindCoordinator (key 10) over an in-memory connection.</summary>
public sealed class FindCoordinatorHandlerTests : HandlerTest
{
    [Fact]
    public async Task This_node_coordinates_every_group_and_v4_answers_per_key()
    {
        FindCoordinatorResponse response = await Client.SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4,
            new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = ["a", "b"] }, cancellationToken: Token);

        Assert.Equal(["a", "b"], response.Coordinators.Select(c => c.Key));
        Assert.All(response.Coordinators, c => Assert.Equal((0, Broker.Options.NodeId), (c.ErrorCode, c.NodeId)));
    }

    [Fact]
    public async Task A_transaction_coordinator_is_this_node_and_an_unknown_key_type_gets_INVALID_REQUEST()
    {
        // Transactions are refused by InitProducerId (UNSUPPORTED_VERSION), which clients report; an
        // error here would only make librdkafka retry.
        FindCoordinatorResponse response = await Client.SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3,
            new FindCoordinatorRequest { Key = "tx", KeyType = 1 }, cancellationToken: Token);
        Assert.Equal((0, Broker.Options.NodeId), (response.ErrorCode, response.NodeId));

        FindCoordinatorResponse unknown = await Client.SendAsync<FindCoordinatorResponse>(ApiKey.FindCoordinator, 3,
            new FindCoordinatorRequest { Key = "x", KeyType = 3 }, cancellationToken: Token);
        Assert.Equal((short)ErrorCode.InvalidRequest, unknown.ErrorCode);
    }
}
