using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// A DescribeAcls/DeleteAcls filter: Any (or null) matches every value; pattern type Match matches the
/// literal name, the wildcard <c>*</c> and every prefix of the name, as Kafka's does.
/// </summary>
internal sealed record AclFilter(AclResourceType ResourceType, string? ResourceName, AclPatternType PatternType,
    string? Principal, string? Host, AclOperation Operation, AclPermissionType Permission)
{
    /// <summary>Why this filter is malformed (unknown codes), or null.</summary>
    public string? Invalid() =>
        ResourceType == AclResourceType.Unknown || (sbyte)ResourceType > (sbyte)AclResourceType.TransactionalId ? "Unknown resource type."
        : PatternType == AclPatternType.Unknown || (sbyte)PatternType > (sbyte)AclPatternType.Prefixed ? "Unknown pattern type."
        : Operation == AclOperation.Unknown || (sbyte)Operation > (sbyte)AclOperation.IdempotentWrite ? "Unknown operation."
        : Permission == AclPermissionType.Unknown || (sbyte)Permission > (sbyte)AclPermissionType.Allow ? "Unknown permission."
        : null;

    public bool Matches(AclBinding b)
    {
        if ((ResourceType != AclResourceType.Any && ResourceType != b.ResourceType)
            || (Operation != AclOperation.Any && Operation != b.Operation)
            || (Permission != AclPermissionType.Any && Permission != b.Permission)
            || (Principal is not null && Principal != b.Principal)
            || (Host is not null && Host != b.Host))
        {
            return false;
        }

        return PatternType switch
        {
            AclPatternType.Any => ResourceName is null || ResourceName == b.ResourceName,
            AclPatternType.Match => ResourceName is null
                || (b.PatternType == AclPatternType.Literal && (b.ResourceName == ResourceName || b.ResourceName == AclBinding.Wildcard))
                || (b.PatternType == AclPatternType.Prefixed && ResourceName.StartsWith(b.ResourceName, StringComparison.Ordinal)),
            _ => PatternType == b.PatternType && (ResourceName is null || ResourceName == b.ResourceName),
        };
    }
}
