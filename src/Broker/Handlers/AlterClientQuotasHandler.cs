using LogBroker.Broker.Network;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// AlterClientQuotas (key 49), versions 0–1: sets or removes producer_byte_rate, consumer_byte_rate and
/// request_percentage of user / client-id entities (a null name is the default). Each entry is validated on its
/// own (an unknown or repeated entity type, an empty name, an unknown or repeated key, a byte rate that is not a
/// positive whole number, a percentage that is not positive: INVALID_REQUEST) and the valid ones are made durable
/// together, unless validate_only (in cluster mode into the cluster's quotas, which every broker applies).
/// Authorization: AlterConfigs on the cluster (with ACLs on), else super users only.
/// </summary>
internal sealed class AlterClientQuotasHandler(
    ClientQuotaStore store, SaslAuthenticator authenticator, Authorizer? authorizer = null, Cluster.ClusterDocuments? cluster = null) : RequestHandler<AlterClientQuotasRequest, AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 0, 1)
{
    /// <summary>Entries one request may carry; more are answered with INVALID_REQUEST.</summary>
    public const int MaxEntriesPerRequest = 10_000;

    public override async ValueTask<AlterClientQuotasResponse?> HandleAsync(RequestContext context, AlterClientQuotasRequest alter)
    {
        var response = new AlterClientQuotasResponse();
        ErrorCode all = ErrorCode.None;
        string? allMessage = null;
        if (authorizer is { Enabled: true }
            ? authorizer.Check(context, AclOperation.AlterConfigs, AclResourceType.Cluster, Authorizer.ClusterName) is not null
            : !authenticator.IsSuperUser(context.Session))
        {
            // Kafka: AlterConfigs on the cluster; without ACLs, super users only (when there are any).
            (all, allMessage) = (ErrorCode.ClusterAuthorizationFailed, "Altering client quotas needs AlterConfigs on the cluster.");
        }
        else if (alter.Entries.Count > MaxEntriesPerRequest)
        {
            (all, allMessage) = (ErrorCode.InvalidRequest, $"At most {MaxEntriesPerRequest} entries per request.");
        }

        var changes = new List<(QuotaEntity, QuotaType, double)>();
        var results = new List<AlterClientQuotasResponse.EntryData>(Math.Min(alter.Entries.Count, MaxEntriesPerRequest));
        foreach (AlterClientQuotasRequest.EntryData entry in alter.Entries)
        {
            var result = new AlterClientQuotasResponse.EntryData { ErrorMessage = null };
            foreach (AlterClientQuotasRequest.EntityData part in entry.Entity)
            {
                result.Entity.Add(new AlterClientQuotasResponse.EntityData { EntityType = part.EntityType, EntityName = part.EntityName });
            }

            string? why = allMessage ?? Validate(entry, changes);
            if (why is not null)
            {
                result.ErrorCode = (short)(all != ErrorCode.None ? all : ErrorCode.InvalidRequest);
                result.ErrorMessage = why;
            }

            results.Add(result);
        }

        if (!alter.ValidateOnly && changes.Count > 0)
        {
            try
            {
                await Cluster.ClusterDocuments.RunAsync(cluster, store, () =>
                {
                    store.Apply(changes);
                    return true;
                }, context.Closing).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                foreach (AlterClientQuotasResponse.EntryData result in results)
                {
                    if (result.ErrorCode == 0)
                    {
                        result.ErrorCode = (short)(e is InvalidOperationException ? ErrorCode.PolicyViolation : ErrorCode.UnknownServerError);
                        result.ErrorMessage = e is InvalidOperationException ? e.Message : "The quotas could not be written.";
                    }
                }
            }
        }

        response.Entries = results;
        return response;
    }

    /// <summary>Null and the entry's changes added to <paramref name="changes"/> when valid, else why not (nothing added).</summary>
    private static string? Validate(AlterClientQuotasRequest.EntryData entry, List<(QuotaEntity, QuotaType, double)> changes)
    {
        bool hasUser = false, hasClient = false;
        string? user = null, client = null;
        foreach (AlterClientQuotasRequest.EntityData part in entry.Entity)
        {
            if (part.EntityName is { Length: 0 })
            {
                return $"An empty {part.EntityType} name is not allowed (a null name is the default).";
            }

            if (part.EntityType == QuotaEntity.UserType && !hasUser)
            {
                (hasUser, user) = (true, part.EntityName);
            }
            else if (part.EntityType == QuotaEntity.ClientIdType && !hasClient)
            {
                (hasClient, client) = (true, part.EntityName);
            }
            else
            {
                return part.EntityType is QuotaEntity.UserType or QuotaEntity.ClientIdType
                    ? $"Entity type '{part.EntityType}' is named twice."
                    : $"Unsupported entity type '{part.EntityType}'.";
            }
        }

        if (!hasUser && !hasClient)
        {
            return "The entity names no user or client-id.";
        }

        var entity = new QuotaEntity(hasUser, user, hasClient, client);
        int first = changes.Count;
        Span<bool> seen = stackalloc bool[QuotaKeys.Count];
        foreach (AlterClientQuotasRequest.OpData op in entry.Ops)
        {
            string? why = QuotaKeys.Parse(op.Key) is not { } type ? $"Unsupported quota key '{op.Key}'."
                : seen[(int)type] ? $"Quota key '{op.Key}' is given twice."
                : op.Remove ? null
                : QuotaKeys.Invalid(type, op.Value);
            if (why is not null)
            {
                changes.RemoveRange(first, changes.Count - first);
                return why;
            }

            seen[(int)QuotaKeys.Parse(op.Key)!.Value] = true;
            changes.Add((entity, QuotaKeys.Parse(op.Key)!.Value, op.Remove ? double.NaN : op.Value));
        }

        return null;
    }
}
