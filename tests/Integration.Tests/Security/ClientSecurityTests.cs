using System.Text;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using LogBroker.Protocol;

namespace LogBroker.Integration.Tests.Security;

/// <summary>LogBroker.Client over TLS, SASL (PLAIN, SCRAM-SHA-256/512) and mTLS against a broker process.</summary>
public sealed class ClientSecurityTests(SecureBroker broker) : IClassFixture<SecureBroker>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private T Sasl<T>(T options, string mechanism, string user, string password)
        where T : ClientOptions => options with
        {
            BootstrapServers = $"127.0.0.1:{broker.SaslSslPort}",
            SecurityProtocol = "SASL_SSL",
            SaslMechanism = mechanism,
            SaslUsername = user,
            SaslPassword = password,
            SslCaLocation = broker.CaFile,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-512")]
    public async Task Produce_consume_with_a_group_and_admin_over_SASL_SSL(string mechanism)
    {
        string topic = BrokerFixture.UniqueTopic("client-sasl");
        await using (var admin = new AdminClient(Sasl(new AdminOptions(), mechanism, SecureBroker.AdminUser, SecureBroker.AdminPassword)))
        {
            await admin.CreateTopicsAsync([new NewTopic(topic, 2)], Ct);
            Assert.Contains(topic, await admin.ListTopicsAsync(cancellationToken: Ct));
        }

        await using (var producer = new KafkaProducer(Sasl(new ProducerOptions(), mechanism, SecureBroker.AdminUser, SecureBroker.AdminPassword)))
        {
            for (int i = 0; i < 20; i++)
            {
                await producer.ProduceAsync(topic, new ProducerRecord(null, Encoding.UTF8.GetBytes($"v{i}")), Ct);
            }
        }

        await using var consumer = new KafkaConsumer(Sasl(new ConsumerOptions { GroupId = "g-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest },
            mechanism, SecureBroker.AdminUser, SecureBroker.AdminPassword));
        consumer.Subscribe([topic]);
        var seen = new HashSet<string>();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (seen.Count < 20)
        {
            ConsumeBatch? batch = await consumer.NextBatchAsync(timeout.Token);
            foreach (ConsumeRecord record in batch?.ToList() ?? [])
            {
                seen.Add(Encoding.UTF8.GetString(record.Value!));
            }
        }

        await consumer.CommitAsync(Ct);
        Assert.Equal(20, seen.Count);
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-512")]
    public async Task Wrong_password_is_an_authentication_error(string mechanism)
    {
        await using var admin = new AdminClient(Sasl(new AdminOptions { OperationTimeout = TimeSpan.FromSeconds(5) }, mechanism, SecureBroker.AdminUser, "not-the-password"));
        KafkaException e = await Assert.ThrowsAsync<KafkaException>(() => admin.ListTopicsAsync(cancellationToken: Ct));
        Assert.Equal(ErrorCode.SaslAuthenticationFailed, e.ErrorCode);
        Assert.Contains("Authentication failed", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_client_on_the_TLS_port_fails_and_mTLS_works()
    {
        await using (var plain = new AdminClient(new AdminOptions { BootstrapServers = $"127.0.0.1:{broker.SaslSslPort}", OperationTimeout = TimeSpan.FromSeconds(5), RequestTimeout = TimeSpan.FromSeconds(3) }))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => plain.ListTopicsAsync(cancellationToken: Ct));
        }

        (string certificate, string key) = broker.Certificates.Client("client-mtls", "CN=carol,OU=ServiceUsers,O=corp");
        await using var mtls = new AdminClient(new AdminOptions
        {
            BootstrapServers = $"127.0.0.1:{broker.SslPort}",
            SecurityProtocol = "SSL",
            SslCaLocation = broker.CaFile,
            SslCertificateLocation = certificate,
            SslKeyLocation = key,
        });
        Assert.NotNull(await mtls.ListTopicsAsync(cancellationToken: Ct));
    }
}
