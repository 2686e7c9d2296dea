using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeUserScramCredentials (key 50), version 0 (KIP-554): the mechanisms and iterations of each
/// user's credentials, never their salts or keys. Null or empty users: every user. A user asked twice
/// gets DUPLICATE_RESOURCE, an unknown one RESOURCE_NOT_FOUND; with <see cref="SecurityOptions.SuperUsers"/>
/// set, other principals get CLUSTER_AUTHORIZATION_FAILED.
/// </summary>
internal sealed class DescribeUserScramCredentialsHandler(ScramCredentialStore store, SaslAuthenticator authenticator, Authorizer? authorizer = null) : RequestHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, 0, 0)
{
    /// <summary>Users one request may name; more is answered with INVALID_REQUEST.</summary>
    public const int MaxUsersPerRequest = 10_000;

    public override ValueTask<DescribeUserScramCredentialsResponse?> HandleAsync(RequestContext context, DescribeUserScramCredentialsRequest describe)
    {
        var response = new DescribeUserScramCredentialsResponse { ErrorMessage = null };
        // With ACLs on, Kafka's rule (Describe on the cluster); without, only super users.
        if (authorizer is { Enabled: true } ? !authorizer.AuthorizeCluster(context, AclOperation.Describe) : !authenticator.IsSuperUser(context.Session))
        {
            response.ErrorCode = (short)ErrorCode.ClusterAuthorizationFailed;
            response.ErrorMessage = authorizer is { Enabled: true } ? "Describe on the cluster is required." : "Only super users may describe SCRAM credentials.";
            return ValueTask.FromResult<DescribeUserScramCredentialsResponse?>(response);
        }

        if (describe.Users is { Count: > MaxUsersPerRequest })
        {
            response.ErrorCode = (short)ErrorCode.InvalidRequest;
            response.ErrorMessage = $"At most {MaxUsersPerRequest} users per request.";
            return ValueTask.FromResult<DescribeUserScramCredentialsResponse?>(response);
        }

        List<string> names;
        if (describe.Users is null || describe.Users.Count == 0)
        {
            names = store.UserNames();
        }
        else
        {
            names = new List<string>(describe.Users.Count);
            foreach (DescribeUserScramCredentialsRequest.UserName user in describe.Users)
            {
                names.Add(user.Name);
            }
        }

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }

        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names)
        {
            if (!answered.Add(name))
            {
                continue;
            }

            var result = new DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult { User = name, ErrorMessage = null };
            List<(ScramMechanism Mechanism, int Iterations)>? credentials = ScramNames.Prepare(name) is { } prepared ? store.Describe(prepared) : null;
            if (counts[name] > 1)
            {
                result.ErrorCode = (short)ErrorCode.DuplicateResource;
                result.ErrorMessage = "Cannot describe SCRAM credentials for the same user twice in a single request";
            }
            else if (credentials is null)
            {
                result.ErrorCode = (short)ErrorCode.ResourceNotFound;
                result.ErrorMessage = "Attempt to describe a user credential that does not exist";
            }
            else
            {
                foreach ((ScramMechanism mechanism, int iterations) in credentials)
                {
                    result.CredentialInfos.Add(new DescribeUserScramCredentialsResponse.CredentialInfo { Mechanism = mechanism.Type, Iterations = iterations });
                }
            }

            response.Results.Add(result);
        }

        return ValueTask.FromResult<DescribeUserScramCredentialsResponse?>(response);
    }
}
