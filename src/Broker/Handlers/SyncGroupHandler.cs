using LogBroker.Broker.Groups;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>SyncGroup (key 14), versions 0–4 (v4 is v3, flexible; v5 not yet: it checks protocol type and name): followers wait for the leader's assignments.</summary>
internal sealed class SyncGroupHandler(GroupCoordinator groups) : RequestHandler<SyncGroupRequest, SyncGroupResponse>
{
    public override ApiKey Key => ApiKey.SyncGroup;

    public override short MinVersion => 0;

    public override short MaxVersion => 4;

    public override async ValueTask<SyncGroupResponse?> HandleAsync(RequestContext context, SyncGroupRequest request) =>
        await groups.SyncAsync(request).ConfigureAwait(false);
}
