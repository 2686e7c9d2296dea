using LogBroker.Client.Admin;

namespace LogBroker.Integration.Tests.Client;

/// <summary>Creates a uniquely named topic with our admin client.</summary>
internal static class ClientTopics
{
    public static async Task<string> CreateAsync(BrokerFixture broker, string prefix, int partitions, CancellationToken cancellationToken)
    {
        string topic = BrokerFixture.UniqueTopic(prefix);
        await using var admin = new AdminClient(new AdminOptions { BootstrapServers = broker.Bootstrap });
        await admin.CreateTopicsAsync([new NewTopic(topic, partitions)], cancellationToken);
        return topic;
    }
}
