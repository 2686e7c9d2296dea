using LogBroker.Client.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Client.Admin;

/// <summary>
/// Creates, deletes and describes topics, configs and groups, and reads and changes offsets. Every call
/// throws <see cref="KafkaException"/> with the broker's error code when the broker refuses it.
/// </summary>
public sealed class AdminClient : IAdminClient
{
    private readonly Cluster _cluster;
    private readonly AdminOptions _options;

    /// <summary>Creates the client; connections are opened on first use.</summary>
    public AdminClient(AdminOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _cluster = new Cluster(options, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<AdminClient>());
    }

    private int TimeoutMs => (int)Math.Min(int.MaxValue, _options.OperationTimeout.TotalMilliseconds);

    /// <summary>The cluster id reported by the brokers.</summary>
    public async Task<string?> ClusterIdAsync(CancellationToken cancellationToken = default) =>
        (await _cluster.RefreshAsync([], false, cancellationToken).ConfigureAwait(false)).ClusterId;

    /// <summary>Creates topics; throws for the first one the broker refuses (e.g. TOPIC_ALREADY_EXISTS).</summary>
    public async Task CreateTopicsAsync(IEnumerable<NewTopic> topics, CancellationToken cancellationToken = default)
    {
        var request = new CreateTopicsRequest { timeoutMs = TimeoutMs };
        foreach (NewTopic t in topics)
        {
            var topic = new CreateTopicsRequest.CreatableTopic { Name = t.Name, NumPartitions = t.Partitions, ReplicationFactor = t.ReplicationFactor };
            if (t.Configs is not null)
            {
                foreach (KeyValuePair<string, string> c in t.Configs)
                {
                    topic.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = c.Key, Value = c.Value });
                }
            }

            request.Topics.Add(topic);
        }

        CreateTopicsResponse response = await ControllerAsync<CreateTopicsResponse>(ApiKey.CreateTopics, request, cancellationToken).ConfigureAwait(false);
        foreach (CreateTopicsResponse.CreatableTopicResult r in response.Topics)
        {
            Check(r.ErrorCode, $"Creating topic '{r.Name}'", r.ErrorMessage);
        }

        _cluster.Invalidate();
    }

    /// <summary>Deletes topics and all their records.</summary>
    public async Task DeleteTopicsAsync(IEnumerable<string> topics, CancellationToken cancellationToken = default)
    {
        var request = new DeleteTopicsRequest { TimeoutMs = TimeoutMs, TopicNames = [.. topics] };
        DeleteTopicsResponse response = await ControllerAsync<DeleteTopicsResponse>(ApiKey.DeleteTopics, request, cancellationToken).ConfigureAwait(false);
        foreach (DeleteTopicsResponse.DeletableTopicResult r in response.Responses)
        {
            Check(r.ErrorCode, $"Deleting topic '{r.Name}'", r.ErrorMessage);
        }

        _cluster.Invalidate();
    }

    /// <summary>Names of all topics (internal ones excluded unless asked for).</summary>
    public async Task<IReadOnlyList<string>> ListTopicsAsync(bool includeInternal = false, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<TopicDescription> all = await DescribeTopicsAsync(null, cancellationToken).ConfigureAwait(false);
        var names = new List<string>(all.Count);
        foreach (TopicDescription t in all)
        {
            if (includeInternal || !t.IsInternal)
            {
                names.Add(t.Name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>Describes topics (null: every topic); throws for a topic that does not exist.</summary>
    public async Task<IReadOnlyList<TopicDescription>> DescribeTopicsAsync(IEnumerable<string>? topics, CancellationToken cancellationToken = default)
    {
        var request = new MetadataRequest { AllowAutoTopicCreation = false };
        if (topics is null)
        {
            request.Topics = null;
        }
        else
        {
            foreach (string t in topics)
            {
                request.Topics!.Add(new MetadataRequest.MetadataRequestTopic { Name = t });
            }
        }

        MetadataResponse response = await AnyAsync<MetadataResponse>(ApiKey.Metadata, request, cancellationToken).ConfigureAwait(false);
        var result = new List<TopicDescription>(response.Topics.Count);
        foreach (MetadataResponse.MetadataResponseTopic t in response.Topics)
        {
            Check(t.ErrorCode, $"Describing topic '{t.Name}'", null);
            var partitions = new List<PartitionDescription>(t.Partitions.Count);
            foreach (MetadataResponse.MetadataResponsePartition p in t.Partitions)
            {
                partitions.Add(new PartitionDescription(p.PartitionIndex, p.LeaderId, p.ReplicaNodes, p.IsrNodes));
            }

            partitions.Sort(static (a, b) => a.Partition.CompareTo(b.Partition));
            result.Add(new TopicDescription(t.Name ?? "", t.TopicId, partitions, t.IsInternal));
        }

        return result;
    }

    /// <summary>The cluster: its id, the controller's id (-1 while none) and every registered broker, from DescribeCluster.</summary>
    public async Task<ClusterDescription> DescribeClusterAsync(CancellationToken cancellationToken = default)
    {
        DescribeClusterResponse response = await AnyAsync<DescribeClusterResponse>(ApiKey.DescribeCluster, new DescribeClusterRequest(), cancellationToken).ConfigureAwait(false);
        Check(response.ErrorCode, "Describing the cluster", response.ErrorMessage);
        var brokers = new List<BrokerDescription>(response.Brokers.Count);
        foreach (DescribeClusterResponse.DescribeClusterBroker b in response.Brokers)
        {
            brokers.Add(new BrokerDescription(b.BrokerId, b.Host, b.Port, b.Rack));
        }

        brokers.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        return new ClusterDescription(response.ClusterId, response.ControllerId, brokers);
    }

    /// <summary>Raises the partition count of <paramref name="topic"/> to <paramref name="totalCount"/>.</summary>
    public async Task CreatePartitionsAsync(string topic, int totalCount, CancellationToken cancellationToken = default)
    {
        var request = new CreatePartitionsRequest { TimeoutMs = TimeoutMs };
        request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = topic, Count = totalCount, Assignments = null });
        CreatePartitionsResponse response = await ControllerAsync<CreatePartitionsResponse>(ApiKey.CreatePartitions, request, cancellationToken).ConfigureAwait(false);
        foreach (CreatePartitionsResponse.CreatePartitionsTopicResult r in response.Results)
        {
            Check(r.ErrorCode, $"Creating partitions of '{r.Name}'", r.ErrorMessage);
        }

        _cluster.Invalidate();
    }

    /// <summary>The configs of a topic, defaults included.</summary>
    public async Task<IReadOnlyList<ConfigEntry>> DescribeTopicConfigsAsync(string topic, CancellationToken cancellationToken = default)
    {
        var request = new DescribeConfigsRequest();
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = topic, ConfigurationKeys = null });
        DescribeConfigsResponse response = await AnyAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, request, cancellationToken).ConfigureAwait(false);
        var entries = new List<ConfigEntry>();
        foreach (DescribeConfigsResponse.DescribeConfigsResult r in response.Results)
        {
            Check(r.ErrorCode, $"Describing the configs of '{r.ResourceName}'", r.ErrorMessage);
            foreach (DescribeConfigsResponse.DescribeConfigsResourceResult c in r.Configs)
            {
                // v0 has IsDefault; v1+ has the source (5 = default config).
                bool isDefault = c.IsDefault || c.ConfigSource == 5;
                entries.Add(new ConfigEntry(c.Name, c.Value, isDefault, c.ReadOnly, c.IsSensitive));
            }
        }

        return entries;
    }

    /// <summary>Sets or removes topic configs (incrementally: other configs keep their values).</summary>
    public async Task AlterTopicConfigsAsync(string topic, IEnumerable<ConfigChange> changes, CancellationToken cancellationToken = default)
    {
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = 2, ResourceName = topic };
        foreach (ConfigChange c in changes)
        {
            resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Name, Value = c.Value, ConfigOperation = (sbyte)c.Operation });
        }

        var request = new IncrementalAlterConfigsRequest();
        request.Resources.Add(resource);
        IncrementalAlterConfigsResponse response = await AnyAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, request, cancellationToken).ConfigureAwait(false);
        foreach (IncrementalAlterConfigsResponse.AlterConfigsResourceResponse r in response.Responses)
        {
            Check(r.ErrorCode, $"Altering the configs of '{r.ResourceName}'", r.ErrorMessage);
        }
    }

    /// <summary>Every group the brokers know.</summary>
    public async Task<IReadOnlyList<GroupListing>> ListGroupsAsync(CancellationToken cancellationToken = default)
    {
        var result = new List<GroupListing>();
        ClusterSnapshot snapshot = await _cluster.RefreshAsync([], false, cancellationToken).ConfigureAwait(false);
        foreach (int node in snapshot.Brokers.Keys)
        {
            ListGroupsResponse response = await _cluster.SendAsync<ListGroupsResponse>(node, ApiKey.ListGroups, _ => new ListGroupsRequest(), cancellationToken).ConfigureAwait(false);
            Check(response.ErrorCode, "Listing groups", null);
            foreach (ListGroupsResponse.ListedGroup g in response.Groups)
            {
                result.Add(new GroupListing(g.GroupId, g.ProtocolType, g.GroupState, g.GroupType));
            }
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.GroupId, b.GroupId));
        return result;
    }

    /// <summary>Describes groups: state, protocol, members and their assignments.</summary>
    public async Task<IReadOnlyList<GroupDescription>> DescribeGroupsAsync(IEnumerable<string> groups, CancellationToken cancellationToken = default)
    {
        var result = new List<GroupDescription>();
        foreach (string group in groups)
        {
            DescribeGroupsResponse response = await GroupAsync<DescribeGroupsResponse>(group, ApiKey.DescribeGroups,
                new DescribeGroupsRequest { Groups = [group] }, static r => r.Groups.Count > 0 ? r.Groups[0].ErrorCode : (short)0, cancellationToken).ConfigureAwait(false);
            foreach (DescribeGroupsResponse.DescribedGroup g in response.Groups)
            {
                Check(g.ErrorCode, $"Describing group '{g.GroupId}'", null);
                var members = new List<GroupMemberDescription>(g.Members.Count);
                foreach (DescribeGroupsResponse.DescribedGroupMember m in g.Members)
                {
                    members.Add(new GroupMemberDescription(m.MemberId, m.GroupInstanceId, m.ClientId, m.ClientHost,
                        g.ProtocolType == "consumer" ? Consumer.ConsumerProtocol.ReadAssignment(m.MemberAssignment.Span) : []));
                }

                result.Add(new GroupDescription(g.GroupId, g.GroupState, g.ProtocolType, g.ProtocolData, members));
            }
        }

        return result;
    }

    /// <summary>Deletes groups (they must have no members) and their committed offsets.</summary>
    public async Task DeleteGroupsAsync(IEnumerable<string> groups, CancellationToken cancellationToken = default)
    {
        foreach (string group in groups)
        {
            DeleteGroupsResponse response = await GroupAsync<DeleteGroupsResponse>(group, ApiKey.DeleteGroups,
                new DeleteGroupsRequest { GroupsNames = [group] }, static r => r.Results.Count > 0 ? r.Results[0].ErrorCode : (short)0, cancellationToken).ConfigureAwait(false);
            foreach (DeleteGroupsResponse.DeletableGroupResult r in response.Results)
            {
                Check(r.ErrorCode, $"Deleting group '{r.GroupId}'", null);
            }
        }
    }

    /// <summary>
    /// A group's committed offsets: of <paramref name="partitions"/>, or of every partition it committed
    /// when null. A partition without a commit has offset -1.
    /// </summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> ListGroupOffsetsAsync(string group, IEnumerable<TopicPartition>? partitions = null, CancellationToken cancellationToken = default)
    {
        var request = new OffsetFetchRequest { GroupId = group, Topics = partitions is null ? null : PartitionRequests.GroupByTopic(partitions) };
        OffsetFetchResponse response = await GroupAsync<OffsetFetchResponse>(group, ApiKey.OffsetFetch, request, static r => r.ErrorCode, cancellationToken).ConfigureAwait(false);
        Check(response.ErrorCode, $"Fetching the offsets of group '{group}'", null);
        var result = new List<TopicPartitionOffset>();
        foreach (OffsetFetchResponse.OffsetFetchResponseTopic t in response.Topics)
        {
            foreach (OffsetFetchResponse.OffsetFetchResponsePartition p in t.Partitions)
            {
                Check(p.ErrorCode, $"Fetching the offset of {t.Name}-{p.PartitionIndex} in group '{group}'", null);
                result.Add(new TopicPartitionOffset(t.Name, p.PartitionIndex, p.CommittedOffset));
            }
        }

        result.Sort(static (a, b) => a.Topic == b.Topic ? a.Partition.CompareTo(b.Partition) : string.CompareOrdinal(a.Topic, b.Topic));
        return result;
    }

    /// <summary>
    /// Sets a group's committed offsets (the next offset each partition's consumer reads). The broker
    /// refuses while the group has active members.
    /// </summary>
    public async Task AlterGroupOffsetsAsync(string group, IEnumerable<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        OffsetCommitRequest request = Consumer.OffsetCommits.Request(group, -1, "", null, offsets);
        OffsetCommitResponse response = await GroupAsync<OffsetCommitResponse>(group, ApiKey.OffsetCommit, request, static r => Consumer.OffsetCommits.FirstError(r), cancellationToken).ConfigureAwait(false);
        ErrorCode error = (ErrorCode)Consumer.OffsetCommits.FirstError(response);
        if (error != ErrorCode.None)
        {
            throw new KafkaException(error, $"Altering the offsets of group '{group}': {error}" +
                (error is ErrorCode.UnknownMemberId or ErrorCode.IllegalGeneration or ErrorCode.RebalanceInProgress ? " (the group has active members)." : "."));
        }
    }

    /// <summary>Looks up offsets by <paramref name="spec"/> for each partition, at each partition's leader.</summary>
    public async Task<IReadOnlyList<ListedOffset>> ListOffsetsAsync(IEnumerable<TopicPartition> partitions, OffsetSpec spec, CancellationToken cancellationToken = default)
    {
        var result = new List<ListedOffset>();
        foreach ((TopicPartition tp, ErrorCode error, long offset, long timestamp) in await _cluster.ListOffsetsAsync(partitions, spec.Timestamp, cancellationToken).ConfigureAwait(false))
        {
            Check((short)error, $"Listing offsets of {tp}", null);
            result.Add(new ListedOffset(tp, offset, timestamp));
        }

        return result;
    }

    /// <summary>Deletes the records before each given offset; returns each partition's new log start offset.</summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> DeleteRecordsAsync(IEnumerable<TopicPartitionOffset> before, CancellationToken cancellationToken = default)
    {
        var offsets = new Dictionary<TopicPartition, long>();
        foreach (TopicPartitionOffset o in before)
        {
            offsets[o.TopicPartition] = o.Offset;
        }

        var result = new List<TopicPartitionOffset>();
        foreach ((int leader, List<TopicPartition> group) in await _cluster.ByLeaderAsync(offsets.Keys, cancellationToken).ConfigureAwait(false))
        {
            var request = new DeleteRecordsRequest { TimeoutMs = TimeoutMs };
            foreach (OffsetFetchRequest.OffsetFetchRequestTopic t in PartitionRequests.GroupByTopic(group))
            {
                var topic = new DeleteRecordsRequest.DeleteRecordsTopic { Name = t.Name };
                foreach (int p in t.PartitionIndexes)
                {
                    topic.Partitions.Add(new DeleteRecordsRequest.DeleteRecordsPartition { PartitionIndex = p, Offset = offsets[new TopicPartition(t.Name, p)] });
                }

                request.Topics.Add(topic);
            }

            DeleteRecordsResponse response = await _cluster.SendAsync<DeleteRecordsResponse>(leader, ApiKey.DeleteRecords, _ => request, cancellationToken).ConfigureAwait(false);
            foreach (DeleteRecordsResponse.DeleteRecordsTopicResult t in response.Topics)
            {
                foreach (DeleteRecordsResponse.DeleteRecordsPartitionResult p in t.Partitions)
                {
                    Check(p.ErrorCode, $"Deleting records of {t.Name}-{p.PartitionIndex}", null);
                    result.Add(new TopicPartitionOffset(t.Name, p.PartitionIndex, p.LowWatermark));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// The size on disk of each partition of <paramref name="topics"/> (null: every topic), summed over the
    /// brokers that hold it (DescribeLogDirs).
    /// </summary>
    public async Task<IReadOnlyList<PartitionSize>> DescribeLogDirsAsync(IEnumerable<string>? topics, CancellationToken cancellationToken = default)
    {
        var request = new DescribeLogDirsRequest();
        if (topics is null)
        {
            request.Topics = null;
        }
        else
        {
            foreach (TopicDescription t in await DescribeTopicsAsync(topics, cancellationToken).ConfigureAwait(false))
            {
                var topic = new DescribeLogDirsRequest.DescribableLogDirTopic { Topic = t.Name };
                foreach (PartitionDescription p in t.Partitions)
                {
                    topic.Partitions.Add(p.Partition);
                }

                request.Topics!.Add(topic);
            }
        }

        var sizes = new Dictionary<TopicPartition, long>();
        ClusterSnapshot snapshot = await _cluster.RefreshAsync([], false, cancellationToken).ConfigureAwait(false);
        foreach (int node in snapshot.Brokers.Keys)
        {
            DescribeLogDirsResponse response = await _cluster.SendAsync<DescribeLogDirsResponse>(node, ApiKey.DescribeLogDirs, _ => request, cancellationToken).ConfigureAwait(false);
            Check(response.ErrorCode, "Describing log directories", null);
            foreach (DescribeLogDirsResponse.DescribeLogDirsResult dir in response.Results)
            {
                Check(dir.ErrorCode, $"Describing log directory {dir.LogDir}", null);
                foreach (DescribeLogDirsResponse.DescribeLogDirsTopic t in dir.Topics)
                {
                    foreach (DescribeLogDirsResponse.DescribeLogDirsPartition p in t.Partitions)
                    {
                        var tp = new TopicPartition(t.Name, p.PartitionIndex);
                        sizes[tp] = sizes.GetValueOrDefault(tp) + p.PartitionSize;
                    }
                }
            }
        }

        var result = new List<PartitionSize>(sizes.Count);
        foreach (KeyValuePair<TopicPartition, long> kv in sizes)
        {
            result.Add(new PartitionSize(kv.Key, kv.Value));
        }

        result.Sort(static (a, b) => a.Partition.Topic == b.Partition.Topic ? a.Partition.Partition.CompareTo(b.Partition.Partition) : string.CompareOrdinal(a.Partition.Topic, b.Partition.Topic));
        return result;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _cluster.DisposeAsync();

    /// <summary>
    /// Gives partitions new replica lists (AlterPartitionReassignments, KIP-455, at the controller): added replicas
    /// catch up, then the removed ones go; the first replica is the preferred leader. A list with the same replicas in
    /// another order takes effect at once. Throws for the first partition the controller refuses.
    /// </summary>
    public async Task AlterPartitionReassignmentsAsync(IEnumerable<PartitionReassignment> reassignments, CancellationToken cancellationToken = default)
    {
        var request = new AlterPartitionReassignmentsRequest { TimeoutMs = TimeoutMs };
        foreach (PartitionReassignment r in reassignments)
        {
            if (request.Topics.Find(t => t.Name == r.Partition.Topic) is not { } topic)
            {
                topic = new AlterPartitionReassignmentsRequest.ReassignableTopic { Name = r.Partition.Topic };
                request.Topics.Add(topic);
            }

            topic.Partitions.Add(new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = r.Partition.Partition, Replicas = [.. r.Replicas] });
        }

        AlterPartitionReassignmentsResponse response = await ControllerAsync<AlterPartitionReassignmentsResponse>(
            ApiKey.AlterPartitionReassignments, request, cancellationToken).ConfigureAwait(false);
        Check(response.ErrorCode, "Reassigning partitions", response.ErrorMessage);
        foreach (AlterPartitionReassignmentsResponse.ReassignableTopicResponse t in response.Responses)
        {
            foreach (AlterPartitionReassignmentsResponse.ReassignablePartitionResponse p in t.Partitions)
            {
                Check(p.ErrorCode, $"Reassigning {t.Name}-{p.PartitionIndex}", p.ErrorMessage);
            }
        }

        _cluster.Invalidate();
    }

    /// <summary>
    /// Makes each partition's preferred replica (its first) the leader when it is in the ISR (ElectLeaders, preferred,
    /// at the controller). Returns the partitions it could not move, with the reason; one already led by its preferred
    /// replica counts as done.
    /// </summary>
    public async Task<IReadOnlyDictionary<TopicPartition, ErrorCode>> ElectPreferredLeadersAsync(
        IEnumerable<TopicPartition> partitions, CancellationToken cancellationToken = default)
    {
        var request = new ElectLeadersRequest { ElectionType = 0, TimeoutMs = TimeoutMs, TopicPartitions = [] };
        foreach (TopicPartition tp in partitions)
        {
            if (request.TopicPartitions.Find(t => t.Topic == tp.Topic) is not { } topic)
            {
                topic = new ElectLeadersRequest.TopicPartitionsData { Topic = tp.Topic };
                request.TopicPartitions.Add(topic);
            }

            topic.Partitions.Add(tp.Partition);
        }

        ElectLeadersResponse response = await ControllerAsync<ElectLeadersResponse>(ApiKey.ElectLeaders, request, cancellationToken).ConfigureAwait(false);
        Check(response.ErrorCode, "Electing leaders", null);
        var failed = new Dictionary<TopicPartition, ErrorCode>();
        foreach (ElectLeadersResponse.ReplicaElectionResult t in response.ReplicaElectionResults)
        {
            foreach (ElectLeadersResponse.PartitionResult p in t.PartitionResult)
            {
                if (p.ErrorCode != 0 && (ErrorCode)p.ErrorCode != ErrorCode.ElectionNotNeeded)
                {
                    failed[new TopicPartition(t.Topic, p.PartitionId)] = (ErrorCode)p.ErrorCode;
                }
            }
        }

        _cluster.Invalidate();
        return failed;
    }

    private Task<TResponse> ControllerAsync<TResponse>(ApiKey key, IKafkaMessage request, CancellationToken cancellationToken)
        where TResponse : IKafkaMessage, new() =>
        _cluster.RetryAsync(async ct =>
        {
            ClusterSnapshot s = await _cluster.RefreshAsync([], false, ct).ConfigureAwait(false);
            int controller = s.Brokers.ContainsKey(s.ControllerId) ? s.ControllerId : -1;
            return await _cluster.SendAsync<TResponse>(controller, key, _ => request, ct).ConfigureAwait(false);
        }, _options.RequestTimeout, cancellationToken);

    private Task<TResponse> AnyAsync<TResponse>(ApiKey key, IKafkaMessage request, CancellationToken cancellationToken)
        where TResponse : IKafkaMessage, new() =>
        _cluster.RetryAsync(ct => _cluster.SendAsync<TResponse>(-1, key, _ => request, ct), _options.RequestTimeout, cancellationToken);

    private Task<TResponse> GroupAsync<TResponse>(string group, ApiKey key, IKafkaMessage request, Func<TResponse, short> error, CancellationToken cancellationToken)
        where TResponse : IKafkaMessage, new() =>
        _cluster.RetryAsync(ct => _cluster.SendToCoordinatorAsync(group, key, request, error, ct), _options.RequestTimeout, cancellationToken);

    private static void Check(short code, string what, string? message)
    {
        if (code != 0)
        {
            var error = (ErrorCode)code;
            throw new KafkaException(error, $"{what} failed: {error}{(string.IsNullOrEmpty(message) ? "" : " (" + message + ")")}.");
        }
    }
}
