using System.Text;
using LogBroker.Broker.Cluster;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security;

namespace LogBroker.Broker.Tests.Cluster;

/// <summary>A broker's registration names every listener; clients get their own listener's endpoint, followers the inter-broker one.</summary>
public sealed class BrokerRegistrationTests
{
    private static readonly BrokerEndpoint Client = new("CLIENT", "10.0.0.1", 9092, "PLAINTEXT");
    private static readonly BrokerEndpoint Internal = new("INTERNAL", "10.1.0.1", 9093, "SASL_SSL");

    [Fact]
    public void The_inter_broker_listener_is_the_named_one_or_else_the_first()
    {
        var named = BrokerRegistration.Of(4, [Client, Internal], "INTERNAL", "r1");
        Assert.Equal((4, "10.1.0.1", 9093, "r1"), (named.Id, named.Host, named.Port, named.Rack));
        Assert.Equal(Internal, named.InterBrokerEndpoint());

        var first = BrokerRegistration.Of(4, [Client, Internal], null, null);
        Assert.Equal(Client, first.InterBrokerEndpoint());

        Assert.Throws<InvalidOperationException>(() => BrokerRegistration.Of(4, [Client, Internal], "REPLICATION", null));
    }

    [Fact]
    public void A_client_is_given_its_own_listeners_endpoint_and_none_for_a_listener_the_broker_lacks()
    {
        var registration = BrokerRegistration.Of(4, [Client, Internal], "INTERNAL", null);
        Assert.Equal(("10.0.0.1", 9092), registration.EndpointFor("CLIENT"));
        Assert.Equal(("10.1.0.1", 9093), registration.EndpointFor("INTERNAL"));
        Assert.Null(registration.EndpointFor("client")); // listener names are case-sensitive, as Kafka's
        Assert.Null(registration.EndpointFor("EXTERNAL"));
        Assert.Equal(("10.1.0.1", 9093), registration.EndpointFor(null));
    }

    [Fact]
    public void A_registration_survives_the_store_and_one_written_before_listeners_were_registered_still_reads()
    {
        var registration = BrokerRegistration.Of(4, [Client, Internal], "INTERNAL", null);
        var decoded = ClusterJson.Decode<BrokerRegistration>(ClusterJson.Encode(registration))!;
        Assert.Equal([Client, Internal], decoded.Endpoints);
        Assert.Equal(Internal, decoded.InterBrokerEndpoint());

        var old = ClusterJson.Decode<BrokerRegistration>(Encoding.UTF8.GetBytes("""{"id":2,"host":"10.0.0.2","port":9092,"rack":null}"""))!;
        Assert.Null(old.Endpoints);
        Assert.Equal(("10.0.0.2", 9092), old.EndpointFor("ANY"));
        Assert.Equal(new BrokerEndpoint("PLAINTEXT", "10.0.0.2", 9092, "PLAINTEXT"), old.InterBrokerEndpoint());
    }

    [Fact]
    public void The_inter_broker_listener_must_exist_and_a_sasl_one_needs_the_brokers_credentials()
    {
        var broker = new BrokerOptions();
        var security = new SecurityOptions
        {
            Listeners =
            [
                new ListenerOptions { Name = "CLIENT", Address = "127.0.0.1:0", SecurityProtocol = "PLAINTEXT" },
                new ListenerOptions { Name = "INTERNAL", Address = "127.0.0.1:0", SecurityProtocol = "SASL_PLAINTEXT" },
            ],
        };

        Assert.Null(ReplicationRegistration.InterBrokerListenerError(new ReplicationOptions(), broker, security));
        Assert.Contains("no listener", ReplicationRegistration.InterBrokerListenerError(new ReplicationOptions { InterBrokerListener = "REPLICATION" }, broker, security));
        Assert.Contains("SASL", ReplicationRegistration.InterBrokerListenerError(new ReplicationOptions { InterBrokerListener = "INTERNAL" }, broker, security));
        Assert.Null(ReplicationRegistration.InterBrokerListenerError(
            new ReplicationOptions { InterBrokerListener = "INTERNAL", InterBroker = new InterBrokerSettings { Username = "broker", Password = "secret" } }, broker, security));
    }
}
