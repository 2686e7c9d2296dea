using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// AlterUserScramCredentials (key 51), version 0 (KIP-554): deletes and upserts SCRAM credentials. The
/// client sends the salt and salted password; the broker keeps only StoredKey and ServerKey. Per user:
/// an empty or invalid name or iterations outside 4096..16384 get UNACCEPTABLE_CREDENTIAL, an unknown
/// mechanism UNSUPPORTED_SASL_MECHANISM, a user named twice DUPLICATE_RESOURCE, deleting a missing
/// credential RESOURCE_NOT_FOUND. The accepted changes are written durably before the answer.
/// </summary>
internal sealed class AlterUserScramCredentialsHandler(
    ScramCredentialStore store, SaslAuthenticator authenticator, Authorizer? authorizer = null, Cluster.ClusterDocuments? cluster = null) : RequestHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0, 0)
{
    /// <summary>Deletions plus upsertions one request may carry; more is refused for every user.</summary>
    public const int MaxChangesPerRequest = 10_000;

    private const int MaxSaltBytes = 1024;

    public override async ValueTask<AlterUserScramCredentialsResponse?> HandleAsync(RequestContext context, AlterUserScramCredentialsRequest alter)
    {
        var response = new AlterUserScramCredentialsResponse();
        var errors = new Dictionary<string, (ErrorCode, string)>(StringComparer.Ordinal);
        var order = new List<string>();
        bool authorized = authorizer is { Enabled: true } ? authorizer.AuthorizeCluster(context, AclOperation.Alter) : authenticator.IsSuperUser(context.Session); // with ACLs: Kafka's Alter on the cluster
        bool tooMany = alter.Deletions.Count + alter.Upsertions.Count > MaxChangesPerRequest;

        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (AlterUserScramCredentialsRequest.ScramCredentialDeletion d in alter.Deletions)
        {
            seen[d.Name] = seen.GetValueOrDefault(d.Name) + 1;
        }

        foreach (AlterUserScramCredentialsRequest.ScramCredentialUpsertion u in alter.Upsertions)
        {
            seen[u.Name] = seen.GetValueOrDefault(u.Name) + 1;
        }

        void Error(string user, ErrorCode code, string message) => errors.TryAdd(user, (code, message));

        ErrorCode? Common(string name, sbyte type)
        {
            if (!authorized)
            {
                Error(name, ErrorCode.ClusterAuthorizationFailed, authorizer is { Enabled: true } ? "Alter on the cluster is required." : "Only super users may alter SCRAM credentials.");
            }
            else if (tooMany)
            {
                Error(name, ErrorCode.InvalidRequest, $"At most {MaxChangesPerRequest} changes per request.");
            }
            else if (name.Length == 0 || ScramNames.Prepare(name) is null)
            {
                Error(name, ErrorCode.UnacceptableCredential, "Username must not be empty and must be a valid SASL name");
            }
            else if (seen[name] > 1)
            {
                Error(name, ErrorCode.DuplicateResource, "A user credential cannot be altered twice in the same request");
            }
            else if (ScramMechanism.FromType(type) is null)
            {
                Error(name, ErrorCode.UnsupportedSaslMechanism, "Unknown SCRAM mechanism");
            }
            else
            {
                return null;
            }

            return errors[name].Item1;
        }

        var deletions = new List<(string, ScramMechanism)>();
        var deletionNames = new Dictionary<(string, ScramMechanism), string>();
        foreach (AlterUserScramCredentialsRequest.ScramCredentialDeletion d in alter.Deletions)
        {
            order.Add(d.Name);
            if (Common(d.Name, d.Mechanism) is null)
            {
                var key = (ScramNames.Prepare(d.Name)!, ScramMechanism.FromType(d.Mechanism)!);
                deletions.Add(key);
                deletionNames[key] = d.Name;
            }
        }

        var upserts = new List<(string, ScramMechanism, ScramCredential)>();
        foreach (AlterUserScramCredentialsRequest.ScramCredentialUpsertion u in alter.Upsertions)
        {
            order.Add(u.Name);
            if (Common(u.Name, u.Mechanism) is not null)
            {
                continue;
            }

            ScramMechanism mechanism = ScramMechanism.FromType(u.Mechanism)!;
            if (u.Iterations is < ScramMechanism.MinIterations or > ScramMechanism.MaxIterations)
            {
                Error(u.Name, ErrorCode.UnacceptableCredential, $"Iterations must be between {ScramMechanism.MinIterations} and {ScramMechanism.MaxIterations}");
            }
            else if (u.Salt.Length is 0 or > MaxSaltBytes || u.SaltedPassword.Length != mechanism.HashSize)
            {
                Error(u.Name, ErrorCode.UnacceptableCredential, $"The salt must be 1..{MaxSaltBytes} bytes and the salted password {mechanism.HashSize} bytes");
            }
            else
            {
                upserts.Add((ScramNames.Prepare(u.Name)!, mechanism, mechanism.Credential(u.Salt.Span, u.SaltedPassword.Span, u.Iterations)));
            }
        }

        if (deletions.Count > 0 || upserts.Count > 0)
        {
            var missing = new List<(string User, ScramMechanism Mechanism)>();
            try
            {
                await Cluster.ClusterDocuments.RunAsync(cluster, store, () =>
                {
                    missing.Clear(); // computed again when another broker changed the cluster's credentials first
                    store.Apply(deletions, upserts, missing);
                    return true;
                }, context.Closing).ConfigureAwait(false);
                foreach ((string user, ScramMechanism mechanism) in missing)
                {
                    Error(deletionNames[(user, mechanism)], ErrorCode.ResourceNotFound, "Attempt to delete a user credential that does not exist");
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                foreach ((string user, _) in deletions)
                {
                    Error(user, ErrorCode.UnknownServerError, "The credentials could not be stored: " + e.Message);
                }

                foreach ((string user, _, _) in upserts)
                {
                    Error(user, ErrorCode.UnknownServerError, "The credentials could not be stored: " + e.Message);
                }
            }
        }

        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in order)
        {
            if (answered.Add(name))
            {
                (ErrorCode code, string? message) = errors.TryGetValue(name, out (ErrorCode, string) e) ? e : (ErrorCode.None, null);
                response.Results.Add(new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult { User = name, ErrorCode = (short)code, ErrorMessage = message });
            }
        }

        return response;
    }
}
