using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>FindCoordinator (key 10), versions 0–4: this node coordinates every group (key type 0); v4 answers per key.</summary>
internal sealed class FindCoordinatorHandler(ClusterInfo cluster) : RequestHandler<FindCoordinatorRequest, FindCoordinatorResponse>
{
    public override ApiKey Key => ApiKey.FindCoordinator;

    public override short MinVersion => 0;

    public override short MaxVersion => 4;

    public override ValueTask<FindCoordinatorResponse?> HandleAsync(RequestContext context, FindCoordinatorRequest find)
    {
        ErrorCode error = find.KeyType == 0 ? ErrorCode.None : ErrorCode.InvalidRequest; // transactions (1) are not supported
        var response = new FindCoordinatorResponse
        {
            ErrorCode = (short)error,
            ErrorMessage = null,
            NodeId = cluster.NodeId,
            Host = cluster.Host,
            Port = cluster.Port,
        };
        foreach (string key in find.CoordinatorKeys)
        {
            response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = cluster.NodeId,
                Host = cluster.Host,
                Port = cluster.Port,
                ErrorCode = (short)error,
                ErrorMessage = null,
            });
        }

        return ValueTask.FromResult<FindCoordinatorResponse?>(response);
    }
}
