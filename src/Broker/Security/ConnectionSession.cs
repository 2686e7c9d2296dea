using System.Security.Cryptography;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Security;

/// <summary>Where a connection is in SASL authentication.</summary>
internal enum SaslState
{
    /// <summary>The listener has no SASL: the connection is authenticated by its transport (or anonymous).</summary>
    NotRequired,

    /// <summary>Waiting for SaslHandshake.</summary>
    AwaitingHandshake,

    /// <summary>Mechanism chosen; SaslAuthenticate (or a raw token after handshake v0) exchanges are going on.</summary>
    Exchanging,

    /// <summary>Authenticated (possibly re-authenticating: a new handshake moves it to <see cref="Exchanging"/> again).</summary>
    Authenticated,

    /// <summary>Authentication failed: the connection closes once the error is sent.</summary>
    Failed,
}

/// <summary>
/// The security state of one connection: its listener, its principal, and its SASL exchange. Only the
/// connection's read loop changes it (SASL requests complete synchronously, before the next frame is
/// read), so it needs no lock.
/// </summary>
internal sealed class ConnectionSession
{
    public const string Anonymous = "User:ANONYMOUS";

    private readonly TimeProvider _time;

    public ConnectionSession(ListenerInfo? listener, string principal, TimeProvider time, TimeSpan authenticationTimeout)
    {
        Listener = listener;
        Principal = principal;
        _time = time;
        State = listener?.UsesSasl == true ? SaslState.AwaitingHandshake : SaslState.NotRequired;
        if (State == SaslState.AwaitingHandshake)
        {
            AuthenticationDeadline = time.GetTimestamp() + (long)(authenticationTimeout.TotalSeconds * time.TimestampFrequency);
        }
    }

    /// <summary>A PLAINTEXT, anonymous session (in-memory connections in tests).</summary>
    public static ConnectionSession Plaintext(TimeProvider time) => new(null, Anonymous, time, TimeSpan.Zero);

    public ListenerInfo? Listener { get; }

    /// <summary>KIP-368's session lifetime given to each successful authentication (null: sessions do not expire).</summary>
    public TimeSpan? SessionLifetime { get; init; }

    /// <summary><c>User:name</c>: the SASL user, the mapped certificate subject, or <c>User:ANONYMOUS</c>.</summary>
    public string Principal { get; private set; }

    public SaslState State { get; private set; }

    /// <summary>True once the connection has authenticated at least once (SASL) or needs no SASL.</summary>
    public bool HasAuthenticated { get; private set; }

    /// <summary>The mechanism of the current exchange or of the last successful one.</summary>
    public string? Mechanism { get; private set; }

    /// <summary>The running SASL exchange.</summary>
    public ISaslServer? Exchange { get; private set; }

    /// <summary>SaslHandshake v0 was used: the SASL tokens come as raw size-prefixed frames, not SaslAuthenticate.</summary>
    public bool RawTokens { get; private set; }

    /// <summary>Timestamp by which the first authentication must succeed (0: none).</summary>
    public long AuthenticationDeadline { get; private set; }

    /// <summary>Timestamp after which the session has expired and must re-authenticate (0: never).</summary>
    public long SessionExpiry { get; private set; }

    /// <summary>Set when the connection must close once the response already queued is sent.</summary>
    public string? CloseReason { get; private set; }

    public bool Expired => SessionExpiry != 0 && _time.GetTimestamp() >= SessionExpiry;

    /// <summary>Whether a request of <paramref name="key"/> may run now; otherwise the connection closes (Kafka's rule).</summary>
    public bool Permits(ApiKey key)
    {
        if (CloseReason is not null)
        {
            return false;
        }

        if (State == SaslState.NotRequired)
        {
            return true;
        }

        if (key is ApiKey.ApiVersions or ApiKey.SaslHandshake or ApiKey.SaslAuthenticate)
        {
            return true;
        }

        return HasAuthenticated && !Expired;
    }

    /// <summary>Why <see cref="Permits"/> said no.</summary>
    public string DenyReason(ApiKey key) => CloseReason ?? (HasAuthenticated
        ? $"{key} after the SASL session expired (re-authentication required, KIP-368)"
        : $"{key} before SASL authentication");

    public void BeginExchange(ISaslServer exchange, bool rawTokens)
    {
        Exchange = exchange;
        Mechanism = exchange.Mechanism;
        RawTokens = rawTokens;
        State = SaslState.Exchanging;
    }

    /// <summary>Records a successful authentication; false when a re-authentication changed the principal (refused, as Kafka does).</summary>
    public bool Succeed(string principal)
    {
        if (HasAuthenticated && principal != Principal)
        {
            return false;
        }

        Principal = principal;
        HasAuthenticated = true;
        State = SaslState.Authenticated;
        Exchange = null;
        RawTokens = false;
        AuthenticationDeadline = 0;
        SessionExpiry = SessionLifetime is { } l ? _time.GetTimestamp() + (long)(l.TotalSeconds * _time.TimestampFrequency) : 0;
        return true;
    }

    public void Fail(string reason)
    {
        State = SaslState.Failed;
        Exchange = null;
        CloseReason = reason;
    }
}

/// <summary>What every connection's SASL exchange needs: the enabled mechanisms and the credential store.</summary>
internal sealed class SaslAuthenticator
{
    private readonly byte[] _fakeSaltKey = RandomNumberGenerator.GetBytes(32);
    private readonly ScramCredentialStore _store;

    public SaslAuthenticator(IOptions<SecurityOptions> options, ScramCredentialStore store)
    {
        Options = options.Value;
        _store = store;
        Mechanisms = [.. Options.SaslEnabledMechanisms.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
        _superUsers = [.. Options.SuperUsers.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
    }

    private readonly HashSet<string> _superUsers;

    /// <summary>Whether the connection's principal is in <see cref="SecurityOptions.SuperUsers"/> (always, when that is empty).</summary>
    public bool IsSuperUser(ConnectionSession? session) => _superUsers.Count == 0 || (session is not null && _superUsers.Contains(session.Principal));

    public SecurityOptions Options { get; }

    /// <summary><c>sasl.enabled.mechanisms</c>, in order.</summary>
    public List<string> Mechanisms { get; }

    /// <summary>A new exchange for <paramref name="mechanism"/>, or null when it is not enabled.</summary>
    public ISaslServer? Create(string mechanism)
    {
        if (!Mechanisms.Contains(mechanism))
        {
            return null;
        }

        return mechanism == "PLAIN"
            ? new PlainServer(_store)
            : ScramMechanism.FromName(mechanism) is { } scram ? new ScramServer(scram, _store, _fakeSaltKey) : null;
    }
}
