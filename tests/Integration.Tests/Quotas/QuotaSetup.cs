using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>What the quota tests set up on a real broker: a one-partition topic and a client-id quota.</summary>
internal static class QuotaSetup
{
    public static async Task CreateTopicAsync(string bootstrap, string topic)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 1, ReplicationFactor = 1 }]);
    }

    /// <summary>Sets quota <paramref name="key"/> (e.g. producer_byte_rate) of a client id through AlterClientQuotas.</summary>
    public static async Task SetClientQuotaAsync(int port, string clientId, string key, double value)
    {
        using RawConnection raw = await RawConnection.OpenAsync(port);
        AlterClientQuotasResponse altered = await raw.RequestAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, new AlterClientQuotasRequest
        {
            Entries =
            [
                new AlterClientQuotasRequest.EntryData
                {
                    Entity = [new AlterClientQuotasRequest.EntityData { EntityType = "client-id", EntityName = clientId }],
                    Ops = [new AlterClientQuotasRequest.OpData { Key = key, Value = value }],
                },
            ],
        }, TimeSpan.FromSeconds(10));
        Assert.Equal(0, Assert.Single(altered.Entries).ErrorCode);
    }
}
