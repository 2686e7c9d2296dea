using System.CommandLine;
using LogBroker.Client;
using LogBroker.Client.Admin;

namespace LogBroker.Cli;

/// <summary>
/// The security options every command takes (named like Kafka's client settings) and a Kafka-style
/// <c>--command-config</c> properties file (<c>security.protocol=SASL_SSL</c>, <c>sasl.mechanism=…</c>,
/// <c>sasl.username</c>, <c>sasl.password</c>, <c>ssl.ca.location</c>, <c>ssl.certificate.location</c>,
/// <c>ssl.key.location</c>, <c>ssl.key.password</c>, <c>ssl.endpoint.identification.algorithm</c>); options override the file.
/// </summary>
internal sealed class CliSecurity
{
    private readonly Option<string?> _commandConfig = new("--command-config") { Description = "a Kafka-style client properties file (security.protocol, sasl.*, ssl.*)", Recursive = true };
    private readonly Option<string?> _protocol = new("--security-protocol") { Description = "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", Recursive = true };
    private readonly Option<string?> _mechanism = new("--sasl-mechanism") { Description = "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", Recursive = true };
    private readonly Option<string?> _username = new("--sasl-username") { Description = "SASL user", Recursive = true };
    private readonly Option<string?> _password = new("--sasl-password") { Description = "SASL password (better in --command-config or $LOGBROKER_SASL_PASSWORD)", Recursive = true };
    private readonly Option<string?> _ca = new("--ssl-ca-location") { Description = "PEM file of the CAs to trust (default: the system store)", Recursive = true };

    public void AddTo(Command root)
    {
        foreach (Option option in (Option[])[_commandConfig, _protocol, _mechanism, _username, _password, _ca])
        {
            root.Options.Add(option);
        }
    }

    /// <summary><paramref name="options"/> with the security settings of the command line (and its properties file).</summary>
    public T Apply<T>(ParseResult r, T options)
        where T : ClientOptions
    {
        Dictionary<string, string> p = r.GetValue(_commandConfig) is { } file ? ReadProperties(file) : new(StringComparer.Ordinal);
        string? Get(Option<string?> option, string key) => r.GetValue(option) ?? p.GetValueOrDefault(key);
        return options with
        {
            SecurityProtocol = Get(_protocol, "security.protocol") ?? options.SecurityProtocol,
            SaslMechanism = Get(_mechanism, "sasl.mechanism") ?? p.GetValueOrDefault("sasl.mechanisms") ?? options.SaslMechanism,
            SaslUsername = Get(_username, "sasl.username") ?? options.SaslUsername,
            SaslPassword = Get(_password, "sasl.password") ?? Environment.GetEnvironmentVariable("LOGBROKER_SASL_PASSWORD") ?? options.SaslPassword,
            SslCaLocation = Get(_ca, "ssl.ca.location") ?? options.SslCaLocation,
            SslCertificateLocation = p.GetValueOrDefault("ssl.certificate.location") ?? options.SslCertificateLocation,
            SslKeyLocation = p.GetValueOrDefault("ssl.key.location") ?? options.SslKeyLocation,
            SslKeyPassword = p.GetValueOrDefault("ssl.key.password") ?? options.SslKeyPassword,
            SslEndpointIdentificationAlgorithm = p.GetValueOrDefault("ssl.endpoint.identification.algorithm") ?? options.SslEndpointIdentificationAlgorithm,
        };
    }

    /// <summary>Java properties, simply: <c>key=value</c> or <c>key: value</c> lines, <c>#</c>/<c>!</c> comments.</summary>
    internal static Dictionary<string, string> ReadProperties(string path)
    {
        if (!File.Exists(path))
        {
            throw new CliException(ExitCodes.Usage, $"--command-config: {path} does not exist");
        }

        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in File.ReadLines(path))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or '!')
            {
                continue;
            }

            int at = line.IndexOfAny(['=', ':']);
            if (at > 0)
            {
                properties[line[..at].Trim()] = line[(at + 1)..].Trim();
            }
        }

        return properties;
    }
}

/// <summary>users list | create | delete: SCRAM credentials over the Kafka API (KIP-554).</summary>
internal static class UserCommands
{
    public static Command Build(CliContext context)
    {
        var users = new Command("users", "SCRAM users (DescribeUserScramCredentials / AlterUserScramCredentials)");

        var list = new Command("list", "list users and their SCRAM mechanisms");
        list.SetAction(async (r, ct) =>
        {
            await using ScramCredentialsAdmin admin = Admin(r, context);
            foreach (ScramCredentialInfo info in await admin.DescribeAsync(null, ct).ConfigureAwait(false))
            {
                await context.Output.WriteLineAsync($"{info.User}\t{info.Mechanism}\titerations={info.Iterations}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });

        var name = new Argument<string>("user") { Description = "user name" };
        var password = new Option<string?>("--password") { Description = "the password (default: read a line from stdin)" };
        var mechanism = new Option<string>("--mechanism") { Description = "SCRAM-SHA-256, SCRAM-SHA-512 or both (default both)", DefaultValueFactory = _ => "both" };
        var iterations = new Option<int>("--iterations") { Description = "PBKDF2 iterations, 4096..16384 (default 8192)", DefaultValueFactory = _ => 8192 };
        var create = new Command("create", "create a user or set its password") { name, password, mechanism, iterations };
        create.SetAction(async (r, ct) =>
        {
            string user = r.GetValue(name)!;
            string secret = r.GetValue(password) ?? await context.Input.ReadLineAsync(ct).ConfigureAwait(false) ?? "";
            if (secret.Length == 0)
            {
                throw new CliException(ExitCodes.Usage, "an empty password (give --password or a line on stdin)");
            }

            await using ScramCredentialsAdmin admin = Admin(r, context);
            foreach (string m in Mechanisms(r.GetValue(mechanism)!))
            {
                await admin.UpsertAsync(user, m, secret, r.GetValue(iterations), ct).ConfigureAwait(false);
            }

            await context.Output.WriteLineAsync($"set the password of user {user}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        var delete = new Command("delete", "delete a user's SCRAM credentials") { name, mechanism };
        delete.SetAction(async (r, ct) =>
        {
            string user = r.GetValue(name)!;
            await using ScramCredentialsAdmin admin = Admin(r, context);
            IReadOnlyList<ScramCredentialInfo> existing = await admin.DescribeAsync([user], ct).ConfigureAwait(false);
            string[] wanted = Mechanisms(r.GetValue(mechanism)!);
            int deleted = 0;
            foreach (ScramCredentialInfo info in existing)
            {
                if (wanted.Contains(info.Mechanism))
                {
                    await admin.DeleteAsync(user, info.Mechanism, ct).ConfigureAwait(false);
                    deleted++;
                }
            }

            if (deleted == 0)
            {
                throw new CliException(ExitCodes.NotFound, $"user {user} has no such SCRAM credential");
            }

            await context.Output.WriteLineAsync($"deleted {deleted} credential(s) of user {user}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        users.Subcommands.Add(list);
        users.Subcommands.Add(create);
        users.Subcommands.Add(delete);
        return users;
    }

    private static string[] Mechanisms(string value) => value.ToUpperInvariant() switch
    {
        "BOTH" => ["SCRAM-SHA-256", "SCRAM-SHA-512"],
        "SCRAM-SHA-256" or "SCRAM-SHA-512" => [value.ToUpperInvariant()],
        _ => throw new CliException(ExitCodes.Usage, $"--mechanism {value}: SCRAM-SHA-256, SCRAM-SHA-512 or both"),
    };

    private static ScramCredentialsAdmin Admin(ParseResult r, CliContext context) => new(context.Secure(r, new AdminOptions
    {
        BootstrapServers = context.BootstrapServers(r),
        ClientId = "logbroker-cli",
        RequestTimeout = context.RequestTimeout(r),
        ConnectTimeout = context.RequestTimeout(r),
    }));
}
