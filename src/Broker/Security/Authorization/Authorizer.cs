using System.Diagnostics.Metrics;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Security.Authorization;

/// <summary>
/// Kafka's StandardAuthorizer rules over <see cref="AclStore"/>: with <see cref="SecurityOptions.AuthorizationEnabled"/>
/// off every request is allowed at the cost of one field read. Otherwise super users are allowed; a
/// matching Deny wins over any Allow; with no ACL at all on the resource, <see cref="SecurityOptions.AllowEveryoneIfNoAclFound"/>
/// decides; else a matching Allow is needed.
/// </summary>
internal sealed partial class Authorizer
{
    private static readonly Meter Meter = new("LogBroker.Authorization");
    private static readonly Counter<long> Denials = Meter.CreateCounter<long>("logbroker.authorization.denials", description: "Requests or resources refused by ACLs");

    private readonly AclStore _store;
    private readonly ILogger _logger;
    private readonly HashSet<string> _superUsers;
    private readonly bool _allowIfNoAcl;

    public Authorizer(IOptions<SecurityOptions> options, AclStore store, ILogger<Authorizer> logger)
    {
        _store = store;
        _logger = logger;
        Enabled = options.Value.AuthorizationEnabled;
        _allowIfNoAcl = options.Value.AllowEveryoneIfNoAclFound;
        _superUsers = [.. options.Value.SuperUsers.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>The name of the one cluster resource.</summary>
    public const string ClusterName = "kafka-cluster";

    /// <summary>Whether ACLs are checked at all.</summary>
    public bool Enabled { get; }

    /// <summary>Whether the request's principal may do <paramref name="operation"/> on the resource.</summary>
    public bool Authorize(RequestContext context, AclOperation operation, AclResourceType type, string name)
    {
        if (!Enabled)
        {
            return true;
        }

        string principal = context.Session?.Principal ?? ConnectionSession.Anonymous;
        bool allowed = Decide(principal, HostOf(context.Connection), operation, type, name);
        if (!allowed)
        {
            Denials.Add(1);
        }

        Log.Decision(_logger, principal, operation, type, name, allowed);
        return allowed;
    }

    /// <summary>Whether the request's principal may do <paramref name="operation"/> on the cluster resource.</summary>
    public bool AuthorizeCluster(RequestContext context, AclOperation operation) => Authorize(context, operation, AclResourceType.Cluster, ClusterName);

    /// <summary>
    /// The one check every handler uses for a named resource: null when allowed, otherwise the error code
    /// to answer with (TOPIC_, GROUP_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED by resource type).
    /// </summary>
    public ErrorCode? Check(RequestContext context, AclOperation operation, AclResourceType type, string name) =>
        !Enabled || Authorize(context, operation, type, name) ? null : type switch
        {
            AclResourceType.Group => ErrorCode.GroupAuthorizationFailed,
            AclResourceType.TransactionalId => ErrorCode.TransactionalIdAuthorizationFailed,
            AclResourceType.Cluster => ErrorCode.ClusterAuthorizationFailed,
            _ => ErrorCode.TopicAuthorizationFailed,
        };

    /// <summary>
    /// A decision that is not a refusal (Kafka's <c>logIfDenied = false</c>): it only picks between answers,
    /// such as which groups ListGroups shows, so a "no" is logged at debug but not counted as a denial.
    /// </summary>
    public bool Allows(RequestContext context, AclOperation operation, AclResourceType type, string name)
    {
        if (!Enabled)
        {
            return true;
        }

        string principal = context.Session?.Principal ?? ConnectionSession.Anonymous;
        bool allowed = Decide(principal, HostOf(context.Connection), operation, type, name);
        Log.Decision(_logger, principal, operation, type, name, allowed);
        return allowed;
    }

    /// <summary>
    /// Kafka's "on the cluster or on the resource" (Create for CreateTopics and auto-creation, Delete for
    /// DeleteTopics): null when either allows, else the resource's error code; only that counts as a denial.
    /// </summary>
    public ErrorCode? CheckClusterOr(RequestContext context, AclOperation operation, AclResourceType type, string name) =>
        !Enabled || Allows(context, operation, AclResourceType.Cluster, ClusterName) ? null : Check(context, operation, type, name);

    /// <summary>
    /// Kafka's <c>authorizeByResourceType</c> (KIP-679, what InitProducerId without a transactional id asks
    /// for Write on topics): whether some ACL allows <paramref name="operation"/> on some resource of the type
    /// that no Deny of the principal covers as a whole. Super users, and the "no ACL found" rule for a name
    /// no ACL names, allow as <see cref="Decide"/> does.
    /// </summary>
    public bool AuthorizeByResourceType(RequestContext context, AclOperation operation, AclResourceType type)
    {
        if (!Enabled)
        {
            return true;
        }

        string principal = context.Session?.Principal ?? ConnectionSession.Anonymous;
        bool allowed = DecideByResourceType(principal, HostOf(context.Connection), operation, type);
        if (!allowed)
        {
            Denials.Add(1);
        }

        Log.Decision(_logger, principal, operation, type, "*", allowed);
        return allowed;
    }

    /// <summary>
    /// Kafka's authorized-operations bit field (bit n set for wire code n): the operations the resource type
    /// supports (AclEntry.supportedOperations) that the principal may do on the resource.
    /// </summary>
    public int AuthorizedOperations(RequestContext context, AclResourceType type, string name)
    {
        AclOperation[] supported = type switch
        {
            AclResourceType.Cluster => [AclOperation.Create, AclOperation.ClusterAction, AclOperation.DescribeConfigs, AclOperation.AlterConfigs,
                AclOperation.IdempotentWrite, AclOperation.Alter, AclOperation.Describe],
            AclResourceType.Group => [AclOperation.Read, AclOperation.Describe, AclOperation.Delete],
            AclResourceType.TransactionalId => [AclOperation.Describe, AclOperation.Write],
            _ => [AclOperation.Read, AclOperation.Write, AclOperation.Create, AclOperation.Describe, AclOperation.Delete, AclOperation.Alter,
                AclOperation.DescribeConfigs, AclOperation.AlterConfigs],
        };
        int bits = 0;
        foreach (AclOperation operation in supported)
        {
            if (Allows(context, operation, type, name))
            {
                bits |= 1 << (int)operation;
            }
        }

        return bits;
    }

    /// <summary>The rule of <see cref="AuthorizeByResourceType"/> for a principal and host.</summary>
    public bool DecideByResourceType(string principal, string host, AclOperation operation, AclResourceType type)
    {
        // Kafka checks a hard-coded name first, so super users (and "no ACL found") pass whatever the Denies say.
        if (Decide(principal, host, operation, type, "hardcode"))
        {
            return true;
        }

        var denyLiteral = new HashSet<string>(StringComparer.Ordinal);
        var denyPrefix = new List<string>();
        var allows = new List<AclBinding>();
        foreach (AclBinding b in _store.Snapshot)
        {
            if (b.ResourceType != type || !b.CoversPrincipal(principal, host) || !b.CoversOperation(operation))
            {
                continue;
            }

            if (b.Permission == AclPermissionType.Allow)
            {
                allows.Add(b);
            }
            else if (b.PatternType == AclPatternType.Literal && b.ResourceName == "*")
            {
                return false; // denied on every resource of the type
            }
            else if (b.PatternType == AclPatternType.Literal)
            {
                denyLiteral.Add(b.ResourceName);
            }
            else
            {
                denyPrefix.Add(b.ResourceName);
            }
        }

        foreach (AclBinding allow in allows)
        {
            bool literal = allow.PatternType == AclPatternType.Literal;
            if (literal && allow.ResourceName == "*")
            {
                return true;
            }

            if ((literal && denyLiteral.Contains(allow.ResourceName)) || denyPrefix.Exists(p => allow.ResourceName.StartsWith(p, StringComparison.Ordinal)))
            {
                continue;
            }

            return true;
        }

        return false;
    }

    /// <summary>The decision for a principal and host, without a request (the rules themselves; unit-tested).</summary>
    public bool Decide(string principal, string host, AclOperation operation, AclResourceType type, string name)
    {
        if (_superUsers.Contains(principal))
        {
            return true;
        }

        bool anyOnResource = false;
        bool allow = false;
        foreach (AclBinding b in _store.Snapshot)
        {
            if (!b.CoversResource(type, name))
            {
                continue;
            }

            anyOnResource = true;
            if (!b.CoversPrincipal(principal, host) || !b.CoversOperation(operation))
            {
                continue;
            }

            if (b.Permission == AclPermissionType.Deny)
            {
                return false;
            }

            allow = true;
        }

        return allow || (!anyOnResource && _allowIfNoAcl);
    }

    /// <summary>The address part of "address:port" (IPv6 in brackets or not).</summary>
    private static string HostOf(string connection)
    {
        int colon = connection.LastIndexOf(':');
        string host = colon > 0 ? connection[..colon] : connection;
        return host.Length > 1 && host[0] == '[' && host[^1] == ']' ? host[1..^1] : host;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5410, Level = LogLevel.Debug, Message = "Authorization: {Principal} {Operation} {Type}:{Name} allowed={Allowed}")]
        public static partial void Decision(ILogger logger, string principal, AclOperation operation, AclResourceType type, string name, bool allowed);
    }
}
