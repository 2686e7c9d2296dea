using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>DescribeCluster (key 60), versions 0–1: this node, as broker and controller, and the cluster id.</summary>
internal sealed class DescribeClusterHandler(TopicRegistry topics, ClusterInfo cluster, Authorizer? authorizer = null, Cluster.ClusterMetadataView? clusterView = null) : RequestHandler<DescribeClusterRequest, DescribeClusterResponse>(ApiKey.DescribeCluster, 0, 1)
{
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
        if (describe.IncludeClusterAuthorizedOperations && authorizer is { Enabled: true } && authorizer.Allows(context, AclOperation.Describe, AclResourceType.Cluster, Authorizer.ClusterName))
        {
            // As Kafka: the request itself needs no ACL; the operations are shown to principals that may Describe the cluster.
            response.ClusterAuthorizedOperations = authorizer.AuthorizedOperations(context, AclResourceType.Cluster, Authorizer.ClusterName);
        }

        if (describe.EndpointType != 1)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = "Only broker endpoints (type 1) are available.";
        }

        return ValueTask.FromResult<DescribeClusterResponse?>(response);
    }
}
