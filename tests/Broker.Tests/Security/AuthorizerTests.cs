using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Security;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Tests.Security;

public sealed class AuthorizerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "acl-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, true);
        }
    }

    private static AclBinding Allow(string principal, AclOperation op, AclResourceType type = AclResourceType.Topic, string name = "orders",
        AclPatternType pattern = AclPatternType.Literal, string host = "*") => new(type, name, pattern, principal, host, op, AclPermissionType.Allow);

    private static AclBinding Deny(string principal, AclOperation op, string name = "orders") =>
        new(AclResourceType.Topic, name, AclPatternType.Literal, principal, "*", op, AclPermissionType.Deny);

    private Authorizer Make(bool allowIfNoAcl = false, string superUsers = "", params AclBinding[] acls)
    {
        var store = new AclStore(_dir, NullLogger<AclStore>.Instance);
        Assert.True(store.Add(acls));
        var options = new SecurityOptions { AuthorizationEnabled = true, AllowEveryoneIfNoAclFound = allowIfNoAcl, SuperUsers = superUsers };
        return new Authorizer(Options.Create(options), store, NullLogger<Authorizer>.Instance);
    }

    [Fact]
    public void Literal_allow_grants_only_that_operation_principal_and_topic()
    {
        Authorizer a = Make(acls: Allow("User:alice", AclOperation.Write));
        Assert.True(a.Decide("User:alice", "127.0.0.1", AclOperation.Write, AclResourceType.Topic, "orders"));
        Assert.False(a.Decide("User:alice", "127.0.0.1", AclOperation.Read, AclResourceType.Topic, "orders"));
        Assert.False(a.Decide("User:bob", "127.0.0.1", AclOperation.Write, AclResourceType.Topic, "orders"));
        Assert.False(a.Decide("User:alice", "127.0.0.1", AclOperation.Write, AclResourceType.Topic, "orders2"));
        Assert.False(a.Decide("User:alice", "127.0.0.1", AclOperation.Write, AclResourceType.Group, "orders"));
    }

    [Theory]
    [InlineData(AclOperation.Read, AclOperation.Describe, true)]
    [InlineData(AclOperation.Write, AclOperation.Describe, true)]
    [InlineData(AclOperation.Delete, AclOperation.Describe, true)]
    [InlineData(AclOperation.Alter, AclOperation.Describe, true)]
    [InlineData(AclOperation.AlterConfigs, AclOperation.DescribeConfigs, true)]
    [InlineData(AclOperation.Create, AclOperation.Describe, false)]
    [InlineData(AclOperation.Describe, AclOperation.Read, false)]
    [InlineData(AclOperation.All, AclOperation.Delete, true)]
    public void Operations_imply_as_in_Kafka(object granted, object asked, bool expected) =>
        Assert.Equal(expected, Make(acls: Allow("User:alice", (AclOperation)granted)).Decide("User:alice", "h", (AclOperation)asked, AclResourceType.Topic, "orders"));

    [Fact]
    public void Deny_wins_over_allow_and_wildcard_principal()
    {
        Authorizer a = Make(acls: [Allow("User:*", AclOperation.All), Deny("User:bob", AclOperation.Read)]);
        Assert.True(a.Decide("User:alice", "h", AclOperation.Read, AclResourceType.Topic, "orders"));
        Assert.False(a.Decide("User:bob", "h", AclOperation.Read, AclResourceType.Topic, "orders"));
        Assert.True(a.Decide("User:bob", "h", AclOperation.Write, AclResourceType.Topic, "orders"));
    }

    [Fact]
    public void Prefixed_and_wildcard_names_and_hosts()
    {
        Authorizer a = Make(acls: [Allow("User:alice", AclOperation.Read, name: "logs-", pattern: AclPatternType.Prefixed),
            Allow("User:bob", AclOperation.Read, name: "*"), Allow("User:carol", AclOperation.Read, host: "10.0.0.1")]);
        Assert.True(a.Decide("User:alice", "h", AclOperation.Read, AclResourceType.Topic, "logs-app"));
        Assert.False(a.Decide("User:alice", "h", AclOperation.Read, AclResourceType.Topic, "log"));
        Assert.True(a.Decide("User:bob", "h", AclOperation.Read, AclResourceType.Topic, "anything"));
        Assert.True(a.Decide("User:carol", "10.0.0.1", AclOperation.Read, AclResourceType.Topic, "orders"));
        Assert.False(a.Decide("User:carol", "10.0.0.2", AclOperation.Read, AclResourceType.Topic, "orders"));
    }

    [Fact]
    public void Super_users_bypass_and_no_acl_found_follows_the_setting()
    {
        Authorizer closed = Make(false, "User:admin", Deny("User:admin", AclOperation.All));
        Assert.True(closed.Decide("User:admin", "h", AclOperation.Read, AclResourceType.Topic, "orders"));
        Assert.False(closed.Decide("User:x", "h", AclOperation.Read, AclResourceType.Topic, "free"));
        Authorizer open = Make(true, "", Allow("User:alice", AclOperation.Read));
        Assert.True(open.Decide("User:x", "h", AclOperation.Read, AclResourceType.Topic, "free"));
        Assert.False(open.Decide("User:x", "h", AclOperation.Read, AclResourceType.Topic, "orders"));
    }

    [Fact]
    public void Store_survives_reopen_and_filters_remove_what_they_match()
    {
        var store = new AclStore(_dir, NullLogger<AclStore>.Instance);
        Assert.True(store.Add([Allow("User:a", AclOperation.Read), Allow("User:b", AclOperation.Write, name: "logs-", pattern: AclPatternType.Prefixed)]));
        Assert.True(store.Add([Allow("User:a", AclOperation.Read)]));
        var reopened = new AclStore(_dir, NullLogger<AclStore>.Instance);
        Assert.Equal(2, reopened.Snapshot.Length);
        var match = new AclFilter(AclResourceType.Topic, "logs-x", AclPatternType.Match, null, null, AclOperation.Any, AclPermissionType.Any);
        Assert.Single(reopened.Snapshot, match.Matches);
        List<List<AclBinding>> removed = reopened.Remove([match]);
        Assert.Equal("User:b", Assert.Single(removed[0]).Principal);
        Assert.Equal("User:a", Assert.Single(new AclStore(_dir, NullLogger<AclStore>.Instance).Snapshot).Principal);
    }

    [Fact]
    public void By_resource_type_an_allow_counts_unless_a_deny_covers_all_it_names()
    {
        Authorizer a = Make(acls: [Allow("User:alice", AclOperation.Write, name: "logs-", pattern: AclPatternType.Prefixed), Allow("User:bob", AclOperation.Write),
            Deny("User:bob", AclOperation.Write), Allow("User:carol", AclOperation.Write, name: "*")]);
        Assert.True(a.DecideByResourceType("User:alice", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.False(a.DecideByResourceType("User:alice", "h", AclOperation.Write, AclResourceType.Group));
        Assert.False(a.DecideByResourceType("User:bob", "h", AclOperation.Write, AclResourceType.Topic)); // its one allow is denied
        Assert.True(a.DecideByResourceType("User:carol", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.False(a.DecideByResourceType("User:dave", "h", AclOperation.Write, AclResourceType.Topic));
        Authorizer denied = Make(acls: [Allow("User:alice", AclOperation.Write, name: "logs-app"), new AclBinding(AclResourceType.Topic, "logs", AclPatternType.Prefixed, "User:alice", "*", AclOperation.Write, AclPermissionType.Deny)]);
        Assert.False(denied.DecideByResourceType("User:alice", "h", AclOperation.Write, AclResourceType.Topic));
        Assert.True(Make(false, "User:root", Deny("User:root", AclOperation.Write)).DecideByResourceType("User:root", "h", AclOperation.Write, AclResourceType.Topic));
    }

    [Fact]
    public void Invalid_bindings_are_named()
    {
        Assert.NotNull(new AclBinding(AclResourceType.Any, "x", AclPatternType.Literal, "User:a", "*", AclOperation.Read, AclPermissionType.Allow).Invalid());
        Assert.NotNull(new AclBinding(AclResourceType.Topic, "x", AclPatternType.Match, "User:a", "*", AclOperation.Read, AclPermissionType.Allow).Invalid());
        Assert.NotNull(new AclBinding(AclResourceType.Topic, "x", AclPatternType.Literal, "bob", "*", AclOperation.Read, AclPermissionType.Allow).Invalid());
        Assert.NotNull(new AclBinding(AclResourceType.Cluster, "x", AclPatternType.Literal, "User:a", "*", AclOperation.Alter, AclPermissionType.Allow).Invalid());
        Assert.Null(new AclBinding(AclResourceType.Cluster, "kafka-cluster", AclPatternType.Literal, "User:a", "*", AclOperation.Alter, AclPermissionType.Allow).Invalid());
    }
}
