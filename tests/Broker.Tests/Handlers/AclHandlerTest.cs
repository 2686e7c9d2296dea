using LogBroker.Broker.Metadata;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>
/// A broker with ACLs checked and no ACL found meaning denied; the embedded connection is the anonymous
/// principal (<c>User:ANONYMOUS</c>), so a test grants it exactly what the check under test needs. Topics
/// are made through the registry, since CreateTopics itself is refused.
/// </summary>
public abstract class AclHandlerTest : HandlerTest
{
    internal const string Me = "User:ANONYMOUS";

    protected override IEnumerable<KeyValuePair<string, string?>> Settings =>
        [new("Security:AuthorizationEnabled", "true"), new("Security:AllowEveryoneIfNoAclFound", "false")];

    internal AclStore Acls => Broker.Services.GetRequiredService<AclStore>();

    internal void Allow(AclOperation operation, AclResourceType type, string name, AclPatternType pattern = AclPatternType.Literal) =>
        Assert.True(Acls.Add([new AclBinding(type, name, pattern, Me, "*", operation, AclPermissionType.Allow)]));

    internal void Deny(AclOperation operation, AclResourceType type, string name, AclPatternType pattern = AclPatternType.Literal) =>
        Assert.True(Acls.Add([new AclBinding(type, name, pattern, Me, "*", operation, AclPermissionType.Deny)]));

    internal void AllowCluster(AclOperation operation) => Allow(operation, AclResourceType.Cluster, Authorizer.ClusterName);

    /// <summary>Creates a topic behind the ACLs' back.</summary>
    protected void MakeTopic(string name, int partitions = 1)
    {
        (Protocol.ErrorCode error, _) = Assert.Single(Broker.Services.GetRequiredService<TopicRegistry>().Create([new TopicRequest(name, partitions, new Dictionary<string, string?>())], validateOnly: false));
        Assert.Equal(Protocol.ErrorCode.None, error);
    }

    protected Guid TopicId(string name) => Broker.Services.GetRequiredService<TopicRegistry>().Get(name)!.Id;

    protected bool TopicExists(string name) => Broker.Services.GetRequiredService<TopicRegistry>().Get(name) is not null;

    protected static short Code(Protocol.ErrorCode error) => (short)error;

    protected Task<T> SendAsync<T>(ApiKey key, short version, IKafkaMessage request)
        where T : IKafkaMessage, new() => Client.SendAsync<T>(key, version, request, cancellationToken: Token);
}
