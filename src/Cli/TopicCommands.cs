using System.CommandLine;
using System.Globalization;
using LogBroker.Client;
using LogBroker.Client.Admin;
using LogBroker.Protocol;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>topics list | create | describe | alter | delete.</summary>
internal static class TopicCommands
{
    public static AdminClient Admin(ParseResult r, CliContext context) => new(context.Secure(r, new AdminOptions
    {
        BootstrapServers = context.BootstrapServers(r),
        ClientId = "logbroker-cli",
        RequestTimeout = context.RequestTimeout(r),
        ConnectTimeout = context.RequestTimeout(r),
    }));

    public static Command Build(CliContext context)
    {
        var topics = new Command("topics", "List, create, describe, alter and delete topics.");

        var list = new Command("list", "List topics with their partition counts.");
        var includeInternal = new Option<bool>("--internal") { Description = "include internal topics" };
        list.Options.Add(includeInternal);
        list.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = Admin(r, context);
            IReadOnlyList<TopicDescription> all = await admin.DescribeTopicsAsync(null, ct).ConfigureAwait(false);
            var table = new Table().AddColumns("topic", "partitions");
            foreach (TopicDescription t in all.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                if (!t.IsInternal || r.GetValue(includeInternal))
                {
                    table.AddRow(Markup.Escape(t.Name), t.Partitions.Count.ToString(CultureInfo.InvariantCulture));
                }
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        });

        var create = new Command("create", "Create a topic.");
        var createName = new Argument<string>("name");
        var partitions = new Option<int>("--partitions", "-p") { Description = "partition count (default: the broker's)", DefaultValueFactory = _ => -1 };
        var replication = new Option<short>("--replication-factor") { Description = "replication factor (default: the broker's)", DefaultValueFactory = _ => -1 };
        var configs = new Option<string[]>("--config", "-c") { Description = "a topic config, key=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        create.Arguments.Add(createName);
        create.Options.Add(partitions);
        create.Options.Add(replication);
        create.Options.Add(configs);
        create.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = Admin(r, context);
            string name = r.GetValue(createName)!;
            await admin.CreateTopicsAsync([new NewTopic(name, r.GetValue(partitions), r.GetValue(replication), CliApp.ParsePairs(r.GetValue(configs), "--config"))], ct).ConfigureAwait(false);
            await context.Output.WriteLineAsync($"created topic {name}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        var describe = new Command("describe", "Show a topic's partitions (leader, offsets, records) and configs.");
        var describeName = new Argument<string>("name");
        describe.Arguments.Add(describeName);
        describe.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = Admin(r, context);
            string name = r.GetValue(describeName)!;
            TopicDescription t = (await admin.DescribeTopicsAsync([name], ct).ConfigureAwait(false))[0];
            var tps = t.Partitions.Select(p => new TopicPartition(name, p.Partition)).ToList();
            Dictionary<int, long> earliest = (await admin.ListOffsetsAsync(tps, OffsetSpec.Earliest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition.Partition, o => o.Offset);
            Dictionary<int, long> latest = (await admin.ListOffsetsAsync(tps, OffsetSpec.Latest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition.Partition, o => o.Offset);
            Dictionary<int, long> bytes = (await admin.DescribeLogDirsAsync([name], ct).ConfigureAwait(false)).ToDictionary(o => o.Partition.Partition, o => o.Bytes);
            context.Console.WriteLine($"topic {name}  id {t.TopicId}  partitions {t.Partitions.Count}  bytes {bytes.Values.Sum()}");
            var table = new Table().AddColumns("partition", "leader", "replicas", "earliest", "latest", "records", "bytes");
            foreach (PartitionDescription p in t.Partitions)
            {
                long e = earliest.GetValueOrDefault(p.Partition, -1);
                long l = latest.GetValueOrDefault(p.Partition, -1);
                table.AddRow(p.Partition.ToString(CultureInfo.InvariantCulture), p.Leader.ToString(CultureInfo.InvariantCulture),
                    string.Join(",", p.Replicas), e.ToString(CultureInfo.InvariantCulture), l.ToString(CultureInfo.InvariantCulture),
                    (l - e).ToString(CultureInfo.InvariantCulture), bytes.TryGetValue(p.Partition, out long b) ? b.ToString(CultureInfo.InvariantCulture) : "-");
            }

            context.Console.Write(table);
            var configTable = new Table().AddColumns("config", "value", "source");
            foreach (ConfigEntry c in (await admin.DescribeTopicConfigsAsync(name, ct).ConfigureAwait(false)).OrderBy(c => c.Name, StringComparer.Ordinal))
            {
                configTable.AddRow(Markup.Escape(c.Name), Markup.Escape(c.IsSensitive ? "(sensitive)" : c.Value ?? "(null)"), c.IsDefault ? "default" : "topic");
            }

            context.Console.Write(configTable);
            return ExitCodes.Ok;
        });

        var alter = new Command("alter", "Change a topic's configs or raise its partition count.");
        var alterName = new Argument<string>("name");
        var set = new Option<string[]>("--config", "-c") { Description = "set a config, key=value (repeatable)" };
        var remove = new Option<string[]>("--delete-config") { Description = "remove a config override (repeatable)" };
        var grow = new Option<int?>("--partitions", "-p") { Description = "the new, higher partition count" };
        alter.Arguments.Add(alterName);
        alter.Options.Add(set);
        alter.Options.Add(remove);
        alter.Options.Add(grow);
        alter.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = Admin(r, context);
            string name = r.GetValue(alterName)!;
            var changes = new List<ConfigChange>();
            foreach (KeyValuePair<string, string> kv in CliApp.ParsePairs(r.GetValue(set), "--config"))
            {
                changes.Add(new ConfigChange(kv.Key, kv.Value));
            }

            foreach (string key in r.GetValue(remove) ?? [])
            {
                changes.Add(new ConfigChange(key, null, ConfigOperation.Delete));
            }

            if (changes.Count == 0 && r.GetValue(grow) is null)
            {
                throw new CliException(ExitCodes.Usage, "nothing to alter: give --config, --delete-config or --partitions.");
            }

            if (changes.Count > 0)
            {
                _ = await admin.DescribeTopicsAsync([name], ct).ConfigureAwait(false); // UNKNOWN_TOPIC_OR_PARTITION first
                await admin.AlterTopicConfigsAsync(name, changes, ct).ConfigureAwait(false);
            }

            if (r.GetValue(grow) is { } count)
            {
                await admin.CreatePartitionsAsync(name, count, ct).ConfigureAwait(false);
            }

            await context.Output.WriteLineAsync($"altered topic {name}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        var delete = new Command("delete", "Delete a topic and all its records.");
        var deleteName = new Argument<string>("name");
        delete.Arguments.Add(deleteName);
        delete.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = Admin(r, context);
            string name = r.GetValue(deleteName)!;
            await admin.DeleteTopicsAsync([name], ct).ConfigureAwait(false);
            await context.Output.WriteLineAsync($"deleted topic {name}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });

        topics.Subcommands.Add(list);
        topics.Subcommands.Add(create);
        topics.Subcommands.Add(describe);
        topics.Subcommands.Add(alter);
        topics.Subcommands.Add(delete);
        return topics;
    }

    /// <summary>The partitions of a topic (all, or the ones asked for, checked to exist).</summary>
    public static async Task<List<TopicPartition>> PartitionsAsync(AdminClient admin, string topic, List<int>? only, CancellationToken ct)
    {
        TopicDescription t = (await admin.DescribeTopicsAsync([topic], ct).ConfigureAwait(false))[0];
        var all = t.Partitions.Select(p => p.Partition).ToHashSet();
        if (only is null)
        {
            return [.. all.Order().Select(p => new TopicPartition(topic, p))];
        }

        foreach (int p in only)
        {
            if (!all.Contains(p))
            {
                throw new KafkaException(ErrorCode.UnknownTopicOrPartition, $"Topic '{topic}' has no partition {p}.");
            }
        }

        return [.. only.Distinct().Order().Select(p => new TopicPartition(topic, p))];
    }
}
