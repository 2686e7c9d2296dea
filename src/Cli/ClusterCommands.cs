using System.CommandLine;
using System.Globalization;
using LogBroker.Client.Admin;
using Spectre.Console;

namespace LogBroker.Cli;

/// <summary>
/// <c>logbroker cluster status</c>: the cluster as its metadata shows it, through the client's DescribeCluster
/// and Metadata: cluster id, controller, every broker with its endpoint, topic and partition counts, and the
/// under-replicated (ISR smaller than the replicas) and offline (no leader) partitions. Exit code 0 when every
/// partition has a leader, 1 when some are offline (for scripts and health checks).
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
        return cluster;
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
