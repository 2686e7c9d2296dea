using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// FindCoordinator (key 10) for groups (key type 0) in cluster mode: every broker names the same coordinator,
/// the leader of the group's <c>__consumer_offsets</c> partition (<see cref="GroupCoordinatorMap"/>). While the
/// offsets topic does not exist yet the answer is COORDINATOR_NOT_AVAILABLE (retriable); a request reaching
/// the controller then creates it (<see cref="ClusterController.EnsureOffsetsTopicAsync"/>; the controller also
/// creates it as soon as enough brokers are registered). v4+ answers per key.
/// </summary>
internal sealed class ClusterCoordinatorLookup(ClusterService cluster, ClusterOptions options, GroupCoordinatorMap map)
{
    public async ValueTask<FindCoordinatorResponse?> FindAsync(RequestContext context, FindCoordinatorRequest find)
    {
        string[] keys = context.Version >= 4 ? [.. find.CoordinatorKeys] : [find.Key];
        if (cluster.Cache.Topic(GroupCoordinatorMap.OffsetsTopic) is null && cluster.Controller is { } controller)
        {
            await controller.EnsureOffsetsTopicAsync(options.OffsetsTopicPartitions, options.OffsetsTopicReplicationFactor, CancellationToken.None).ConfigureAwait(false);
        }

        var response = new FindCoordinatorResponse();
        foreach (string key in keys)
        {
            var (error, coordinator) = map.Find(key);
            var endpoint = coordinator?.EndpointFor(context.Listener?.Name);
            if (error == ErrorCode.None && endpoint is null)
            {
                (error, coordinator) = (ErrorCode.CoordinatorNotAvailable, null); // the coordinator has no listener of the client's name
            }

            string? message = error == ErrorCode.None ? null : "The group coordinator is not available yet (no __consumer_offsets, or its partition has no leader).";
            if (context.Version >= 4)
            {
                response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
                {
                    Key = key,
                    NodeId = coordinator?.Id ?? -1,
                    Host = endpoint?.Host ?? "",
                    Port = endpoint?.Port ?? -1,
                    ErrorCode = (short)error,
                    ErrorMessage = message,
                });
            }
            else
            {
                response.ErrorCode = (short)error;
                response.ErrorMessage = message;
                response.NodeId = coordinator?.Id ?? -1;
                response.Host = endpoint?.Host ?? "";
                response.Port = endpoint?.Port ?? -1;
            }
        }

        return response;
    }
}
