using System.Text;
using LogBroker.Client.Producer;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Integration.Tests.Security;

/// <summary>A broker whose SASL sessions last 2 s (<c>Security:MaxReauthentication</c>, KIP-368).</summary>
public sealed class ShortSessionBroker : IAsyncLifetime
{
    public SecureBroker Broker { get; } = new() { ExtraSettings = ["--Security:MaxReauthentication=00:00:02"] };

    public ValueTask InitializeAsync() => Broker.InitializeAsync();

    public ValueTask DisposeAsync() => Broker.DisposeAsync();
}

/// <summary>KIP-368 re-authentication: the lifetime is told, an expired session is closed at its next request, a re-authenticated one goes on.</summary>
public sealed class ReauthenticationTests(ShortSessionBroker fixture) : IClassFixture<ShortSessionBroker>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private SecureBroker Broker => fixture.Broker;

    private static Task<MetadataResponse> MetadataAsync(RawConnection raw) =>
        raw.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = [] }, Wait);

    [Fact]
    public async Task An_expired_session_is_closed_at_its_next_request()
    {
        using RawConnection raw = await RawConnection.OpenAsync(Broker.SaslPlaintextPort);
        SaslAuthenticateResponse done = await SaslProtocolTests.ScramAsync(raw, "SCRAM-SHA-256", SecureBroker.AdminUser, SecureBroker.AdminPassword);
        Assert.Equal(0, done.ErrorCode);
        Assert.Equal(2000, done.SessionLifetimeMs);
        await MetadataAsync(raw);
        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken);
        await raw.SendRequestAsync(ApiKey.Metadata, 12, 77, new MetadataRequest { Topics = [] });
        await Assert.ThrowsAnyAsync<Exception>(() => raw.ReceiveAsync(Wait)); // closed, unanswered
    }

    [Fact]
    public async Task A_re_authenticated_session_goes_on_past_the_first_expiry_but_not_as_someone_else()
    {
        using RawConnection raw = await RawConnection.OpenAsync(Broker.SaslPlaintextPort);
        Assert.Equal(0, (await SaslProtocolTests.ScramAsync(raw, "SCRAM-SHA-512", SecureBroker.AdminUser, SecureBroker.AdminPassword)).ErrorCode);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.Equal(0, (await SaslProtocolTests.ScramAsync(raw, "SCRAM-SHA-512", SecureBroker.AdminUser, SecureBroker.AdminPassword)).ErrorCode);
        await Task.Delay(TimeSpan.FromSeconds(1.5), TestContext.Current.CancellationToken); // past the first session's end
        Assert.Single((await MetadataAsync(raw)).Brokers);

        // Create bob, then try to re-authenticate the admin's connection as bob: refused, closed.
        var salt = new byte[16];
        byte[] salted = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2("bob-pw"u8, salt, 4096, System.Security.Cryptography.HashAlgorithmName.SHA512, 64);
        AlterUserScramCredentialsResponse created = await raw.RequestAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0,
            new AlterUserScramCredentialsRequest { Upsertions = [new() { Name = "bob", Mechanism = 2, Iterations = 4096, Salt = salt, SaltedPassword = salted }] }, Wait);
        Assert.Equal(0, created.Results.Single().ErrorCode);
        SaslAuthenticateResponse other = await SaslProtocolTests.ScramAsync(raw, "SCRAM-SHA-512", "bob", "bob-pw");
        Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, other.ErrorCode);
        Assert.True(await raw.IsClosedByPeerAsync(TimeSpan.FromSeconds(3)));

        // bob himself can log in with what AlterUserScramCredentials stored (salted password sent by the client).
        using RawConnection bob = await RawConnection.OpenAsync(Broker.SaslPlaintextPort);
        Assert.Equal(0, (await SaslProtocolTests.ScramAsync(bob, "SCRAM-SHA-512", "bob", "bob-pw")).ErrorCode);
    }

    [Fact]
    public async Task Our_client_keeps_producing_across_session_expiries()
    {
        await using var producer = new KafkaProducer(new ProducerOptions
        {
            BootstrapServers = $"127.0.0.1:{Broker.SaslSslPort}",
            SecurityProtocol = "SASL_SSL",
            SaslMechanism = "SCRAM-SHA-256",
            SaslUsername = SecureBroker.AdminUser,
            SaslPassword = SecureBroker.AdminPassword,
            SslCaLocation = Broker.CaFile,
        });
        string topic = BrokerFixture.UniqueTopic("reauth");
        for (int i = 0; i < 4; i++)
        {
            DeliveryResult result = await producer.ProduceAsync(topic, new ProducerRecord(null, Encoding.UTF8.GetBytes($"r{i}")), TestContext.Current.CancellationToken);
            Assert.Equal(i, result.Offset);
            await Task.Delay(TimeSpan.FromSeconds(1.2), TestContext.Current.CancellationToken); // 4.8 s in all: two sessions expire meanwhile
        }
    }
}
