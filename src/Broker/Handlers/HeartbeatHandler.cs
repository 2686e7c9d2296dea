using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>Heartbeat (key 12), versions 0–3.</summary>
internal sealed class HeartbeatHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.Heartbeat;

    public short MinVersion => 0;

    public short MaxVersion => 3;

    public ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request)
    {
        var heartbeat = (HeartbeatRequest)request;
        ErrorCode error = groups.Heartbeat(heartbeat.GroupId, heartbeat.MemberId, heartbeat.GroupInstanceId, heartbeat.GenerationId);
        return ValueTask.FromResult<IKafkaMessage?>(new HeartbeatResponse { ErrorCode = (short)error });
    }
}
