using System.CommandLine;
using System.Globalization;
using LogBroker.Client;
using LogBroker.Client.Admin;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>groups list | describe | reset-offsets.</summary>
internal static class GroupCommands
{
    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    public static Command Build(CliContext context)
    {
        var groups = new Command("groups", "List and describe consumer groups; reset their offsets to reprocess.");

        var list = new Command("list", "List groups with their type and state.");
        list.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = TopicCommands.Admin(r, context);
            var table = new Table().AddColumns("group", "type", "state");
            foreach (GroupListing g in await admin.ListGroupsAsync(ct).ConfigureAwait(false))
            {
                table.AddRow(Markup.Escape(g.GroupId), Markup.Escape(g.Type is { Length: > 0 } t ? t : g.ProtocolType), Markup.Escape(g.State));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        });

        var describe = new Command("describe", "Show a group's state, members and assignment, and per partition the committed offset, end offset and lag.");
        var describeName = new Argument<string>("group");
        describe.Arguments.Add(describeName);
        describe.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = TopicCommands.Admin(r, context);
            string id = r.GetValue(describeName)!;
            GroupDescription g = await DescribeAsync(admin, id, ct).ConfigureAwait(false);
            IReadOnlyList<TopicPartitionOffset> committed = await admin.ListGroupOffsetsAsync(id, cancellationToken: ct).ConfigureAwait(false);
            if (g.State == "Dead" && committed.Count == 0)
            {
                throw new CliException(ExitCodes.NotFound, $"group '{id}' does not exist.");
            }

            context.Console.WriteLine($"group {id}  state {g.State}  protocol {(g.Protocol.Length > 0 ? g.Protocol : "-")}  members {g.Members.Count}");
            var owner = new Dictionary<TopicPartition, string>();
            var members = new Table().AddColumns("member", "client", "host", "partitions");
            foreach (GroupMemberDescription m in g.Members)
            {
                members.AddRow(Markup.Escape(m.MemberId), Markup.Escape(m.ClientId), Markup.Escape(m.ClientHost), Markup.Escape(string.Join(",", m.Assignment)));
                foreach (TopicPartition tp in m.Assignment)
                {
                    owner[tp] = m.MemberId;
                }
            }

            if (g.Members.Count > 0)
            {
                context.Console.Write(members);
            }

            var partitions = committed.Select(c => c.TopicPartition).Union(owner.Keys).OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition).ToList();
            Dictionary<TopicPartition, long> ends = partitions.Count == 0 ? [] :
                (await admin.ListOffsetsAsync(partitions, OffsetSpec.Latest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
            var offsets = new Table().AddColumns("topic", "partition", "committed", "end", "lag", "member");
            foreach (TopicPartition tp in partitions)
            {
                long c = committed.FirstOrDefault(o => o.TopicPartition == tp, new TopicPartitionOffset(tp.Topic, tp.Partition, -1)).Offset;
                long end = ends.GetValueOrDefault(tp, -1);
                offsets.AddRow(Markup.Escape(tp.Topic), N(tp.Partition), c >= 0 ? N(c) : "-", N(end), c >= 0 ? N(Math.Max(0, end - c)) : "-", Markup.Escape(owner.GetValueOrDefault(tp, "-")));
            }

            context.Console.Write(offsets);
            return ExitCodes.Ok;
        });

        groups.Subcommands.Add(list);
        groups.Subcommands.Add(describe);
        groups.Subcommands.Add(BuildReset(context));
        return groups;
    }

    private static async Task<GroupDescription> DescribeAsync(AdminClient admin, string id, CancellationToken ct) =>
        (await admin.DescribeGroupsAsync([id], ct).ConfigureAwait(false))[0];

    private static Command BuildReset(CliContext context)
    {
        var reset = new Command("reset-offsets", "Move a group's committed offsets so its consumers reprocess (or skip) records. Refused while the group has active members.");
        var group = new Argument<string>("group");
        var topic = new Option<string>("--topic") { Description = "the topic whose offsets move", Required = true };
        var partitions = new Option<string?>("--partitions") { Description = "only these partitions, e.g. 0,2,4-6 (default all)" };
        var toEarliest = new Option<bool>("--to-earliest") { Description = "to the log start" };
        var toLatest = new Option<bool>("--to-latest") { Description = "to the log end" };
        var toOffset = new Option<long?>("--to-offset") { Description = "to this offset" };
        var toDatetime = new Option<string?>("--to-datetime") { Description = "to the first record at or after this time (ISO-8601 or epoch ms)" };
        var shiftBy = new Option<long?>("--shift-by") { Description = "move each committed offset by N (negative: back)" };
        var byDuration = new Option<string?>("--by-duration") { Description = "to the first record at or after now minus this duration (PT1H, 90m, 1d)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "show current → new without changing anything (the default)" };
        var execute = new Option<bool>("--execute") { Description = "apply the change" };
        reset.Arguments.Add(group);
        foreach (Option o in (Option[])[topic, partitions, toEarliest, toLatest, toOffset, toDatetime, shiftBy, byDuration, dryRun, execute])
        {
            reset.Options.Add(o);
        }

        reset.SetAction(async (r, ct) =>
        {
            int modes = (r.GetValue(toEarliest) ? 1 : 0) + (r.GetValue(toLatest) ? 1 : 0) + (r.GetValue(toOffset) is null ? 0 : 1) +
                (r.GetValue(toDatetime) is null ? 0 : 1) + (r.GetValue(shiftBy) is null ? 0 : 1) + (r.GetValue(byDuration) is null ? 0 : 1);
            if (modes != 1)
            {
                throw new CliException(ExitCodes.Usage, "give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by and --by-duration.");
            }

            if (r.GetValue(dryRun) && r.GetValue(execute))
            {
                throw new CliException(ExitCodes.Usage, "give --dry-run or --execute, not both.");
            }

            string id = r.GetValue(group)!;
            string name = r.GetValue(topic)!;
            await using AdminClient admin = TopicCommands.Admin(r, context);
            List<TopicPartition> tps = await TopicCommands.PartitionsAsync(admin, name, CliApp.ParsePartitions(r.GetValue(partitions)), ct).ConfigureAwait(false);
            GroupDescription g = await DescribeAsync(admin, id, ct).ConfigureAwait(false);
            if (g.Members.Count > 0 || g.State is not ("Empty" or "Dead"))
            {
                throw new CliException(ExitCodes.Refused, $"group '{id}' has active members ({g.State}, {g.Members.Count} members): stop its consumers first.");
            }

            Dictionary<TopicPartition, long> current = (await admin.ListGroupOffsetsAsync(id, tps, ct).ConfigureAwait(false)).ToDictionary(o => o.TopicPartition, o => o.Offset);
            Dictionary<TopicPartition, long> earliest = (await admin.ListOffsetsAsync(tps, OffsetSpec.Earliest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
            Dictionary<TopicPartition, long> latest = (await admin.ListOffsetsAsync(tps, OffsetSpec.Latest, ct).ConfigureAwait(false)).ToDictionary(o => o.Partition, o => o.Offset);
            Dictionary<TopicPartition, long>? byTime = null;
            DateTimeOffset? at = r.GetValue(toDatetime) is { } t ? CliApp.ParseTime(t, "--to-datetime")
                : r.GetValue(byDuration) is { } d ? DateTimeOffset.UtcNow - CliApp.ParseDuration(d, "--by-duration") : null;
            if (at is { } time)
            {
                // A time after the last record resolves to the log end (offset -1 from the broker).
                byTime = (await admin.ListOffsetsAsync(tps, OffsetSpec.ForTime(time), ct).ConfigureAwait(false))
                    .ToDictionary(o => o.Partition, o => o.Offset >= 0 ? o.Offset : latest[o.Partition]);
            }

            var plan = new List<(TopicPartition Partition, long Current, long New)>();
            foreach (TopicPartition tp in tps)
            {
                long now = current.GetValueOrDefault(tp, -1);
                long target;
                if (r.GetValue(toEarliest))
                {
                    target = earliest[tp];
                }
                else if (r.GetValue(toLatest))
                {
                    target = latest[tp];
                }
                else if (r.GetValue(toOffset) is { } o)
                {
                    target = o >= earliest[tp] && o <= latest[tp] ? o
                        : throw new CliException(ExitCodes.OutOfRange, $"offset {o} is outside {tp}'s range [{earliest[tp]}, {latest[tp]}].");
                }
                else if (r.GetValue(shiftBy) is { } shift)
                {
                    long from = now >= 0 ? now : earliest[tp];
                    target = Math.Clamp(from + shift, earliest[tp], latest[tp]);
                }
                else
                {
                    target = byTime![tp];
                }

                plan.Add((tp, now, target));
            }

            var table = new Table().AddColumns("topic", "partition", "current", "new");
            foreach ((TopicPartition tp, long now, long target) in plan)
            {
                table.AddRow(Markup.Escape(tp.Topic), N(tp.Partition), now >= 0 ? N(now) : "-", N(target));
            }

            context.Console.Write(table);
            if (!r.GetValue(execute))
            {
                context.Console.WriteLine("dry run: nothing changed (add --execute to apply)");
                return ExitCodes.Ok;
            }

            await admin.AlterGroupOffsetsAsync(id, plan.Select(p => new TopicPartitionOffset(p.Partition.Topic, p.Partition.Partition, p.New)), ct).ConfigureAwait(false);
            context.Console.WriteLine($"reset {plan.Count} partitions of group {id}");
            return ExitCodes.Ok;
        });
        return reset;
    }

}
