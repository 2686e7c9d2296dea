using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// InitProducerId (key 22), versions 0–5, for idempotent producers (no transactions; v5 only adds an
/// error of transactions).
/// Behaviour: a new producer id, never handed out before (even across restarts and crashes: ids are
/// reserved durably before use), at epoch 0. As Kafka does for a null transactional id, the id and
/// epoch the producer sends (v3+, KIP-360) are ignored: it always gets a fresh id, so no client can
/// bump or fence another producer's id. When a block of ids cannot be reserved on disk the answer is
/// KAFKA_STORAGE_ERROR (retriable). A transactional id gets UNSUPPORTED_VERSION (transactions are not
/// served), which clients report as not supported rather than as an authorization failure (librdkafka:
/// "Failed to initialize Producer ID: Broker: API version not supported" when InitTransactions times
/// out; the Java client: a fatal "Unexpected error in InitProducerIdResponse; The version of API is not
/// supported."). FindCoordinator names this node for a transactional id so that this answer is reached.
/// In cluster mode the id comes from a block taken from the controller store (<see cref="Cluster.ClusterProducerIds"/>),
/// unique across the brokers; while no block can be taken the answer is the retriable COORDINATOR_LOAD_IN_PROGRESS,
/// as Kafka's broker answers while its next block is on its way.
/// </summary>
internal sealed partial class InitProducerIdHandler(
    TopicRegistry topics, Authorizer? authorizer = null, Cluster.ClusterProducerIds? clusterIds = null, ILogger<InitProducerIdHandler>? logger = null) : RequestHandler<InitProducerIdRequest, InitProducerIdResponse>(ApiKey.InitProducerId, 0, 5)
{
    public override async ValueTask<InitProducerIdResponse?> HandleAsync(RequestContext context, InitProducerIdRequest init)
    {
        var response = new InitProducerIdResponse { ProducerId = -1, ProducerEpoch = -1 };
        if (init.TransactionalId is not null)
        {
            response.ErrorCode = (short)(authorizer?.Check(context, AclOperation.Write, AclResourceType.TransactionalId, init.TransactionalId) ?? ErrorCode.UnsupportedVersion);
            return response;
        }

        if (authorizer is { Enabled: true } && !authorizer.Allows(context, AclOperation.IdempotentWrite, AclResourceType.Cluster, Authorizer.ClusterName)
            && !authorizer.AuthorizeByResourceType(context, AclOperation.Write, AclResourceType.Topic))
        {
            response.ErrorCode = (short)ErrorCode.ClusterAuthorizationFailed; // Kafka: IdempotentWrite on the cluster, or Write on some topic
            return response;
        }

        if (clusterIds is not null)
        {
            long? id = null;
            try
            {
                id = await clusterIds.NextAsync(context.Closing).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.Closing.IsCancellationRequested)
            {
                if (logger is not null)
                {
                    BlockFailed(logger, e); // the store unreachable or refusing: the client retries
                }
            }

            response.ErrorCode = (short)(id is null ? ErrorCode.CoordinatorLoadInProgress : ErrorCode.None);
            (response.ProducerId, response.ProducerEpoch) = id is { } taken ? (taken, (short)0) : (-1L, (short)-1);
            return response;
        }

        try
        {
            response.ProducerId = topics.AllocateProducerId();
            response.ProducerEpoch = 0;
        }
        catch (IOException)
        {
            response.ErrorCode = (short)ErrorCode.KafkaStorageError; // logged by the metadata log
        }

        return response;
    }

    [LoggerMessage(EventId = 1420, Level = LogLevel.Warning, Message = "No block of producer ids could be taken from the controller store")]
    private static partial void BlockFailed(ILogger logger, Exception exception);
}
