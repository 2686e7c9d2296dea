using System.CommandLine;
using LogBroker.Client.Admin;
using LogBroker.Protocol.Security;

namespace LogBroker.Cli;

/// <summary>
/// acls list | add | remove: ACLs over the Kafka API (DescribeAcls, CreateAcls, DeleteAcls), with
/// kafka-acls.sh's flags where they fit: <c>--topic</c>, <c>--group</c>, <c>--cluster</c>,
/// <c>--transactional-id</c>, <c>--resource-pattern-type</c>, <c>--allow-principal</c>/<c>--deny-principal</c>,
/// <c>--allow-host</c>/<c>--deny-host</c>, <c>--operation</c>, and the <c>--producer</c>/<c>--consumer</c> shortcuts.
/// One ACL per line: type, pattern, name, principal, host, operation, permission (tab-separated).
/// </summary>
internal static class AclCommands
{
    private const string ClusterName = "kafka-cluster";

    private sealed class Flags
    {
        public Option<string[]> Topic { get; } = new("--topic") { Description = "a topic (repeatable; * for all)" };

        public Option<string[]> Group { get; } = new("--group") { Description = "a consumer group (repeatable; * for all)" };

        public Option<bool> Cluster { get; } = new("--cluster") { Description = "the cluster" };

        public Option<string[]> TransactionalId { get; } = new("--transactional-id") { Description = "a transactional id (repeatable)" };

        public Option<string?> Pattern { get; } = new("--resource-pattern-type") { Description = "literal or prefixed; for list and remove also any or match (default literal, any when no resource is named)" };

        public Option<string[]> AllowPrincipal { get; } = new("--allow-principal") { Description = "User:name or User:* (repeatable)" };

        public Option<string[]> DenyPrincipal { get; } = new("--deny-principal") { Description = "User:name or User:* (repeatable)" };

        public Option<string[]> AllowHost { get; } = new("--allow-host") { Description = "host of the allowing ACLs (default *)" };

        public Option<string[]> DenyHost { get; } = new("--deny-host") { Description = "host of the denying ACLs (default *)" };

        public Option<string[]> Operation { get; } = new("--operation") { Description = "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable; default All)" };

        public Option<bool> Producer { get; } = new("--producer") { Description = "add/remove: Write, Describe and Create on the topics" };

        public Option<bool> Consumer { get; } = new("--consumer") { Description = "add/remove: Read and Describe on the topics, Read on the groups" };

        public Option<string?> Principal { get; } = new("--principal") { Description = "list: only the ACLs of this principal" };

        public void AddTo(Command command, bool entries)
        {
            foreach (Option option in (Option[])[Topic, Group, Cluster, TransactionalId, Pattern])
            {
                command.Options.Add(option);
            }

            if (!entries)
            {
                command.Options.Add(Principal);
                return;
            }

            foreach (Option option in (Option[])[AllowPrincipal, DenyPrincipal, AllowHost, DenyHost, Operation, Producer, Consumer])
            {
                command.Options.Add(option);
            }
        }

        public List<(AclResourceType Type, string Name)> Resources(ParseResult r)
        {
            var resources = new List<(AclResourceType, string)>();
            resources.AddRange((r.GetValue(Topic) ?? []).Select(n => (AclResourceType.Topic, n)));
            resources.AddRange((r.GetValue(Group) ?? []).Select(n => (AclResourceType.Group, n)));
            resources.AddRange((r.GetValue(TransactionalId) ?? []).Select(n => (AclResourceType.TransactionalId, n)));
            if (r.GetValue(Cluster))
            {
                resources.Add((AclResourceType.Cluster, ClusterName));
            }

            return resources;
        }

        public AclPatternType PatternType(ParseResult r, bool forFilter, bool anyResource)
        {
            string? value = r.GetValue(Pattern);
            if (value is null)
            {
                return forFilter && !anyResource ? AclPatternType.Any : AclPatternType.Literal;
            }

            AclPatternType pattern = Parse<AclPatternType>(value, "--resource-pattern-type");
            if (!forFilter && pattern is not (AclPatternType.Literal or AclPatternType.Prefixed))
            {
                throw new CliException(ExitCodes.Usage, $"--resource-pattern-type {value}: an ACL is literal or prefixed");
            }

            return pattern;
        }

        /// <summary>The (resource, operation) pairs asked for: --operation on every resource, plus the shortcuts' own.</summary>
        public List<(AclResourceType Type, string Name, AclOperation Operation)> Operations(ParseResult r, List<(AclResourceType Type, string Name)> resources)
        {
            var pairs = new List<(AclResourceType, string, AclOperation)>();
            bool producer = r.GetValue(Producer);
            bool consumer = r.GetValue(Consumer);
            string[] named = r.GetValue(Operation) ?? [];
            if (producer || consumer)
            {
                foreach ((AclResourceType type, string name) in resources)
                {
                    AclOperation[] ops = (type, producer, consumer) switch
                    {
                        (AclResourceType.Topic, true, true) => [AclOperation.Write, AclOperation.Describe, AclOperation.Create, AclOperation.Read],
                        (AclResourceType.Topic, true, false) => [AclOperation.Write, AclOperation.Describe, AclOperation.Create],
                        (AclResourceType.Topic, false, true) => [AclOperation.Read, AclOperation.Describe],
                        (AclResourceType.Group, _, true) => [AclOperation.Read],
                        _ => [],
                    };
                    pairs.AddRange(ops.Select(op => (type, name, op)));
                }
            }

            if (named.Length > 0 || (!producer && !consumer))
            {
                AclOperation[] ops = named.Length == 0 ? [AclOperation.All] : [.. named.Select(o => Parse<AclOperation>(o, "--operation"))];
                foreach ((AclResourceType type, string name) in resources)
                {
                    pairs.AddRange(ops.Select(op => (type, name, op)));
                }
            }

            return pairs;
        }

        /// <summary>(principal, host, permission) of every entry the command names.</summary>
        public List<(string Principal, string Host, AclPermissionType Permission)> Entries(ParseResult r)
        {
            var entries = new List<(string, string, AclPermissionType)>();
            void Add(string[] principals, string[] hosts, AclPermissionType permission)
            {
                foreach (string principal in principals)
                {
                    if (!principal.Contains(':', StringComparison.Ordinal))
                    {
                        throw new CliException(ExitCodes.Usage, $"principal {principal}: write it as User:name");
                    }

                    foreach (string host in hosts.Length == 0 ? ["*"] : hosts)
                    {
                        entries.Add((principal, host, permission));
                    }
                }
            }

            Add(r.GetValue(AllowPrincipal) ?? [], r.GetValue(AllowHost) ?? [], AclPermissionType.Allow);
            Add(r.GetValue(DenyPrincipal) ?? [], r.GetValue(DenyHost) ?? [], AclPermissionType.Deny);
            return entries;
        }
    }

    public static Command Build(CliContext context)
    {
        var acls = new Command("acls", "access control lists (DescribeAcls / CreateAcls / DeleteAcls)");

        var listFlags = new Flags();
        var list = new Command("list", "list ACLs, all or of the named resources (and --principal)");
        listFlags.AddTo(list, entries: false);
        list.SetAction(async (r, ct) =>
        {
            List<(AclResourceType Type, string Name)> resources = listFlags.Resources(r);
            AclPatternType pattern = listFlags.PatternType(r, forFilter: true, anyResource: resources.Count > 0);
            string? principal = r.GetValue(listFlags.Principal);
            AclBindingFilter[] filters = resources.Count == 0
                ? [new AclBindingFilter(Principal: principal)]
                : [.. resources.Select(x => new AclBindingFilter(x.Type, x.Name, pattern, principal))];
            await using AclAdmin admin = Admin(r, context);
            foreach (AclBindingFilter filter in filters)
            {
                foreach (AclBinding acl in await admin.DescribeAclsAsync(filter, ct).ConfigureAwait(false))
                {
                    await context.Output.WriteLineAsync(Line(acl)).ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });

        var addFlags = new Flags();
        var add = new Command("add", "add ACLs: every principal × host × operation on every named resource");
        addFlags.AddTo(add, entries: true);
        add.SetAction(async (r, ct) =>
        {
            List<(AclResourceType Type, string Name)> resources = addFlags.Resources(r);
            List<(string Principal, string Host, AclPermissionType Permission)> entries = addFlags.Entries(r);
            if (resources.Count == 0 || entries.Count == 0)
            {
                throw new CliException(ExitCodes.Usage, "add needs a resource (--topic, --group, --cluster, --transactional-id) and --allow-principal or --deny-principal");
            }

            AclPatternType pattern = addFlags.PatternType(r, forFilter: false, anyResource: true);
            var bindings = new List<AclBinding>();
            foreach ((AclResourceType type, string name, AclOperation operation) in addFlags.Operations(r, resources))
            {
                bindings.AddRange(entries.Select(e => new AclBinding(type, name, pattern, e.Principal, e.Host, operation, e.Permission)));
            }

            await using AclAdmin admin = Admin(r, context);
            await admin.CreateAclsAsync(bindings, ct).ConfigureAwait(false);
            foreach (AclBinding acl in bindings)
            {
                await context.Output.WriteLineAsync("added\t" + Line(acl)).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });

        var removeFlags = new Flags();
        var remove = new Command("remove", "remove the ACLs of the named resources (only those of the given principals and operations, if any)");
        removeFlags.AddTo(remove, entries: true);
        remove.SetAction(async (r, ct) =>
        {
            List<(AclResourceType Type, string Name)> resources = removeFlags.Resources(r);
            if (resources.Count == 0)
            {
                throw new CliException(ExitCodes.Usage, "remove needs a resource (--topic, --group, --cluster, --transactional-id)");
            }

            AclPatternType pattern = removeFlags.PatternType(r, forFilter: true, anyResource: true);
            List<(string Principal, string Host, AclPermissionType Permission)> entries = removeFlags.Entries(r);
            bool anyOperation = (r.GetValue(removeFlags.Operation) ?? []).Length == 0 && !r.GetValue(removeFlags.Producer) && !r.GetValue(removeFlags.Consumer);
            var filters = new List<AclBindingFilter>();
            IEnumerable<(AclResourceType Type, string Name, AclOperation Operation)> targets = anyOperation
                ? resources.Select(x => (x.Type, x.Name, AclOperation.Any))
                : removeFlags.Operations(r, resources);
            foreach ((AclResourceType type, string name, AclOperation operation) in targets)
            {
                if (entries.Count == 0)
                {
                    filters.Add(new AclBindingFilter(type, name, pattern, Operation: operation));
                }
                else
                {
                    filters.AddRange(entries.Select(e => new AclBindingFilter(type, name, pattern, e.Principal, e.Host, operation, e.Permission)));
                }
            }

            await using AclAdmin admin = Admin(r, context);
            IReadOnlyList<AclBinding> removed = await admin.DeleteAclsAsync(filters, ct).ConfigureAwait(false);
            foreach (AclBinding acl in removed)
            {
                await context.Output.WriteLineAsync("removed\t" + Line(acl)).ConfigureAwait(false);
            }

            if (removed.Count == 0)
            {
                throw new CliException(ExitCodes.NotFound, "no ACL matched");
            }

            return ExitCodes.Ok;
        });

        acls.Subcommands.Add(list);
        acls.Subcommands.Add(add);
        acls.Subcommands.Add(remove);
        return acls;
    }

    private static string Line(AclBinding acl) =>
        $"{acl.ResourceType}\t{acl.PatternType}\t{acl.ResourceName}\t{acl.Principal}\t{acl.Host}\t{acl.Operation}\t{acl.Permission}";

    /// <summary>An enum value by name, case-insensitively and with Kafka's spellings (IDEMPOTENT_WRITE, idempotent-write).</summary>
    private static T Parse<T>(string value, string flag)
        where T : struct, Enum =>
        Enum.TryParse(value.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out T parsed)
            && Enum.IsDefined(parsed) && !int.TryParse(value, out _)
            ? parsed
            : throw new CliException(ExitCodes.Usage, $"{flag} {value}: not one of {string.Join(", ", Enum.GetNames<T>())}");

    private static AclAdmin Admin(ParseResult r, CliContext context) => new(context.Secure(r, new AdminOptions
    {
        BootstrapServers = context.BootstrapServers(r),
        ClientId = "logbroker-cli",
        RequestTimeout = context.RequestTimeout(r),
        ConnectTimeout = context.RequestTimeout(r),
    }));
}
