using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>DescribeCluster (key 60), versions 0–1: this node, as broker and controller, and the cluster id.</summary>
internal sealed class DescribeClusterHandler(TopicRegistry topics, ClusterInfo cluster, Cluster.ClusterMetadataView? clusterView = null) : RequestHandler<DescribeClusterRequest, DescribeClusterResponse>
{
    public override ApiKey Key => ApiKey.DescribeCluster;

    public override short MinVersion => 0;

    public override short MaxVersion => 1;

    public override ValueTask<DescribeClusterResponse?> HandleAsync(RequestContext context, DescribeClusterRequest describe)
    {
        if (clusterView is not null)
        {
            return ValueTask.FromResult<DescribeClusterResponse?>(clusterView.DescribeCluster(context, describe)); // cluster mode: every broker
        }

        var response = new DescribeClusterResponse
        {
            ClusterId = topics.ClusterId,
            ControllerId = cluster.NodeId,
            EndpointType = describe.EndpointType,
            Brokers = [new DescribeClusterResponse.DescribeClusterBroker { BrokerId = cluster.NodeId, Host = cluster.HostFor(context), Port = cluster.PortFor(context) }],
        };
        if (describe.EndpointType != 1)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = "Only broker endpoints (type 1) are available.";
        }

        return ValueTask.FromResult<DescribeClusterResponse?>(response);
    }
}
