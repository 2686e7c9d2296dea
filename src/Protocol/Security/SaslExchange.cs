using LogBroker.Protocol.Messages;

namespace LogBroker.Protocol.Security;

/// <summary>What a SASL exchange ended with: success (with the broker's session lifetime, KIP-368; zero: none) or an error and its message.</summary>
internal readonly record struct SaslOutcome(ErrorCode Error, string? Message, long SessionLifetimeMs);

/// <summary>
/// The client side of Kafka's SASL: SaslHandshake v1 naming the mechanism, then SaslAuthenticate rounds until the
/// mechanism is done (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). The transport is the caller's (the client's connection, a
/// follower's replica connection); every token from the broker is bounded, and so are the rounds.
/// </summary>
internal static class SaslExchange
{
    /// <summary>The most SCRAM iterations a broker may ask for; more fails (a hostile broker cannot make the client spin).</summary>
    public const int MaxScramIterations = 100_000;

    /// <summary>The largest SASL token accepted from a broker.</summary>
    public const int MaxTokenBytes = 64 * 1024;

    /// <summary>Whether <paramref name="mechanism"/> (upper case) is one this side speaks.</summary>
    public static bool IsSupported(string mechanism) => mechanism is "PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512";

    /// <summary>Runs the exchange for <paramref name="user"/>; <paramref name="endpoint"/> names the broker in messages.</summary>
    public static async Task<SaslOutcome> RunAsync(
        string mechanism, string user, string password, string endpoint,
        Func<SaslHandshakeRequest, CancellationToken, Task<SaslHandshakeResponse>> handshake,
        Func<SaslAuthenticateRequest, CancellationToken, Task<SaslAuthenticateResponse>> authenticate,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handshake);
        ArgumentNullException.ThrowIfNull(authenticate);
        SaslHandshakeResponse shook = await handshake(new SaslHandshakeRequest { Mechanism = mechanism }, cancellationToken).ConfigureAwait(false);
        if (shook.ErrorCode != 0)
        {
            return new SaslOutcome((ErrorCode)shook.ErrorCode,
                $"SASL handshake with {endpoint} failed: {(ErrorCode)shook.ErrorCode} (the broker offers {string.Join(", ", shook.Mechanisms)}).", 0);
        }

        ISaslClient client = mechanism == "PLAIN" ? new PlainClient(user, password) : new ScramClient(mechanism, user, password);
        byte[]? token = client.First();
        long lifetime = 0;
        for (int round = 0; token is not null; round++)
        {
            if (round > 4)
            {
                return new SaslOutcome(ErrorCode.SaslAuthenticationFailed, $"SASL with {endpoint} did not finish.", 0);
            }

            SaslAuthenticateResponse response = await authenticate(new SaslAuthenticateRequest { AuthBytes = token }, cancellationToken).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                return new SaslOutcome((ErrorCode)response.ErrorCode,
                    $"SASL authentication with {endpoint} failed: {response.ErrorMessage ?? ((ErrorCode)response.ErrorCode).ToString()}", 0);
            }

            if (response.AuthBytes.Length > MaxTokenBytes)
            {
                return new SaslOutcome(ErrorCode.SaslAuthenticationFailed, $"{endpoint} sent a SASL token of {response.AuthBytes.Length} bytes.", 0);
            }

            lifetime = response.SessionLifetimeMs;
            token = client.Next(response.AuthBytes.Span, out string? error);
            if (error is not null)
            {
                return new SaslOutcome(ErrorCode.SaslAuthenticationFailed, $"SASL authentication with {endpoint} failed: {error}", 0);
            }
        }

        return new SaslOutcome(ErrorCode.None, null, lifetime);
    }
}
