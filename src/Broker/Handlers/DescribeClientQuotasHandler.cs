using LogBroker.Broker.Network;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeClientQuotas (key 48), versions 0–1: the configured quotas of every entity matching all the
/// filter's components (match type 0 exact name, 1 the default, 2 any); strict also excludes entities with
/// entity types the filter does not name. An unknown entity type, a repeated one, or a match inconsistent
/// with its match type is INVALID_REQUEST. Authorization: DescribeConfigs on the cluster (with ACLs on), else, with
/// super users set, super users only; others get CLUSTER_AUTHORIZATION_FAILED.
/// </summary>
internal sealed class DescribeClientQuotasHandler(ClientQuotaStore store, SaslAuthenticator authenticator, Authorizer? authorizer = null) : RequestHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 0, 1)
{
    public const sbyte MatchExact = 0;
    public const sbyte MatchDefault = 1;
    public const sbyte MatchAny = 2;

    public override ValueTask<DescribeClientQuotasResponse?> HandleAsync(RequestContext context, DescribeClientQuotasRequest describe)
    {
        if (authorizer is { Enabled: true }
            ? authorizer.Check(context, AclOperation.DescribeConfigs, AclResourceType.Cluster, Authorizer.ClusterName) is not null
            : !authenticator.IsSuperUser(context.Session))
        {
            // Kafka: DescribeConfigs on the cluster; without ACLs, super users only (when there are any).
            return Error(ErrorCode.ClusterAuthorizationFailed, "Describing client quotas needs DescribeConfigs on the cluster.");
        }

        DescribeClientQuotasRequest.ComponentData? user = null;
        DescribeClientQuotasRequest.ComponentData? client = null;
        foreach (DescribeClientQuotasRequest.ComponentData component in describe.Components)
        {
            if (component.MatchType is < MatchExact or > MatchAny)
            {
                return Error(ErrorCode.InvalidRequest, $"Unknown match type {component.MatchType}.");
            }

            if ((component.MatchType == MatchExact) != (component.Match is not null))
            {
                return Error(ErrorCode.InvalidRequest, "An exact match needs a name; default and any matches take none.");
            }

            ref DescribeClientQuotasRequest.ComponentData? slot = ref user;
            if (component.EntityType == QuotaEntity.ClientIdType)
            {
                slot = ref client;
            }
            else if (component.EntityType != QuotaEntity.UserType)
            {
                return Error(ErrorCode.InvalidRequest, $"Unsupported entity type '{component.EntityType}'.");
            }

            if (slot is not null)
            {
                return Error(ErrorCode.InvalidRequest, $"Entity type '{component.EntityType}' is named twice.");
            }

            slot = component;
        }

        var response = new DescribeClientQuotasResponse { ErrorMessage = null };
        foreach ((QuotaEntity entity, double[] values) in store.Snapshot)
        {
            if (!Matches(user, entity.HasUser, entity.User) || !Matches(client, entity.HasClientId, entity.ClientId)
                || (describe.Strict && ((entity.HasUser && user is null) || (entity.HasClientId && client is null))))
            {
                continue;
            }

            var entry = new DescribeClientQuotasResponse.EntryData();
            if (entity.HasUser)
            {
                entry.Entity.Add(new DescribeClientQuotasResponse.EntityData { EntityType = QuotaEntity.UserType, EntityName = entity.User });
            }

            if (entity.HasClientId)
            {
                entry.Entity.Add(new DescribeClientQuotasResponse.EntityData { EntityType = QuotaEntity.ClientIdType, EntityName = entity.ClientId });
            }

            for (int i = 0; i < values.Length; i++)
            {
                if (!double.IsNaN(values[i]))
                {
                    entry.Values.Add(new DescribeClientQuotasResponse.ValueData { Key = QuotaKeys.Name((QuotaType)i), Value = values[i] });
                }
            }

            response.Entries!.Add(entry);
        }

        return ValueTask.FromResult<DescribeClientQuotasResponse?>(response);
    }

    private static bool Matches(DescribeClientQuotasRequest.ComponentData? component, bool has, string? name) => component is null || (has && component.MatchType switch
    {
        MatchExact => name == component.Match,
        MatchDefault => name is null,
        _ => true,
    });

    private static ValueTask<DescribeClientQuotasResponse?> Error(ErrorCode code, string message) =>
        ValueTask.FromResult<DescribeClientQuotasResponse?>(new DescribeClientQuotasResponse { ErrorCode = (short)code, ErrorMessage = message, Entries = null });
}
