using System.Net;
using System.Text;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Admin;

/// <summary>
/// Who may use the admin listener. Authentication is required when <see cref="AdminOptions.RequireAuthentication"/>
/// is set or any Kafka listener uses SASL: then every path but <c>/health/live</c> and <c>/health/ready</c>
/// (left open for probes, which carry no credentials) needs HTTP Basic with a user of the broker's SCRAM
/// store, answered 401 with a <c>WWW-Authenticate</c> challenge otherwise. The password is checked as
/// SASL/PLAIN checks it: the salted password derived with the stored salt and iterations, its StoredKey
/// compared in constant time (SCRAM-SHA-512 first, then SHA-256); an unknown user costs the same
/// derivation, so names cannot be probed by timing. The principal is <c>User:name</c>, as on the Kafka
/// listeners, and the console's write actions are checked with the broker's ACLs for it.
/// </summary>
/// <remarks>
/// TLS: the certificate of the first SSL or SASL_SSL Kafka listener (<see cref="TlsListener"/>), without
/// client certificates. Basic over plaintext is allowed on a loopback address only; the broker refuses
/// to start otherwise (<see cref="Validate"/>). Every request with credentials costs one PBKDF2
/// derivation (8,192 iterations by default, a few milliseconds), bounded by the listener's 100
/// connections.
/// </remarks>
internal sealed class AdminAuthentication
{
    /// <summary>The <see cref="HttpContext.Items"/> key of the authenticated principal.</summary>
    public const string PrincipalItem = "logbroker.principal";

    private const string Challenge = "Basic realm=\"LogBroker admin\", charset=\"UTF-8\"";
    private const int MaxHeaderChars = 4096;
    private static readonly ScramCredential Dummy = ScramMechanism.Sha512.Create(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)), 8192);

    private readonly ScramCredentialStore _users;
    private readonly Authorizer _authorizer;

    public AdminAuthentication(IOptions<AdminOptions> admin, IOptions<SecurityOptions> security, ScramCredentialStore users, Authorizer authorizer)
    {
        _users = users;
        _authorizer = authorizer;
        Required = IsRequired(admin.Value, security.Value);
        TlsListener = FindTlsListener(security.Value);
    }

    /// <summary>Whether requests need credentials.</summary>
    public bool Required { get; }

    /// <summary>The Kafka listener whose certificate the admin listener serves, or null for plain HTTP.</summary>
    public ListenerOptions? TlsListener { get; }

    public static bool IsRequired(AdminOptions admin, SecurityOptions security) =>
        admin.RequireAuthentication || security.Listeners.Exists(l => l.Protocol is SecurityProtocol.SaslPlaintext or SecurityProtocol.SaslSsl);

    public static ListenerOptions? FindTlsListener(SecurityOptions security) =>
        security.Listeners.Find(l => l.Protocol is SecurityProtocol.Ssl or SecurityProtocol.SaslSsl && !string.IsNullOrEmpty(l.CertificateFile));

    /// <summary>The start-up rule for <see cref="AdminOptions.Listener"/>: null when allowed, else why not.</summary>
    public static string? Validate(AdminOptions admin, SecurityOptions security)
    {
        if (!IPEndPoint.TryParse(admin.Listener, out IPEndPoint? endpoint) || IPAddress.IsLoopback(endpoint.Address))
        {
            return null; // a bad address is reported by AdminOptions itself; loopback is always allowed
        }

        if (!IsRequired(admin, security))
        {
            return "Admin:Listener must be a loopback address unless the admin listener requires authentication "
                + "(Admin:RequireAuthentication, or a SASL Kafka listener) and has a certificate (an SSL or SASL_SSL listener).";
        }

        return FindTlsListener(security) is null
            ? "Admin:Listener is not a loopback address and no SSL or SASL_SSL listener has a certificate: HTTP Basic credentials would cross the network in the clear."
            : null;
    }

    /// <summary>Paths served without credentials.</summary>
    public static bool IsOpen(PathString path) => path == "/health/live" || path == "/health/ready";

    /// <summary>Authenticates the request; false after writing the 401 answer.</summary>
    public bool TryAuthenticate(HttpContext context)
    {
        if (Verify(context.Request.Headers.Authorization.ToString()) is { } principal)
        {
            context.Items[PrincipalItem] = principal;
            return true;
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = Challenge;
        return false;
    }

    /// <summary>The principal of a valid <c>Basic</c> header, or null.</summary>
    public string? Verify(string header)
    {
        if (header.Length is 0 or > MaxHeaderChars || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, true).GetString(Convert.FromBase64String(header[6..].Trim()));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return null;
        }

        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        string? user = colon > 0 ? ScramNames.Prepare(decoded[..colon]) : null;
        string password = colon > 0 ? decoded[(colon + 1)..] : "";
        if (user is null || password.Length == 0)
        {
            return null;
        }

        ScramMechanism mechanism = ScramMechanism.Sha512;
        if (!_users.TryGet(user, mechanism, out ScramCredential? credential))
        {
            mechanism = ScramMechanism.Sha256;
            if (!_users.TryGet(user, mechanism, out credential))
            {
                _ = ScramMechanism.Sha512.Verify(password, Dummy); // the same cost as a wrong password
                return null;
            }
        }

        return mechanism.Verify(password, credential!) ? "User:" + user : null;
    }

    /// <summary>
    /// Null when the request's principal may do <paramref name="operation"/> on the resource (always when
    /// ACLs are off), else the message of the 403 answer. Kafka's rules, through <see cref="Authorizer.Decide"/>.
    /// </summary>
    public string? Denied(HttpContext context, AclOperation operation, AclResourceType type, string name)
    {
        if (!_authorizer.Enabled)
        {
            return null;
        }

        string principal = context.Items[PrincipalItem] as string ?? ConnectionSession.Anonymous;
        string host = context.Connection.RemoteIpAddress?.ToString() ?? "";
        return _authorizer.Decide(principal, host, operation, type, name) ? null : $"{principal} may not {operation} {type} {name}";
    }
}

/// <summary>Stops the broker at start when <see cref="AdminOptions.Listener"/> breaks <see cref="AdminAuthentication.Validate"/>.</summary>
internal sealed class AdminListenerValidation(IOptions<SecurityOptions> security) : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options) =>
        !options.Enabled || AdminAuthentication.Validate(options, security.Value) is not { } error ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(error);
}
