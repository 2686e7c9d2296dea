namespace LogBroker.Protocol.Security;

// Kafka's ACL vocabulary with its wire codes (org.apache.kafka.common.resource and .acl). One
// definition serves the broker's authorizer and the client's AclAdmin, so the codes cannot drift.

/// <summary>Kafka's ACL resource types, with their wire codes; <see cref="Any"/> only in filters.</summary>
public enum AclResourceType : sbyte
{
    /// <summary>A code this version does not know; never valid in a request.</summary>
    Unknown = 0,

    /// <summary>Any type (filters only).</summary>
    Any = 1,

    /// <summary>A topic.</summary>
    Topic = 2,

    /// <summary>A consumer group.</summary>
    Group = 3,

    /// <summary>The cluster (its one resource is named <c>kafka-cluster</c>).</summary>
    Cluster = 4,

    /// <summary>A transactional id.</summary>
    TransactionalId = 5,
}

/// <summary>Kafka's resource pattern types, with their wire codes; <see cref="Any"/> and <see cref="Match"/> only in filters.</summary>
public enum AclPatternType : sbyte
{
    /// <summary>A code this version does not know; never valid in a request.</summary>
    Unknown = 0,

    /// <summary>Any pattern type (filters only).</summary>
    Any = 1,

    /// <summary>Every binding that covers the named resource: literal, wildcard and prefixed (filters only).</summary>
    Match = 2,

    /// <summary>The name exactly, or <c>*</c> for all.</summary>
    Literal = 3,

    /// <summary>Every name that starts with the name.</summary>
    Prefixed = 4,
}

/// <summary>Kafka's ACL operations, with their wire codes; <see cref="Any"/> only in filters.</summary>
public enum AclOperation : sbyte
{
    /// <summary>A code this version does not know; never valid in a request.</summary>
    Unknown = 0,

    /// <summary>Any operation (filters only).</summary>
    Any = 1,

    /// <summary>Every operation.</summary>
    All = 2,

    /// <summary>Read.</summary>
    Read = 3,

    /// <summary>Write.</summary>
    Write = 4,

    /// <summary>Create.</summary>
    Create = 5,

    /// <summary>Delete.</summary>
    Delete = 6,

    /// <summary>Alter.</summary>
    Alter = 7,

    /// <summary>Describe.</summary>
    Describe = 8,

    /// <summary>ClusterAction.</summary>
    ClusterAction = 9,

    /// <summary>DescribeConfigs.</summary>
    DescribeConfigs = 10,

    /// <summary>AlterConfigs.</summary>
    AlterConfigs = 11,

    /// <summary>IdempotentWrite.</summary>
    IdempotentWrite = 12,
}

/// <summary>Allow or Deny, with their wire codes; <see cref="Any"/> only in filters.</summary>
public enum AclPermissionType : sbyte
{
    /// <summary>A code this version does not know; never valid in a request.</summary>
    Unknown = 0,

    /// <summary>Either (filters only).</summary>
    Any = 1,

    /// <summary>Deny: wins over any Allow.</summary>
    Deny = 2,

    /// <summary>Allow.</summary>
    Allow = 3,
}
