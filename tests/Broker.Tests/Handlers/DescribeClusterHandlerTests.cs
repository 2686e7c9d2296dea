using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DescribeCluster (key 60) over an in-memory connection.</summary>
public sealed class DescribeClusterHandlerTests : HandlerTest
{
    [Fact]
    public async Task Broker_endpoints_list_this_node_as_broker_and_controller()
    {
        DescribeClusterResponse response = await Client.SendAsync<DescribeClusterResponse>(ApiKey.DescribeCluster, 1, new DescribeClusterRequest { EndpointType = 1 }, cancellationToken: Token);

        DescribeClusterResponse.DescribeClusterBroker broker = Assert.Single(response.Brokers);
        Assert.Equal(0, response.ErrorCode);
        Assert.Equal(broker.BrokerId, response.ControllerId);
        Assert.False(string.IsNullOrEmpty(response.ClusterId));
    }

    [Fact]
    public async Task Controller_endpoints_get_UNSUPPORTED_ENDPOINT_TYPE()
    {
        DescribeClusterResponse response = await Client.SendAsync<DescribeClusterResponse>(ApiKey.DescribeCluster, 1, new DescribeClusterRequest { EndpointType = 2 }, cancellationToken: Token);

        Assert.Equal((short)ErrorCode.UnsupportedEndpointType, response.ErrorCode);
    }
}
