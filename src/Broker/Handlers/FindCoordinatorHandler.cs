using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// FindCoordinator (key 10), versions 0–6: this node coordinates every group (key type 0); v4 answers per
/// key. For a transactional id (key type 1) it names this node too, so that the client's next request,
/// InitProducerId with that id, gets the refusal (UNSUPPORTED_VERSION): librdkafka treats every
/// FindCoordinator error but the two authorization ones as "retry", so an error here would only ever
/// surface as a timeout, while the InitProducerId error is reported ("Failed to initialize Producer
/// ID: Broker: API version not supported"; the Java client fails at once with it). Share groups (key type 2, v6+)
/// get COORDINATOR_NOT_AVAILABLE, as Kafka 3.9 answers them; any other key type, or type 2 before v6,
/// INVALID_REQUEST.
/// </summary>
internal sealed class FindCoordinatorHandler(ClusterInfo cluster, Authorizer? authorizer = null, Cluster.ClusterCoordinatorLookup? clusterLookup = null) : RequestHandler<FindCoordinatorRequest, FindCoordinatorResponse>(ApiKey.FindCoordinator, 0, 6)
{
    public override ValueTask<FindCoordinatorResponse?> HandleAsync(RequestContext context, FindCoordinatorRequest find)
    {
        if (clusterLookup is not null && find.KeyType == 0)
        {
            return clusterLookup.FindAsync(context, find); // cluster mode: the leader of the group's __consumer_offsets partition
        }

        (ErrorCode error, string? message) = find.KeyType switch
        {
            0 => (ErrorCode.None, null),
            1 => (ErrorCode.None, null), // transactions are refused by InitProducerId, see above
            2 when context.Version >= 6 => (ErrorCode.CoordinatorNotAvailable, "Share groups are not supported by LogBroker."),
            _ => (ErrorCode.InvalidRequest, (string?)$"Unknown coordinator key type {find.KeyType}."),
        };
        if (error == ErrorCode.None && context.Version < 4 && Denied(context, find.KeyType, find.Key) is { } refused)
        {
            error = refused;
        }

        bool found = error == ErrorCode.None;
        var response = new FindCoordinatorResponse
        {
            ErrorCode = (short)error,
            ErrorMessage = message,
            NodeId = found ? cluster.NodeId : -1,
            Host = found ? cluster.HostFor(context) : "",
            Port = found ? cluster.PortFor(context) : -1,
        };
        foreach (string key in find.CoordinatorKeys)
        {
            ErrorCode keyError = error == ErrorCode.None ? Denied(context, find.KeyType, key) ?? ErrorCode.None : error;
            response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = keyError == ErrorCode.None ? response.NodeId : -1,
                Host = keyError == ErrorCode.None ? response.Host : "",
                Port = keyError == ErrorCode.None ? response.Port : -1,
                ErrorCode = (short)keyError,
                ErrorMessage = message,
            });
        }

        return ValueTask.FromResult<FindCoordinatorResponse?>(response);
    }

    /// <summary>Kafka's check: Describe on the group (key type 0) or on the transactional id (1).</summary>
    private ErrorCode? Denied(RequestContext context, sbyte keyType, string key) =>
        authorizer?.Check(context, AclOperation.Describe, keyType == 1 ? AclResourceType.TransactionalId : AclResourceType.Group, key);
}
