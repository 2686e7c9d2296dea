using LogBroker.Protocol;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// The rule CreateAcls and DeleteAcls apply to each entry (binding or filter) before touching the store: the
/// caller needs Alter on the cluster, a request carries at most <see cref="MaxPerRequest"/> entries, and the
/// entry itself must be well formed. One place, so both APIs refuse alike.
/// </summary>
internal static class AclRequestEntry
{
    /// <summary>Entries one request may carry; more are answered with INVALID_REQUEST each.</summary>
    public const int MaxPerRequest = 10_000;

    /// <summary>Why the entry is refused (with the error code to answer), or null when it may be applied.</summary>
    public static string? Refusal(bool clusterAlterAllowed, int entries, string? invalid, out ErrorCode error)
    {
        error = clusterAlterAllowed ? ErrorCode.InvalidRequest : ErrorCode.ClusterAuthorizationFailed;
        return !clusterAlterAllowed ? "Alter on the cluster is required."
            : entries > MaxPerRequest ? $"At most {MaxPerRequest} entries per request."
            : invalid;
    }
}
