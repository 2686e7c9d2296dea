using System.CommandLine;
using System.Globalization;
using LogBroker.Client;
using LogBroker.Client.Admin;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>
/// <c>logbroker cluster status</c>: the cluster as its metadata shows it, through the client's DescribeCluster
/// and Metadata: cluster id, controller, every broker with its endpoint, topic and partition counts, and the
/// under-replicated (ISR smaller than the replicas) and offline (no leader) partitions. Exit code 0 when every
/// partition has a leader, 1 when some are offline (for scripts and health checks).
/// <c>logbroker cluster drain ID</c> moves every leadership away from broker ID before maintenance.
/// </summary>
internal static class ClusterCommands
{
    public static Command Build(CliContext context)
    {
        var cluster = new Command("cluster", "Show the cluster: brokers, controller, under-replicated and offline partitions.");
        var status = new Command("status", "Brokers with their endpoints, the controller, topic and partition counts, under-replicated and offline partitions.");
        status.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = TopicCommands.Admin(r, context);
            ClusterDescription described = await admin.DescribeClusterAsync(ct).ConfigureAwait(false);
            IReadOnlyList<TopicDescription> topics = await admin.DescribeTopicsAsync(null, ct).ConfigureAwait(false);
            return Write(context, described, topics);
        });
        cluster.Subcommands.Add(status);

        var brokerId = new Argument<int>("broker-id") { Description = "the broker to drain" };
        var drain = new Command("drain", "Move every partition leadership away from a broker (before maintenance): each partition it leads gets another in-sync replica as its preferred leader, then a preferred election. Exit 1 when some partition has no other in-sync replica.");
        drain.Arguments.Add(brokerId);
        drain.SetAction(async (r, ct) =>
        {
            await using AdminClient admin = TopicCommands.Admin(r, context);
            return await DrainAsync(context, admin, r.GetValue(brokerId), ct).ConfigureAwait(false);
        });
        cluster.Subcommands.Add(drain);
        return cluster;
    }

    /// <summary>
    /// Drains <paramref name="id"/>: every partition it leads is reassigned to the same replicas with an in-sync one
    /// first and <paramref name="id"/> last (KIP-455 reorders take effect at once, and keep leadership away after the
    /// broker restarts: it is no longer preferred), then a preferred election moves the leadership. Partitions whose
    /// ISR is the broker alone stay, and are listed.
    /// </summary>
    private static async Task<int> DrainAsync(CliContext context, AdminClient admin, int id, CancellationToken ct)
    {
        IReadOnlyList<TopicDescription> topics = await admin.DescribeTopicsAsync(null, ct).ConfigureAwait(false);
        var moves = new List<PartitionReassignment>();
        var stuck = new List<string>();
        foreach (TopicDescription topic in topics)
        {
            foreach (PartitionDescription p in topic.Partitions)
            {
                if (p.Leader != id)
                {
                    continue;
                }

                int next = -1;
                foreach (int replica in p.Replicas)
                {
                    if (replica != id && p.Isr.Contains(replica))
                    {
                        next = replica;
                        break;
                    }
                }

                if (next < 0)
                {
                    stuck.Add($"{topic.Name}-{p.Partition}");
                    continue;
                }

                var order = new List<int>(p.Replicas.Count) { next };
                foreach (int replica in p.Replicas)
                {
                    if (replica != next && replica != id)
                    {
                        order.Add(replica);
                    }
                }

                order.Add(id);
                moves.Add(new PartitionReassignment(new TopicPartition(topic.Name, p.Partition), order));
            }
        }

        int moved = moves.Count;
        if (moves.Count > 0)
        {
            await admin.AlterPartitionReassignmentsAsync(moves, ct).ConfigureAwait(false);
            IReadOnlyDictionary<TopicPartition, LogBroker.Protocol.ErrorCode> failed =
                await admin.ElectPreferredLeadersAsync([.. moves.Select(m => m.Partition)], ct).ConfigureAwait(false);
            foreach ((TopicPartition tp, LogBroker.Protocol.ErrorCode error) in failed)
            {
                stuck.Add($"{tp.Topic}-{tp.Partition} ({error})");
                moved--;
            }
        }

        // The controller records the elections at once, Metadata shows them a moment later: confirm, for at most 30 s.
        var pending = new HashSet<string>(moves.Select(m => $"{m.Partition.Topic}-{m.Partition.Partition}"), StringComparer.Ordinal);
        pending.ExceptWith(stuck.Select(s => s.Split(' ')[0]));
        for (int attempt = 0; attempt < 60 && pending.Count > 0; attempt++)
        {
            await Task.Delay(attempt == 0 ? 0 : 500, ct).ConfigureAwait(false);
            var stillLed = new HashSet<string>(StringComparer.Ordinal);
            foreach (TopicDescription topic in await admin.DescribeTopicsAsync(null, ct).ConfigureAwait(false))
            {
                foreach (PartitionDescription p in topic.Partitions)
                {
                    if (p.Leader == id)
                    {
                        stillLed.Add($"{topic.Name}-{p.Partition}");
                    }
                }
            }

            pending.IntersectWith(stillLed);
        }

        foreach (string partition in pending)
        {
            stuck.Add($"{partition} (still led by {id})");
            moved--;
        }

        context.Console.WriteLine($"broker {id}: {moved} leaderships moved");
        foreach (string partition in stuck)
        {
            context.Console.WriteLine($"not moved: {partition}");
        }

        return stuck.Count == 0 ? 0 : 1;
    }

    private static int Write(CliContext context, ClusterDescription cluster, IReadOnlyList<TopicDescription> topics)
    {
        var summary = new Table().AddColumns("", "").HideHeaders();
        summary.AddRow("cluster", Markup.Escape(cluster.ClusterId));
        summary.AddRow("controller", cluster.ControllerId < 0 ? "none (election under way)" : cluster.ControllerId.ToString(CultureInfo.InvariantCulture));
        var under = new List<(string Topic, PartitionDescription Partition)>();
        var offline = new List<(string Topic, PartitionDescription Partition)>();
        int partitions = 0;
        foreach (TopicDescription topic in topics)
        {
            foreach (PartitionDescription p in topic.Partitions)
            {
                partitions++;
                if (p.Leader < 0)
                {
                    offline.Add((topic.Name, p));
                }
                else if (p.Isr.Count < p.Replicas.Count)
                {
                    under.Add((topic.Name, p));
                }
            }
        }

        summary.AddRow("topics", topics.Count.ToString(CultureInfo.InvariantCulture));
        summary.AddRow("partitions", partitions.ToString(CultureInfo.InvariantCulture));
        summary.AddRow("under-replicated", under.Count.ToString(CultureInfo.InvariantCulture));
        summary.AddRow("offline", offline.Count.ToString(CultureInfo.InvariantCulture));
        context.Console.Write(summary);

        var brokers = new Table().AddColumns("broker", "endpoint", "rack", "role");
        foreach (BrokerDescription b in cluster.Brokers)
        {
            brokers.AddRow(b.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape($"{b.Host}:{b.Port}"), Markup.Escape(b.Rack ?? "-"),
                b.Id == cluster.ControllerId ? "controller" : "");
        }

        context.Console.Write(brokers);
        WritePartitions(context, "under-replicated partitions", under);
        WritePartitions(context, "offline partitions", offline);
        return offline.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static void WritePartitions(CliContext context, string title, List<(string Topic, PartitionDescription Partition)> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var table = new Table { Title = new TableTitle(title) }.AddColumns("topic", "partition", "leader", "replicas", "isr");
        foreach ((string topic, PartitionDescription p) in rows.OrderBy(r => r.Topic, StringComparer.Ordinal).ThenBy(r => r.Partition.Partition))
        {
            table.AddRow(Markup.Escape(topic), p.Partition.ToString(CultureInfo.InvariantCulture), p.Leader.ToString(CultureInfo.InvariantCulture),
                string.Join(',', p.Replicas), string.Join(',', p.Isr));
        }

        context.Console.Write(table);
    }
}
