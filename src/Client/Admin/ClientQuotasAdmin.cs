using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Admin;

/// <summary>
/// A part of a quota entity (KIP-55): its type (<c>user</c> or <c>client-id</c>) and name; a null name is the
/// default entity of that type (<c>&lt;default&gt;</c> in Kafka's tools).
/// </summary>
/// <param name="Type"><c>user</c> or <c>client-id</c>.</param>
/// <param name="Name">The name, or null for the default.</param>
public sealed record QuotaEntityPart(string Type, string? Name);

/// <summary>An entity and its configured quotas (<c>producer_byte_rate</c>, <c>consumer_byte_rate</c>, <c>request_percentage</c>).</summary>
/// <param name="Entity">The entity's parts.</param>
/// <param name="Quotas">Key to value.</param>
public sealed record ClientQuotaEntry(IReadOnlyList<QuotaEntityPart> Entity, IReadOnlyDictionary<string, double> Quotas);

/// <summary>How a describe filter matches one entity type (DescribeClientQuotas' match types).</summary>
public enum QuotaMatch
{
    /// <summary>Exactly the given name.</summary>
    Exact = 0,

    /// <summary>The default entity of the type.</summary>
    Default = 1,

    /// <summary>Any entity that has the type (named or default).</summary>
    Any = 2,
}

/// <summary>One filter of a describe: an entity type and how it must match.</summary>
/// <param name="Type"><c>user</c> or <c>client-id</c>.</param>
/// <param name="Match">How it matches.</param>
/// <param name="Name">The name for <see cref="QuotaMatch.Exact"/>; null otherwise.</param>
public sealed record QuotaFilter(string Type, QuotaMatch Match, string? Name = null);

/// <summary>
/// Client quotas over the Kafka API (KIP-546: DescribeClientQuotas, AlterClientQuotas), as Kafka's
/// <c>kafka-client-quotas.sh</c> / <c>kafka-configs.sh --entity-type users|clients</c> manage them.
/// </summary>
public sealed class ClientQuotasAdmin : IAsyncDisposable
{
    private readonly Cluster _cluster;

    /// <summary>Connects with <paramref name="options"/> (including its security settings).</summary>
    public ClientQuotasAdmin(AdminOptions options) => _cluster = new Cluster(options, NullLogger.Instance);

    /// <summary>
    /// The entities with quotas that match every filter (none: all of them); <paramref name="strict"/>: only entities
    /// with no other entity types than the filters name.
    /// </summary>
    public async Task<IReadOnlyList<ClientQuotaEntry>> DescribeAsync(IEnumerable<QuotaFilter> filters, bool strict = false, CancellationToken cancellationToken = default)
    {
        var request = new DescribeClientQuotasRequest { Strict = strict };
        foreach (QuotaFilter filter in filters)
        {
            request.Components.Add(new DescribeClientQuotasRequest.ComponentData { EntityType = filter.Type, MatchType = (sbyte)filter.Match, Match = filter.Name });
        }

        DescribeClientQuotasResponse response = await SendAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, request, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)response.ErrorCode, response.ErrorMessage ?? ((ErrorCode)response.ErrorCode).ToString());
        }

        var entries = new List<ClientQuotaEntry>();
        foreach (DescribeClientQuotasResponse.EntryData entry in response.Entries ?? [])
        {
            var parts = new List<QuotaEntityPart>(entry.Entity.Count);
            foreach (DescribeClientQuotasResponse.EntityData part in entry.Entity)
            {
                parts.Add(new QuotaEntityPart(part.EntityType, part.EntityName));
            }

            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (DescribeClientQuotasResponse.ValueData value in entry.Values)
            {
                values[value.Key] = value.Value;
            }

            entries.Add(new ClientQuotaEntry(parts, values));
        }

        return entries;
    }

    /// <summary>
    /// Sets (a value) or removes (null) quota keys of <paramref name="entity"/>, atomically for this entity;
    /// <paramref name="validateOnly"/>: the broker checks and changes nothing.
    /// </summary>
    public async Task AlterAsync(IReadOnlyList<QuotaEntityPart> entity, IReadOnlyDictionary<string, double?> changes, bool validateOnly = false, CancellationToken cancellationToken = default)
    {
        var entry = new AlterClientQuotasRequest.EntryData();
        foreach (QuotaEntityPart part in entity)
        {
            entry.Entity.Add(new AlterClientQuotasRequest.EntityData { EntityType = part.Type, EntityName = part.Name });
        }

        foreach ((string key, double? value) in changes)
        {
            entry.Ops.Add(new AlterClientQuotasRequest.OpData { Key = key, Value = value ?? 0, Remove = value is null });
        }

        var request = new AlterClientQuotasRequest { Entries = [entry], ValidateOnly = validateOnly };
        AlterClientQuotasResponse response = await SendAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, request, cancellationToken).ConfigureAwait(false);
        foreach (AlterClientQuotasResponse.EntryData result in response.Entries)
        {
            if (result.ErrorCode != 0)
            {
                throw new KafkaException((ErrorCode)result.ErrorCode, result.ErrorMessage ?? ((ErrorCode)result.ErrorCode).ToString());
            }
        }
    }

    private async Task<T> SendAsync<T>(ApiKey key, IKafkaMessage request, CancellationToken cancellationToken)
        where T : IKafkaMessage, new()
    {
        BrokerConnection connection = await _cluster.ConnectionAsync(-1, cancellationToken).ConfigureAwait(false);
        short version = Math.Min(connection.BrokerMaxVersion(key), (short)1);
        if (version < 0)
        {
            throw new KafkaException(ErrorCode.UnsupportedVersion, $"The broker at {connection.Endpoint} does not support {key} (KIP-546).");
        }

        return await connection.SendAsync<T>(key, version, request, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}
