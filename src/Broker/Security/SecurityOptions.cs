using System.ComponentModel.DataAnnotations;

namespace LogBroker.Broker.Security;

/// <summary>
/// Listeners, TLS and SASL settings. Bound from the <c>Security</c> section of <c>broker.json</c>.
/// With no <see cref="Listeners"/> the broker has one PLAINTEXT listener on <see cref="BrokerOptions.Listener"/>
/// (advertised as <see cref="BrokerOptions.AdvertisedHost"/>:<see cref="BrokerOptions.AdvertisedPort"/>).
/// </summary>
public sealed class SecurityOptions : IValidatableObject
{
    /// <summary>
    /// Kafka's <c>listeners</c> / <c>advertised.listeners</c> / <c>listener.security.protocol.map</c> in one
    /// list. When not empty, <see cref="BrokerOptions.Listener"/>, <c>AdvertisedHost</c> and <c>AdvertisedPort</c>
    /// are ignored. Default: empty.
    /// </summary>
    public List<ListenerOptions> Listeners { get; set; } = [];

    /// <summary><c>sasl.enabled.mechanisms</c>: comma-separated. Default "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".</summary>
    [Required]
    public string SaslEnabledMechanisms { get; set; } = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512";

    /// <summary>A TLS handshake not finished within this time closes the connection. Default 10 s.</summary>
    public TimeSpan TlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A connection on a SASL listener that has not authenticated within this time after it was accepted is
    /// closed. Default 30 s.
    /// </summary>
    public TimeSpan SaslAuthenticationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <c>connections.max.reauth.ms</c> (KIP-368): the lifetime of an authenticated SASL session, told to the
    /// client in SaslAuthenticate's <c>session_lifetime_ms</c>; after it, the connection must re-authenticate
    /// before any other request, or it is closed. Default null: sessions do not expire.
    /// </summary>
    public TimeSpan? MaxReauthentication { get; set; }

    /// <summary>How often the certificate and key files of TLS listeners are checked for changes (SIGHUP reloads at once). Default 30 s.</summary>
    public TimeSpan CertificateReloadInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>PBKDF2 iterations of SCRAM credentials the broker creates itself (the initial user). Default 8192; at least 4096 (RFC 7677).</summary>
    [Range(ScramMechanism.MinIterations, ScramMechanism.MaxIterations)]
    public int ScramIterations { get; set; } = 8192;

    /// <summary>
    /// A user whose SCRAM-SHA-256 and SCRAM-SHA-512 credentials are created at start when the user has none
    /// yet (the first admin). Default null: none.
    /// </summary>
    public string? InitialUser { get; set; }

    /// <summary>
    /// The password of <see cref="InitialUser"/>; better given as the <c>LOGBROKER__Security__InitialPassword</c>
    /// environment variable than in a file. Never logged. Default null.
    /// </summary>
    public string? InitialPassword { get; set; }

    /// <summary>
    /// <c>super.users</c>: semicolon-separated principals (<c>User:admin</c>) allowed to manage SCRAM credentials
    /// (DescribeUserScramCredentials, AlterUserScramCredentials). Default empty: every client may (fine only
    /// while no listener authenticates; set it when one does).
    /// </summary>
    public string SuperUsers { get; set; } = "";

    /// <summary>
    /// Whether ACLs are checked (Kafka's <c>authorizer.class.name</c> set). Super users (<see cref="SuperUsers"/>)
    /// bypass them. Default false: every principal may do everything, and no check is made.
    /// </summary>
    public bool AuthorizationEnabled { get; set; }

    /// <summary><c>allow.everyone.if.no.acl.found</c>: with authorization on, a resource without any ACL is open to all. Default false.</summary>
    public bool AllowEveryoneIfNoAclFound { get; set; }

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        (string, TimeSpan)[] timeouts = [(nameof(TlsHandshakeTimeout), TlsHandshakeTimeout), (nameof(SaslAuthenticationTimeout), SaslAuthenticationTimeout),
            (nameof(CertificateReloadInterval), CertificateReloadInterval)];
        foreach ((string name, TimeSpan value) in timeouts)
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            {
                yield return new ValidationResult($"Security:{name} must be positive and at most a day.", [name]);
            }
        }

        if (MaxReauthentication is { } reauth && (reauth < TimeSpan.FromSeconds(1) || reauth > TimeSpan.FromDays(24)))
        {
            yield return new ValidationResult("Security:MaxReauthentication must be between 1 s and 24 days, or null.", [nameof(MaxReauthentication)]);
        }

        foreach (string mechanism in SaslEnabledMechanisms.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (mechanism is not ("PLAIN" or "SCRAM-SHA-256" or "SCRAM-SHA-512"))
            {
                yield return new ValidationResult($"Security:SaslEnabledMechanisms: unknown mechanism '{mechanism}' (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).", [nameof(SaslEnabledMechanisms)]);
            }
        }

        if ((InitialUser is null) != (InitialPassword is null))
        {
            yield return new ValidationResult("Security:InitialUser and Security:InitialPassword go together.", [nameof(InitialUser)]);
        }
        else if (InitialUser is not null && (ScramNames.Prepare(InitialUser) is null || InitialPassword!.Length == 0))
        {
            yield return new ValidationResult("Security:InitialUser is not a valid user name, or the password is empty.", [nameof(InitialUser)]);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Listeners.Count; i++)
        {
            ListenerOptions listener = Listeners[i];
            if (!names.Add(listener.Name))
            {
                yield return new ValidationResult($"Security:Listeners:{i}: the name '{listener.Name}' is used twice.", [nameof(Listeners)]);
            }

            foreach (string error in listener.Errors())
            {
                yield return new ValidationResult($"Security:Listeners:{i} ({listener.Name}): {error}", [nameof(Listeners)]);
            }
        }
    }
}

/// <summary>One listener: where it binds, what it advertises, and how clients on it are secured.</summary>
public sealed class ListenerOptions
{
    /// <summary>The listener's name (Kafka's listener name, e.g. "EXTERNAL"); unique. Default "PLAINTEXT".</summary>
    public string Name { get; set; } = "PLAINTEXT";

    /// <summary>host:port to bind; port 0 picks a free port. Default "127.0.0.1:9092".</summary>
    public string Address { get; set; } = "127.0.0.1:9092";

    /// <summary>PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Default PLAINTEXT.</summary>
    public string SecurityProtocol { get; set; } = "PLAINTEXT";

    /// <summary>Host given in Metadata to clients that came in on this listener. Default: the bound address (127.0.0.1 for a wildcard).</summary>
    public string? AdvertisedHost { get; set; }

    /// <summary>Port given in Metadata to clients that came in on this listener. Default: the bound port.</summary>
    public int? AdvertisedPort { get; set; }

    /// <summary>TLS: PEM file with the certificate chain (leaf first). Required for SSL and SASL_SSL.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>TLS: PEM file with the private key (PKCS#8, RSA or EC). Default: the certificate file.</summary>
    public string? KeyFile { get; set; }

    /// <summary>TLS: password of an encrypted PKCS#8 key. Default null (the key is not encrypted).</summary>
    public string? KeyPassword { get; set; }

    /// <summary>TLS: PEM bundle of the CAs trusted for client certificates. Default null: the system store.</summary>
    public string? CaFile { get; set; }

    /// <summary><c>ssl.client.auth</c>: none, requested or required. Default none.</summary>
    public string ClientAuth { get; set; } = "none";

    /// <summary>
    /// <c>ssl.principal.mapping.rules</c>: how a client certificate's subject (RFC 2253, e.g.
    /// <c>CN=alice,OU=eng</c>) becomes the principal's name: comma-separated <c>RULE:pattern/replacement/[L|U]</c>
    /// entries tried in order, and <c>DEFAULT</c> (the whole subject). Default "DEFAULT".
    /// </summary>
    public string PrincipalMappingRules { get; set; } = "DEFAULT";

    internal SecurityProtocol Protocol => ParseProtocol(SecurityProtocol) ?? Security.SecurityProtocol.Plaintext;

    /// <summary>Whether clients authenticate with SASL on this listener (SASL_PLAINTEXT, SASL_SSL).</summary>
    internal bool UsesSasl => Protocol is Security.SecurityProtocol.SaslPlaintext or Security.SecurityProtocol.SaslSsl;

    internal static SecurityProtocol? ParseProtocol(string text) => text.ToUpperInvariant() switch
    {
        "PLAINTEXT" => Security.SecurityProtocol.Plaintext,
        "SSL" => Security.SecurityProtocol.Ssl,
        "SASL_PLAINTEXT" => Security.SecurityProtocol.SaslPlaintext,
        "SASL_SSL" => Security.SecurityProtocol.SaslSsl,
        _ => null,
    };

    internal IEnumerable<string> Errors()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            yield return "Name is empty.";
        }

        if (string.IsNullOrWhiteSpace(Address))
        {
            yield return "Address is empty.";
        }

        SecurityProtocol? protocol = ParseProtocol(SecurityProtocol);
        if (protocol is null)
        {
            yield return $"SecurityProtocol '{SecurityProtocol}' is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.";
        }

        if (AdvertisedPort is < 0 or > 65535)
        {
            yield return "AdvertisedPort must be 0..65535.";
        }

        if (ClientAuth.ToUpperInvariant() is not ("NONE" or "REQUESTED" or "REQUIRED"))
        {
            yield return $"ClientAuth '{ClientAuth}' is not none, requested or required.";
        }

        if (protocol is Security.SecurityProtocol.Ssl or Security.SecurityProtocol.SaslSsl && string.IsNullOrEmpty(CertificateFile))
        {
            yield return "a TLS listener needs CertificateFile (and KeyFile).";
        }

        string? rulesError = PrincipalMapper.Validate(PrincipalMappingRules);
        if (rulesError is not null)
        {
            yield return $"PrincipalMappingRules: {rulesError}";
        }
    }
}

/// <summary>Kafka's security protocols.</summary>
public enum SecurityProtocol
{
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

/// <summary><c>ssl.client.auth</c>.</summary>
public enum ClientAuthMode
{
    None,
    Requested,
    Required,
}
