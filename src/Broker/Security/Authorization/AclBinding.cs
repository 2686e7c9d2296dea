using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// One ACL: a resource pattern (type, name, literal or prefixed; the literal name <c>*</c> matches every
/// resource of the type) and an entry (principal <c>User:name</c> or <c>User:*</c>, host or <c>*</c>,
/// operation, Allow or Deny).
/// </summary>
internal sealed record AclBinding(AclResourceType ResourceType, string ResourceName, AclPatternType PatternType,
    string Principal, string Host, AclOperation Operation, AclPermissionType Permission)
{
    public const string Wildcard = "*";

    /// <summary>Longest resource name, principal or host accepted (Kafka's names are far shorter).</summary>
    public const int MaxFieldLength = 1024;

    /// <summary>Why this binding cannot be stored, or null when it can (Kafka's rules for CreateAcls).</summary>
    public string? Invalid()
    {
        if (ResourceType is not (AclResourceType.Topic or AclResourceType.Group or AclResourceType.Cluster or AclResourceType.TransactionalId))
        {
            return "Unknown or filter-only resource type.";
        }

        if (PatternType is not (AclPatternType.Literal or AclPatternType.Prefixed))
        {
            return "The pattern type must be LITERAL or PREFIXED.";
        }

        if (Operation is AclOperation.Unknown or AclOperation.Any || Operation > AclOperation.IdempotentWrite)
        {
            return "Unknown or filter-only operation.";
        }

        if (Permission is not (AclPermissionType.Allow or AclPermissionType.Deny))
        {
            return "The permission must be ALLOW or DENY.";
        }

        if (ResourceName.Length == 0 || ResourceName.Length > MaxFieldLength || Host.Length == 0 || Host.Length > MaxFieldLength)
        {
            return "The resource name and host must be non-empty and at most 1024 characters.";
        }

        if (ResourceType == AclResourceType.Cluster && (ResourceName != "kafka-cluster" || PatternType != AclPatternType.Literal))
        {
            return "The cluster resource is the literal name 'kafka-cluster'.";
        }

        if (!Principal.StartsWith("User:", StringComparison.Ordinal) || Principal.Length <= 5 || Principal.Length > MaxFieldLength)
        {
            return "The principal must be 'User:name' or 'User:*'.";
        }

        return null;
    }

    /// <summary>Whether this binding's pattern covers the resource <paramref name="name"/> of <paramref name="type"/>.</summary>
    public bool CoversResource(AclResourceType type, string name) => ResourceType == type && PatternType switch
    {
        AclPatternType.Literal => ResourceName == Wildcard || ResourceName == name,
        AclPatternType.Prefixed => name.StartsWith(ResourceName, StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>Whether this binding's entry applies to <paramref name="principal"/> connecting from <paramref name="host"/>.</summary>
    public bool CoversPrincipal(string principal, string host) =>
        (Principal == principal || Principal == "User:*") && (Host == Wildcard || Host == host);

    /// <summary>
    /// Whether this binding grants or denies <paramref name="operation"/>: the same operation, All, or (for
    /// Allow only, as Kafka does) an operation that implies it: Read, Write, Delete, Alter imply Describe;
    /// AlterConfigs implies DescribeConfigs.
    /// </summary>
    public bool CoversOperation(AclOperation operation)
    {
        if (Operation == operation || Operation == AclOperation.All)
        {
            return true;
        }

        if (Permission != AclPermissionType.Allow)
        {
            return false;
        }

        return operation switch
        {
            AclOperation.Describe => Operation is AclOperation.Read or AclOperation.Write or AclOperation.Delete or AclOperation.Alter,
            AclOperation.DescribeConfigs => Operation == AclOperation.AlterConfigs,
            _ => false,
        };
    }
}
