using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Admin;

/// <summary>One ACL: a resource pattern and an entry (principal, host, operation, permission), as Kafka's AclBinding.</summary>
/// <param name="ResourceType">The resource type.</param>
/// <param name="ResourceName">The resource name (<c>kafka-cluster</c> for the cluster, <c>*</c> for all).</param>
/// <param name="PatternType">Literal or prefixed.</param>
/// <param name="Principal">The principal, <c>User:name</c> or <c>User:*</c>.</param>
/// <param name="Host">The client address, or <c>*</c>.</param>
/// <param name="Operation">The operation.</param>
/// <param name="Permission">Allow or deny.</param>
public sealed record AclBinding(AclResourceType ResourceType, string ResourceName, AclPatternType PatternType, string Principal, string Host,
    AclOperation Operation, AclPermissionType Permission);

/// <summary>A filter over ACLs, as Kafka's AclBindingFilter: null strings and the <c>Any</c> values match everything.</summary>
/// <param name="ResourceType">The resource type, or Any.</param>
/// <param name="ResourceName">The resource name, or null for any.</param>
/// <param name="PatternType">The pattern type, Any, or Match (the bindings that cover <paramref name="ResourceName"/>).</param>
/// <param name="Principal">The principal, or null for any.</param>
/// <param name="Host">The host, or null for any.</param>
/// <param name="Operation">The operation, or Any.</param>
/// <param name="Permission">The permission, or Any.</param>
public sealed record AclBindingFilter(AclResourceType ResourceType = AclResourceType.Any, string? ResourceName = null, AclPatternType PatternType = AclPatternType.Any,
    string? Principal = null, string? Host = null, AclOperation Operation = AclOperation.Any, AclPermissionType Permission = AclPermissionType.Any);

/// <summary>
/// ACL management over the Kafka API (DescribeAcls, CreateAcls, DeleteAcls: keys 29–31); the broker
/// requires Describe (list) or Alter (add, remove) on the cluster.
/// </summary>
public sealed class AclAdmin : IAsyncDisposable
{
    private readonly Cluster _cluster;

    /// <summary>Connects with <paramref name="options"/> (including its security settings).</summary>
    public AclAdmin(AdminOptions options) => _cluster = new Cluster(options, NullLogger.Instance);

    /// <summary>The ACLs <paramref name="filter"/> matches.</summary>
    public async Task<IReadOnlyList<AclBinding>> DescribeAclsAsync(AclBindingFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var request = new DescribeAclsRequest
        {
            ResourceTypeFilter = (sbyte)filter.ResourceType,
            ResourceNameFilter = filter.ResourceName,
            PatternTypeFilter = (sbyte)filter.PatternType,
            PrincipalFilter = filter.Principal,
            HostFilter = filter.Host,
            Operation = (sbyte)filter.Operation,
            PermissionType = (sbyte)filter.Permission,
        };
        DescribeAclsResponse response = await SendAsync<DescribeAclsResponse>(ApiKey.DescribeAcls, request, cancellationToken).ConfigureAwait(false);
        ThrowIfRefused(response.ErrorCode, response.ErrorMessage);
        var list = new List<AclBinding>();
        foreach (DescribeAclsResponse.DescribeAclsResource resource in response.Resources)
        {
            foreach (DescribeAclsResponse.AclDescription acl in resource.Acls)
            {
                list.Add(new AclBinding((AclResourceType)resource.ResourceType, resource.ResourceName, (AclPatternType)resource.PatternType,
                    acl.Principal, acl.Host, (AclOperation)acl.Operation, (AclPermissionType)acl.PermissionType));
            }
        }

        return list;
    }

    /// <summary>Creates <paramref name="acls"/> (durably, on the broker); the first refusal is thrown with its error code.</summary>
    public async Task CreateAclsAsync(IEnumerable<AclBinding> acls, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(acls);
        var request = new CreateAclsRequest();
        foreach (AclBinding acl in acls)
        {
            request.Creations.Add(ToCreation(acl));
        }

        CreateAclsResponse response = await SendAsync<CreateAclsResponse>(ApiKey.CreateAcls, request, cancellationToken).ConfigureAwait(false);
        foreach (CreateAclsResponse.AclCreationResult result in response.Results)
        {
            ThrowIfRefused(result.ErrorCode, result.ErrorMessage);
        }
    }

    /// <summary>Deletes every ACL one of <paramref name="filters"/> matches and returns them.</summary>
    public async Task<IReadOnlyList<AclBinding>> DeleteAclsAsync(IEnumerable<AclBindingFilter> filters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filters);
        var request = new DeleteAclsRequest();
        foreach (AclBindingFilter filter in filters)
        {
            request.Filters.Add(ToFilter(filter));
        }

        DeleteAclsResponse response = await SendAsync<DeleteAclsResponse>(ApiKey.DeleteAcls, request, cancellationToken).ConfigureAwait(false);
        var deleted = new List<AclBinding>();
        foreach (DeleteAclsResponse.DeleteAclsFilterResult result in response.FilterResults)
        {
            ThrowIfRefused(result.ErrorCode, result.ErrorMessage);
            foreach (DeleteAclsResponse.DeleteAclsMatchingAcl acl in result.MatchingAcls)
            {
                deleted.Add(new AclBinding((AclResourceType)acl.ResourceType, acl.ResourceName, (AclPatternType)acl.PatternType,
                    acl.Principal, acl.Host, (AclOperation)acl.Operation, (AclPermissionType)acl.PermissionType));
            }
        }

        return deleted;
    }

    private static CreateAclsRequest.AclCreation ToCreation(AclBinding acl) => new()
    {
        ResourceType = (sbyte)acl.ResourceType,
        ResourceName = acl.ResourceName,
        ResourcePatternType = (sbyte)acl.PatternType,
        Principal = acl.Principal,
        Host = acl.Host,
        Operation = (sbyte)acl.Operation,
        PermissionType = (sbyte)acl.Permission,
    };

    private static DeleteAclsRequest.DeleteAclsFilter ToFilter(AclBindingFilter filter) => new()
    {
        ResourceTypeFilter = (sbyte)filter.ResourceType,
        ResourceNameFilter = filter.ResourceName,
        PatternTypeFilter = (sbyte)filter.PatternType,
        PrincipalFilter = filter.Principal,
        HostFilter = filter.Host,
        Operation = (sbyte)filter.Operation,
        PermissionType = (sbyte)filter.Permission,
    };

    private static void ThrowIfRefused(short code, string? message)
    {
        if (code != 0)
        {
            throw Failure(code, message);
        }
    }

    private async Task<T> SendAsync<T>(ApiKey key, IKafkaMessage request, CancellationToken cancellationToken)
        where T : IKafkaMessage, new()
    {
        BrokerConnection connection = await _cluster.ConnectionAsync(-1, cancellationToken).ConfigureAwait(false);
        short version = Math.Min(connection.BrokerMaxVersion(key), (short)3);
        if (version < 1)
        {
            // v0 knows no pattern types (every ACL literal): refuse rather than mean something else.
            throw new KafkaException(ErrorCode.UnsupportedVersion, $"The broker at {connection.Endpoint} does not support {key} v1+.");
        }

        return await connection.SendAsync<T>(key, version, request, cancellationToken).ConfigureAwait(false);
    }

    private static KafkaException Failure(short code, string? message) =>
        new((ErrorCode)code, message is { Length: > 0 } ? $"{(ErrorCode)code}: {message}" : ((ErrorCode)code).ToString());

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}
