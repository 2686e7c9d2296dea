using System.Security.Cryptography;
using System.Text;

namespace LogBroker.Broker.Security;

/// <summary>The outcome of one SASL step.</summary>
internal readonly record struct SaslStep(SaslStepKind Kind, byte[] Response, string? User, string? Error)
{
    public static SaslStep Continue(byte[] challenge) => new(SaslStepKind.Continue, challenge, null, null);

    public static SaslStep Success(byte[] final, string user) => new(SaslStepKind.Success, final, user, null);

    public static SaslStep Fail(string error) => new(SaslStepKind.Failure, [], null, error);
}

internal enum SaslStepKind
{
    Continue,
    Success,
    Failure,
}

/// <summary>The server side of one SASL exchange on one connection.</summary>
internal interface ISaslServer
{
    string Mechanism { get; }

    SaslStep Evaluate(ReadOnlySpan<byte> token);
}

/// <summary>Bounds on SASL input, checked before anything is parsed.</summary>
internal static class SaslLimits
{
    /// <summary>The largest SASL token accepted (PLAIN message, SCRAM message); larger fails the exchange.</summary>
    public const int MaxTokenBytes = 8 * 1024;

    /// <summary>Kafka's <c>sasl.server.max.receive.size</c>: before authentication a larger frame closes the connection.</summary>
    public const int MaxUnauthenticatedFrameBytes = 512 * 1024;

    /// <summary>The longest client nonce accepted.</summary>
    public const int MaxNonceChars = 512;
}

/// <summary>
/// SASL/PLAIN (RFC 4616): <c>[authzid] NUL authcid NUL passwd</c>, checked against the user's SCRAM
/// credential (SCRAM-SHA-512 if it has one, else SCRAM-SHA-256), so one store serves both mechanisms.
/// </summary>
internal sealed class PlainServer(ScramCredentialStore store) : ISaslServer
{
    private bool _done;

    public string Mechanism => "PLAIN";

    public SaslStep Evaluate(ReadOnlySpan<byte> token)
    {
        if (_done)
        {
            return SaslStep.Fail("PLAIN takes one message.");
        }

        _done = true;
        if (token.Length > SaslLimits.MaxTokenBytes)
        {
            return SaslStep.Fail("The PLAIN message is too long.");
        }

        int first = token.IndexOf((byte)0);
        int second = first < 0 ? -1 : token[(first + 1)..].IndexOf((byte)0);
        if (first < 0 || second < 0)
        {
            return SaslStep.Fail("Malformed PLAIN message: expected [authzid] NUL authcid NUL passwd.");
        }

        second += first + 1;
        string authzid, authcid, password;
        try
        {
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            authzid = strict.GetString(token[..first]);
            authcid = strict.GetString(token[(first + 1)..second]);
            password = strict.GetString(token[(second + 1)..]);
        }
        catch (DecoderFallbackException)
        {
            return SaslStep.Fail("Malformed PLAIN message: not UTF-8.");
        }

        if (password.Contains('\0', StringComparison.Ordinal))
        {
            return SaslStep.Fail("Malformed PLAIN message: expected [authzid] NUL authcid NUL passwd.");
        }

        string? user = ScramNames.Prepare(authcid);
        if (user is null || password.Length == 0)
        {
            return SaslStep.Fail("Authentication failed: invalid user name or password.");
        }

        if (authzid.Length > 0 && ScramNames.Prepare(authzid) != user)
        {
            return SaslStep.Fail("Authentication failed: the authorization id must be empty or the user name.");
        }

        ScramMechanism mechanism = store.TryGet(user, ScramMechanism.Sha512, out ScramCredential? credential) ? ScramMechanism.Sha512 : ScramMechanism.Sha256;
        if (credential is null && !store.TryGet(user, ScramMechanism.Sha256, out credential))
        {
            // Same cost and answer as a wrong password, so that user names cannot be probed.
            _ = ScramMechanism.Sha512.Verify(password, DummyCredential);
            return SaslStep.Fail("Authentication failed: invalid user name or password.");
        }

        return mechanism.Verify(password, credential!)
            ? SaslStep.Success([], user)
            : SaslStep.Fail("Authentication failed: invalid user name or password.");
    }

    private static readonly ScramCredential DummyCredential = ScramMechanism.Sha512.Create(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), 8192);
}

/// <summary>
/// The server side of SCRAM-SHA-256/512 (RFC 5802, RFC 7677) as Kafka speaks it: no channel binding
/// (gs2 "n" or "y"), extensions after the nonce tolerated (Kafka's <c>tokenauth</c> is refused: no
/// delegation tokens here), the combined nonce and the channel-binding echo checked, the proof
/// checked in constant time. An unknown user gets a made-up salt and fails at the proof, like a wrong password.
/// </summary>
internal sealed class ScramServer(ScramMechanism mechanism, ScramCredentialStore store, byte[] fakeSaltKey) : ISaslServer
{
    private int _step;
    private string? _clientFirstBare;
    private string? _gs2Header;
    private string? _serverFirst;
    private string? _nonce;
    private string? _user;
    private ScramCredential? _credential;

    public string Mechanism => mechanism.Name;

    public SaslStep Evaluate(ReadOnlySpan<byte> token)
    {
        if (token.Length > SaslLimits.MaxTokenBytes)
        {
            return Fail("The SCRAM message is too long.");
        }

        string message;
        try
        {
            message = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(token);
        }
        catch (DecoderFallbackException)
        {
            return Fail("The SCRAM message is not UTF-8.");
        }

        return _step++ switch
        {
            0 => ClientFirst(message),
            1 => ClientFinal(message),
            _ => Fail("The SCRAM exchange is already over."),
        };
    }

    private SaslStep Fail(string error)
    {
        _step = int.MaxValue / 2;
        return SaslStep.Fail(error);
    }

    private SaslStep ClientFirst(string message)
    {
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        int comma1 = message.IndexOf(',', StringComparison.Ordinal);
        int comma2 = comma1 < 0 ? -1 : message.IndexOf(',', comma1 + 1);
        if (comma1 < 0 || comma2 < 0)
        {
            return Fail("Malformed SCRAM client-first-message.");
        }

        string flag = message[..comma1];
        if (flag.StartsWith("p=", StringComparison.Ordinal))
        {
            return Fail("SCRAM channel binding is not supported.");
        }

        if (flag is not ("n" or "y"))
        {
            return Fail("Malformed SCRAM gs2 header.");
        }

        string authzid = message[(comma1 + 1)..comma2];
        if (authzid.Length > 0 && !authzid.StartsWith("a=", StringComparison.Ordinal))
        {
            return Fail("Malformed SCRAM authzid.");
        }

        _gs2Header = message[..(comma2 + 1)];
        _clientFirstBare = message[(comma2 + 1)..];
        string[] parts = _clientFirstBare.Split(',');
        int at = 0;
        if (parts.Length > 0 && parts[0].StartsWith("m=", StringComparison.Ordinal))
        {
            return Fail("SCRAM mandatory extensions are not supported.");
        }

        if (parts.Length < 2 || !parts[at].StartsWith("n=", StringComparison.Ordinal) || !parts[at + 1].StartsWith("r=", StringComparison.Ordinal))
        {
            return Fail("Malformed SCRAM client-first-message: expected n=user,r=nonce.");
        }

        string? name = ScramNames.Unescape(parts[at].AsSpan(2));
        string? user = name is null ? null : ScramNames.Prepare(name);
        if (user is null)
        {
            return Fail("Authentication failed: invalid user name.");
        }

        if (authzid.Length > 0 && ScramNames.Unescape(authzid.AsSpan(2)) is { } z && ScramNames.Prepare(z) != user)
        {
            return Fail("Authentication failed: the authorization id must be the user name.");
        }

        string clientNonce = parts[at + 1][2..];
        if (!IsPrintableNonce(clientNonce))
        {
            return Fail("Malformed SCRAM nonce.");
        }

        for (int i = at + 2; i < parts.Length; i++)
        {
            if (parts[i].StartsWith("tokenauth=", StringComparison.Ordinal) && parts[i] != "tokenauth=false")
            {
                return Fail("Delegation tokens are not supported.");
            }
        }

        _user = user;
        if (!store.TryGet(user, mechanism, out _credential))
        {
            // A made-up but stable salt, so that the answer does not tell whether the user exists.
            byte[] salt = HMACSHA256.HashData(fakeSaltKey, Encoding.UTF8.GetBytes(mechanism.Name + "\0" + user));
            _credential = new ScramCredential(salt, 4096, new byte[mechanism.HashSize], new byte[mechanism.HashSize]);
            _user = null;
        }

        _nonce = clientNonce + Convert.ToHexString(RandomNumberGenerator.GetBytes(18)); // letters and digits only: some clients mishandle other characters
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(_credential!.Salt)},i={_credential.Iterations.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        return SaslStep.Continue(Encoding.UTF8.GetBytes(_serverFirst));
    }

    private SaslStep ClientFinal(string message)
    {
        // client-final-message-without-proof = channel-binding "," nonce ["," extensions]; then ",p=" proof
        int proofAt = message.LastIndexOf(",p=", StringComparison.Ordinal);
        if (proofAt < 0)
        {
            return Fail("Malformed SCRAM client-final-message: no proof.");
        }

        string withoutProof = message[..proofAt];
        string[] parts = withoutProof.Split(',');
        if (parts.Length < 2 || !parts[0].StartsWith("c=", StringComparison.Ordinal) || !parts[1].StartsWith("r=", StringComparison.Ordinal))
        {
            return Fail("Malformed SCRAM client-final-message: expected c=...,r=...");
        }

        if (parts[0][2..] != Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header!)))
        {
            return Fail("SCRAM channel binding does not match the gs2 header.");
        }

        // Kafka checks that the nonce ends with the combined one (librdkafka before 2.x sends the client nonce twice).
        string nonce = parts[1][2..];
        if (nonce.Length < _nonce!.Length || nonce.Length > 2 * SaslLimits.MaxNonceChars + 64
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(nonce[^_nonce.Length..]), Encoding.UTF8.GetBytes(_nonce)))
        {
            return Fail("SCRAM nonce mismatch.");
        }

        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(message[(proofAt + 3)..]);
        }
        catch (FormatException)
        {
            return Fail("Malformed SCRAM proof.");
        }

        if (proof.Length != mechanism.HashSize)
        {
            return Fail($"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism.Name}");
        }

        byte[] authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{withoutProof}");
        ScramCredential credential = _credential!;
        byte[] signature = mechanism.Hmac(credential.StoredKey, authMessage);
        for (int i = 0; i < proof.Length; i++)
        {
            proof[i] ^= signature[i]; // proof XOR ClientSignature = ClientKey
        }

        byte[] stored = mechanism.Digest(proof);
        bool good = CryptographicOperations.FixedTimeEquals(stored, credential.StoredKey) && _user is not null;
        if (!good)
        {
            return Fail($"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism.Name}");
        }

        byte[] serverSignature = mechanism.Hmac(credential.ServerKey, authMessage);
        _step = int.MaxValue / 2;
        return SaslStep.Success(Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(serverSignature)), _user!);
    }

    private static bool IsPrintableNonce(string nonce)
    {
        if (nonce.Length == 0 || nonce.Length > SaslLimits.MaxNonceChars)
        {
            return false;
        }

        foreach (char c in nonce)
        {
            if (c is < (char)0x21 or > (char)0x7e or ',')
            {
                return false;
            }
        }

        return true;
    }
}
