using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>FindCoordinator (key 10), versions 0–4: this node coordinates every group (key type 0); v4 answers per key.</summary>
internal sealed class FindCoordinatorHandler(ClusterInfo cluster) : IRequestHandler
{
    public ApiKey Key => ApiKey.FindCoordinator;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var find = (FindCoordinatorRequest)request;
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

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
