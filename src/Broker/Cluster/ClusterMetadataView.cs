using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Metadata (key 3) and DescribeCluster (key 60) in cluster mode, answered from the
/// <see cref="ClusterMetadataCache"/>: every registered broker (its registered endpoint), the controller id, the
/// cluster id shared through the store, and per partition the leader, leader epoch, replicas, ISR and offline
/// replicas (assigned but not registered). A partition with no leader, or whose leader is not registered any
/// more (its lease expired and the controller has not moved it yet), gets LEADER_NOT_AVAILABLE with leader -1,
/// which clients retry; so does one this broker leads while it may not (<see cref="ClusterService.MayLead"/>: its
/// lease may have lapsed, and another leader be elected that it has not heard of). Topics come from the cluster,
/// not from the local registry (a broker lists topics it does not host). A missing topic is auto-created only when the request reaches the controller (as a topic
/// of <see cref="BrokerOptions.NumPartitions"/> partitions and <see cref="ClusterOptions.DefaultReplicationFactor"/>
/// replicas, answered LEADER_NOT_AVAILABLE while it materialises); elsewhere it is UNKNOWN_TOPIC_OR_PARTITION.
/// </summary>
internal sealed class ClusterMetadataView(ClusterService cluster, ClusterOptions clusterOptions, BrokerOptions options, ClusterInfo info)
{
    public async ValueTask<MetadataResponse?> MetadataAsync(RequestContext context, MetadataRequest metadata, Authorizer? authorizer)
    {
        var cache = cluster.Cache;
        var response = new MetadataResponse { ClusterId = cache.ClusterId, ControllerId = cache.ControllerId };
        foreach (var broker in SortedBrokers(context))
        {
            response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = broker.Id, Host = broker.Host, Port = broker.Port, Rack = broker.Rack });
        }

        string? listener = context.Listener?.Name;

        short version = context.Version;
        if (metadata.Topics is null || (version == 0 && metadata.Topics.Count == 0))
        {
            var names = new List<string>(cache.Topics.Keys);
            names.Sort(StringComparer.Ordinal);
            foreach (string name in names)
            {
                if (cache.Topic(name) is { } topic && authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, name) is null)
                {
                    response.Topics.Add(Describe(topic, listener));
                }
            }

            return response;
        }

        bool allowCreate = options.AutoCreateTopics && (version < 4 || metadata.AllowAutoTopicCreation);
        var seenNames = new HashSet<string>(StringComparer.Ordinal);
        var seenIds = new HashSet<Guid>();
        int creations = 0;
        foreach (MetadataRequest.MetadataRequestTopic wanted in metadata.Topics)
        {
            if (wanted.Name is { } named ? !seenNames.Add(named) : !seenIds.Add(wanted.TopicId))
            {
                continue;
            }

            TopicRecord? topic = wanted.Name is { } name ? cache.Topic(name) : cache.Topic(wanted.TopicId);
            if (authorizer?.Check(context, AclOperation.Describe, AclResourceType.Topic, wanted.Name ?? topic?.Name ?? "") is { } refused)
            {
                response.Topics.Add(new MetadataResponse.MetadataResponseTopic { Name = wanted.Name, TopicId = wanted.Name is null ? wanted.TopicId : Guid.Empty, ErrorCode = (short)refused });
                continue;
            }

            if (topic is not null)
            {
                response.Topics.Add(Describe(topic, listener));
                continue;
            }

            ErrorCode error = wanted.Name is null ? ErrorCode.UnknownTopicId
                : !Storage.TopicPartition.IsValidTopicName(wanted.Name) ? ErrorCode.InvalidTopicException
                : ErrorCode.UnknownTopicOrPartition;
            if (error == ErrorCode.UnknownTopicOrPartition && allowCreate && !TopicRegistry.IsInternal(wanted.Name!) && cluster.Controller is { } controller)
            {
                // Past MaxAutoCreateTopicsPerRequest: LEADER_NOT_AVAILABLE, which clients retry.
                if (creations++ < options.MaxAutoCreateTopicsPerRequest)
                {
                    await controller.CreateTopicAsync(
                        wanted.Name!, options.NumPartitions, Math.Min(clusterOptions.DefaultReplicationFactor, Math.Max(1, cache.Brokers.Count)),
                        new Dictionary<string, string>(), Random.Shared.Next(1024), CancellationToken.None).ConfigureAwait(false);
                }

                error = ErrorCode.LeaderNotAvailable;
            }

            response.Topics.Add(new MetadataResponse.MetadataResponseTopic
            {
                Name = wanted.Name,
                TopicId = wanted.Name is null ? wanted.TopicId : Guid.Empty,
                ErrorCode = (short)error,
            });
        }

        return response;
    }

    public DescribeClusterResponse DescribeCluster(RequestContext context, DescribeClusterRequest describe)
    {
        var cache = cluster.Cache;
        var response = new DescribeClusterResponse { ClusterId = cache.ClusterId, ControllerId = cache.ControllerId, EndpointType = describe.EndpointType };
        foreach (var broker in SortedBrokers(context))
        {
            response.Brokers.Add(new DescribeClusterResponse.DescribeClusterBroker { BrokerId = broker.Id, Host = broker.Host, Port = broker.Port, Rack = broker.Rack });
        }

        if (describe.EndpointType != 1)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = "Only broker endpoints (type 1) are available.";
        }

        return response;
    }

    /// <summary>
    /// The registered brokers by id, each at its endpoint on the client's listener (a broker without a listener of that
    /// name is left out, as Kafka does); this broker alone (as the listener advertises it) before its first registration is seen.
    /// </summary>
    private List<(int Id, string Host, int Port, string? Rack)> SortedBrokers(RequestContext context)
    {
        var brokers = new List<(int Id, string Host, int Port, string? Rack)>(cluster.Cache.Brokers.Count);
        foreach (BrokerRegistration broker in cluster.Cache.Brokers.Values)
        {
            if (broker.EndpointFor(context.Listener?.Name) is { } endpoint)
            {
                brokers.Add((broker.Id, endpoint.Host, endpoint.Port, broker.Rack));
            }
        }

        if (cluster.Cache.Brokers.Count == 0)
        {
            brokers.Add((info.NodeId, info.HostFor(context), info.PortFor(context), null));
        }

        brokers.Sort((a, b) => a.Id.CompareTo(b.Id));
        return brokers;
    }

    private MetadataResponse.MetadataResponseTopic Describe(TopicRecord topic, string? listener)
    {
        var cache = cluster.Cache;
        var described = new MetadataResponse.MetadataResponseTopic { Name = topic.Name, TopicId = topic.TopicId, IsInternal = TopicRegistry.IsInternal(topic.Name) };
        bool mayLead = cluster.MayLead;
        for (int p = 0; p < topic.Partitions; p++)
        {
            var partition = new MetadataResponse.MetadataResponsePartition { PartitionIndex = p, LeaderId = -1, LeaderEpoch = -1 };
            described.Partitions.Add(partition);
            if (cache.Partition(topic.Name, p) is not { } state)
            {
                partition.ErrorCode = (short)ErrorCode.LeaderNotAvailable; // the record arrived before its partition states
                continue;
            }

            // A leader whose lease may have lapsed (cut off from etcd) does not name itself: clients it refuses would
            // otherwise be sent straight back by its stale metadata, and retry there until they time out.
            bool led = state.Leader >= 0 && cache.IsLive(state.Leader) && (state.Leader != cluster.BrokerId || mayLead);
            bool reachable = led && cache.Brokers.TryGetValue(state.Leader, out var leader) && leader.EndpointFor(listener) is not null;
            partition.ErrorCode = (short)(reachable ? ErrorCode.None : led ? ErrorCode.ListenerNotFound : ErrorCode.LeaderNotAvailable);
            partition.LeaderId = reachable ? state.Leader : -1;
            partition.LeaderEpoch = state.LeaderEpoch;
            partition.ReplicaNodes = [.. state.Replicas];
            partition.IsrNodes = [.. state.Isr];
            foreach (int replica in state.Replicas)
            {
                if (!cache.IsLive(replica))
                {
                    partition.OfflineReplicas.Add(replica);
                }
            }
        }

        return described;
    }
}
