using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.Storage;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// DescribeLogDirs (key 35), versions 0–4 (v0 is v1): the one data directory and the size on disk of each partition
/// asked for (every partition when the topic list is null). Unknown topics and partitions are left out,
/// as Kafka does; there are no replicas, so offset lag is 0 and nothing is a "future" log.
/// </summary>
internal sealed class DescribeLogDirsHandler(TopicRegistry topics, LogManager logs, Authorizer? authorizer = null) : RequestHandler<DescribeLogDirsRequest, DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, 0, 4)
{
    public override ValueTask<DescribeLogDirsResponse?> HandleAsync(RequestContext context, DescribeLogDirsRequest describe)
    {
        if (authorizer?.Check(context, AclOperation.Describe, AclResourceType.Cluster, Authorizer.ClusterName) is { } denied)
        {
            // Kafka: no log dirs, and (v3+) the error.
            return ValueTask.FromResult<DescribeLogDirsResponse?>(new DescribeLogDirsResponse { ErrorCode = (short)denied });
        }

        var result = new DescribeLogDirsResponse.DescribeLogDirsResult { LogDir = logs.DataDirectory };
        if (describe.Topics is null)
        {
            foreach (Topic topic in topics.Topics)
            {
                result.Topics.Add(Describe(topic, null));
            }
        }
        else
        {
            // A topic listed more than once is described once, with the partitions of all its entries.
            var wantedPartitions = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
            var order = new List<string>();
            foreach (DescribeLogDirsRequest.DescribableLogDirTopic wanted in describe.Topics)
            {
                if (!wantedPartitions.TryGetValue(wanted.Topic, out HashSet<int>? set))
                {
                    wantedPartitions.Add(wanted.Topic, set = []);
                    order.Add(wanted.Topic);
                }

                set.UnionWith(wanted.Partitions);
            }

            foreach (string name in order)
            {
                if (topics.Get(name) is { } topic)
                {
                    result.Topics.Add(Describe(topic, wantedPartitions[name]));
                }
            }
        }

        try
        {
            var drive = new DriveInfo(logs.DataDirectory);
            result.TotalBytes = drive.TotalSize;
            result.UsableBytes = drive.AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Left at -1 (unknown).
        }

        var response = new DescribeLogDirsResponse();
        response.Results.Add(result);
        return ValueTask.FromResult<DescribeLogDirsResponse?>(response);
    }

    private static DescribeLogDirsResponse.DescribeLogDirsTopic Describe(Topic topic, HashSet<int>? partitions)
    {
        var described = new DescribeLogDirsResponse.DescribeLogDirsTopic { Name = topic.Name };
        for (int p = 0; p < topic.Partitions.Length; p++)
        {
            if (partitions is null || partitions.Contains(p))
            {
                described.Partitions.Add(new DescribeLogDirsResponse.DescribeLogDirsPartition { PartitionIndex = p, PartitionSize = topic.Partitions[p].Size });
            }
        }

        return described;
    }
}
