using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// InitProducerId (key 22), versions 0–4, for idempotent producers (no transactions).
/// Behaviour: a new producer id, never reused across restarts, at epoch 0; v3+ with the producer's
/// current id and epoch bumps the epoch (a new id when it would overflow). A transactional id gets
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED: transactions are not supported.
/// </summary>
internal sealed class InitProducerIdHandler(TopicRegistry topics) : IRequestHandler
{
    public ApiKey Key => ApiKey.InitProducerId;

    public short MinVersion => 0;

    public short MaxVersion => 4;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var init = (InitProducerIdRequest)request;
        var response = new InitProducerIdResponse();
        if (init.TransactionalId is not null)
        {
            response.ErrorCode = (short)ErrorCode.TransactionalIdAuthorizationFailed;
        }
        else if (init.ProducerId >= 0 && init.ProducerEpoch >= 0 && init.ProducerEpoch < short.MaxValue - 1)
        {
            response.ProducerId = init.ProducerId;
            response.ProducerEpoch = (short)(init.ProducerEpoch + 1);
        }
        else
        {
            response.ProducerId = topics.AllocateProducerId();
            response.ProducerEpoch = 0;
        }

        return ValueTask.FromResult<IKafkaMessage?>(response);
    }
}
