using System.Diagnostics.Metrics;
using LogBroker.Broker.Network;
using LogBroker.Protocol;
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

            if (b.Permission == AclPermission.Deny)
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
