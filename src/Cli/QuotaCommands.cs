using System.CommandLine;
using System.Globalization;
using LogBroker.Client.Admin;

namespace LogBroker.Cli;

/// <summary>quotas describe | alter: client quotas over the Kafka API (DescribeClientQuotas / AlterClientQuotas).</summary>
internal static class QuotaCommands
{
    public static Command Build(CliContext context)
    {
        var quotas = new Command("quotas", "client quotas: producer_byte_rate, consumer_byte_rate, request_percentage per user and/or client id");

        var user = new Option<string?>("--user") { Description = "a user name" };
        var userDefault = new Option<bool>("--user-default") { Description = "the default user" };
        var client = new Option<string?>("--client-id") { Description = "a client id" };
        var clientDefault = new Option<bool>("--client-id-default") { Description = "the default client id" };
        var anyUser = new Option<bool>("--any-user") { Description = "describe: any user entity (named or default)" };
        var anyClient = new Option<bool>("--any-client-id") { Description = "describe: any client-id entity (named or default)" };
        var strict = new Option<bool>("--strict") { Description = "describe: only entities with no other parts than those filtered" };
        var describe = new Command("describe", "list the quotas of the entities matching the filters (none: all)") { user, userDefault, client, clientDefault, anyUser, anyClient, strict };
        describe.SetAction(async (r, ct) =>
        {
            var filters = new List<QuotaFilter>();
            AddFilter(filters, "user", r.GetValue(user), r.GetValue(userDefault), r.GetValue(anyUser));
            AddFilter(filters, "client-id", r.GetValue(client), r.GetValue(clientDefault), r.GetValue(anyClient));
            await using ClientQuotasAdmin admin = Admin(r, context);
            foreach (ClientQuotaEntry entry in await admin.DescribeAsync(filters, r.GetValue(strict), ct).ConfigureAwait(false))
            {
                string values = string.Join(",", entry.Quotas.OrderBy(q => q.Key, StringComparer.Ordinal).Select(q => q.Key + "=" + q.Value.ToString(CultureInfo.InvariantCulture)));
                await context.Output.WriteLineAsync($"{Describe(entry.Entity)}\t{values}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });

        var set = new Option<string[]>("--set") { Description = "key=value to set (repeatable)", AllowMultipleArgumentsPerToken = true };
        var remove = new Option<string[]>("--remove") { Description = "key to remove (repeatable)", AllowMultipleArgumentsPerToken = true };
        var validateOnly = new Option<bool>("--validate-only") { Description = "have the broker check the change without applying it" };
        var alter = new Command("alter", "set or remove quota keys of one entity") { user, userDefault, client, clientDefault, set, remove, validateOnly };
        alter.SetAction(async (r, ct) =>
        {
            var entity = new List<QuotaEntityPart>();
            AddPart(entity, "user", r.GetValue(user), r.GetValue(userDefault));
            AddPart(entity, "client-id", r.GetValue(client), r.GetValue(clientDefault));
            if (entity.Count == 0)
            {
                throw new CliException(ExitCodes.Usage, "name the entity: --user, --user-default, --client-id and/or --client-id-default");
            }

            var changes = new Dictionary<string, double?>(StringComparer.Ordinal);
            foreach (string pair in r.GetValue(set) ?? [])
            {
                int at = pair.IndexOf('=', StringComparison.Ordinal);
                if (at <= 0 || !double.TryParse(pair.AsSpan(at + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                {
                    throw new CliException(ExitCodes.Usage, $"--set {pair}: expected key=number");
                }

                changes[pair[..at]] = value;
            }

            foreach (string key in r.GetValue(remove) ?? [])
            {
                changes[key] = null;
            }

            if (changes.Count == 0)
            {
                throw new CliException(ExitCodes.Usage, "nothing to change: give --set key=value and/or --remove key");
            }

            await using ClientQuotasAdmin admin = Admin(r, context);
            await admin.AlterAsync(entity, changes, r.GetValue(validateOnly), ct).ConfigureAwait(false);
            await context.Output.WriteLineAsync($"{(r.GetValue(validateOnly) ? "validated" : "altered")} the quotas of {Describe(entity)}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        quotas.Subcommands.Add(describe);
        quotas.Subcommands.Add(alter);
        return quotas;
    }

    private static void AddFilter(List<QuotaFilter> filters, string type, string? name, bool isDefault, bool any)
    {
        if ((name is not null ? 1 : 0) + (isDefault ? 1 : 0) + (any ? 1 : 0) > 1)
        {
            throw new CliException(ExitCodes.Usage, $"give at most one of a {type} name, its default, or any");
        }

        if (name is not null)
        {
            filters.Add(new QuotaFilter(type, QuotaMatch.Exact, name));
        }
        else if (isDefault)
        {
            filters.Add(new QuotaFilter(type, QuotaMatch.Default));
        }
        else if (any)
        {
            filters.Add(new QuotaFilter(type, QuotaMatch.Any));
        }
    }

    private static void AddPart(List<QuotaEntityPart> entity, string type, string? name, bool isDefault)
    {
        if (name is not null && isDefault)
        {
            throw new CliException(ExitCodes.Usage, $"give a {type} name or its default, not both");
        }

        if (name is not null || isDefault)
        {
            entity.Add(new QuotaEntityPart(type, name));
        }
    }

    private static string Describe(IReadOnlyList<QuotaEntityPart> entity) =>
        string.Join(",", entity.Select(p => $"{p.Type}={p.Name ?? "<default>"}"));

    private static ClientQuotasAdmin Admin(ParseResult r, CliContext context) => new(context.Secure(r, new AdminOptions
    {
        BootstrapServers = context.BootstrapServers(r),
        ClientId = "logbroker-cli",
        RequestTimeout = context.RequestTimeout(r),
        ConnectTimeout = context.RequestTimeout(r),
    }));
}
