namespace LogBroker.Broker.Quotas;

/// <summary>
/// A quota entity (KIP-55): a user part and a client-id part, each absent, the default (a null name), or a name.
/// </summary>
/// <param name="HasUser">Whether the entity names a user (or the default user).</param>
/// <param name="User">The user name; null with <paramref name="HasUser"/> is the default user.</param>
/// <param name="HasClientId">Whether the entity names a client id (or the default client id).</param>
/// <param name="ClientId">The client id; null with <paramref name="HasClientId"/> is the default client id.</param>
internal readonly record struct QuotaEntity(bool HasUser, string? User, bool HasClientId, string? ClientId)
{
    public const string UserType = "user";
    public const string ClientIdType = "client-id";

    public static QuotaEntity ForUser(string? user) => new(true, user, false, null);

    public static QuotaEntity ForClient(string? clientId) => new(false, null, true, clientId);

    public static QuotaEntity ForUserClient(string? user, string? clientId) => new(true, user, true, clientId);

    public override string ToString() =>
        (HasUser ? $"user={User ?? "<default>"}" : "") + (HasUser && HasClientId ? "," : "") + (HasClientId ? $"client-id={ClientId ?? "<default>"}" : "");
}
