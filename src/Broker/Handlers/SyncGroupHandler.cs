using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>SyncGroup (key 14), versions 0–3: followers wait for the leader's assignments.</summary>
internal sealed class SyncGroupHandler(GroupCoordinator groups) : IRequestHandler
{
    public ApiKey Key => ApiKey.SyncGroup;

    public short MinVersion => 0;

    public short MaxVersion => 3;

    public async ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request) =>
        await groups.SyncAsync((SyncGroupRequest)request).ConfigureAwait(false);
}
