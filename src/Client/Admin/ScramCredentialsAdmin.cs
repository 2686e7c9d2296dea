using System.Security.Cryptography;
using System.Text;
using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Admin;

/// <summary>A user's SCRAM credential as DescribeUserScramCredentials reports it: the mechanism and iterations, never secrets.</summary>
/// <param name="User">The user name.</param>
/// <param name="Mechanism">SCRAM-SHA-256 or SCRAM-SHA-512.</param>
/// <param name="Iterations">PBKDF2 iterations.</param>
public sealed record ScramCredentialInfo(string User, string Mechanism, int Iterations);

/// <summary>
/// SCRAM user management over the Kafka API (KIP-554: DescribeUserScramCredentials, AlterUserScramCredentials).
/// The password is salted and hashed here (PBKDF2); only the salt and salted password go to the broker.
/// </summary>
public sealed class ScramCredentialsAdmin : IAsyncDisposable
{
    private readonly Cluster _cluster;

    /// <summary>Connects with <paramref name="options"/> (including its security settings).</summary>
    public ScramCredentialsAdmin(AdminOptions options) => _cluster = new Cluster(options, NullLogger.Instance);

    /// <summary>The credentials of <paramref name="users"/> (null: every user); a user without any is left out.</summary>
    public async Task<IReadOnlyList<ScramCredentialInfo>> DescribeAsync(IEnumerable<string>? users, CancellationToken cancellationToken = default)
    {
        var request = new DescribeUserScramCredentialsRequest { Users = users is null ? null : [.. users.Select(u => new DescribeUserScramCredentialsRequest.UserName { Name = u })] };
        DescribeUserScramCredentialsResponse response = await SendAsync<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, request, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0)
        {
            throw new KafkaException((ErrorCode)response.ErrorCode, response.ErrorMessage ?? ((ErrorCode)response.ErrorCode).ToString());
        }

        var list = new List<ScramCredentialInfo>();
        foreach (DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult result in response.Results)
        {
            if (result.ErrorCode == (short)ErrorCode.ResourceNotFound)
            {
                continue;
            }

            if (result.ErrorCode != 0)
            {
                throw new KafkaException((ErrorCode)result.ErrorCode, $"{result.User}: {result.ErrorMessage}");
            }

            foreach (DescribeUserScramCredentialsResponse.CredentialInfo info in result.CredentialInfos)
            {
                list.Add(new ScramCredentialInfo(result.User, info.Mechanism == 2 ? "SCRAM-SHA-512" : "SCRAM-SHA-256", info.Iterations));
            }
        }

        return list;
    }

    /// <summary>Creates or replaces <paramref name="user"/>'s credential for <paramref name="mechanism"/> (SCRAM-SHA-256 or SCRAM-SHA-512).</summary>
    public async Task UpsertAsync(string user, string mechanism, string password, int iterations = 8192, CancellationToken cancellationToken = default)
    {
        (sbyte type, HashAlgorithmName hash, int size) = Mechanism(mechanism);
        byte[] salt = RandomNumberGenerator.GetBytes(32);
        byte[] salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, hash, size);
        var request = new AlterUserScramCredentialsRequest
        {
            Upsertions = [new() { Name = user, Mechanism = type, Iterations = iterations, Salt = salt, SaltedPassword = salted }],
        };
        await AlterAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes <paramref name="user"/>'s credential for <paramref name="mechanism"/>.</summary>
    public Task DeleteAsync(string user, string mechanism, CancellationToken cancellationToken = default) =>
        AlterAsync(new AlterUserScramCredentialsRequest { Deletions = [new() { Name = user, Mechanism = Mechanism(mechanism).Type }] }, cancellationToken);

    private async Task AlterAsync(AlterUserScramCredentialsRequest request, CancellationToken cancellationToken)
    {
        AlterUserScramCredentialsResponse response = await SendAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, request, cancellationToken).ConfigureAwait(false);
        foreach (AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult result in response.Results)
        {
            if (result.ErrorCode != 0)
            {
                throw new KafkaException((ErrorCode)result.ErrorCode, $"{result.User}: {result.ErrorMessage ?? ((ErrorCode)result.ErrorCode).ToString()}");
            }
        }
    }

    private async Task<T> SendAsync<T>(ApiKey key, IKafkaMessage request, CancellationToken cancellationToken)
        where T : IKafkaMessage, new()
    {
        BrokerConnection connection = await _cluster.ConnectionAsync(-1, cancellationToken).ConfigureAwait(false);
        if (connection.BrokerMaxVersion(key) < 0)
        {
            throw new KafkaException(ErrorCode.UnsupportedVersion, $"The broker at {connection.Endpoint} does not support {key} (KIP-554).");
        }

        return await connection.SendAsync<T>(key, 0, request, cancellationToken).ConfigureAwait(false);
    }

    private static (sbyte Type, HashAlgorithmName Hash, int Size) Mechanism(string mechanism) => mechanism.ToUpperInvariant() switch
    {
        "SCRAM-SHA-256" => (1, HashAlgorithmName.SHA256, 32),
        "SCRAM-SHA-512" => (2, HashAlgorithmName.SHA512, 64),
        _ => throw new ArgumentException($"'{mechanism}' is not SCRAM-SHA-256 or SCRAM-SHA-512.", nameof(mechanism)),
    };

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}
