using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Groups;

/// <summary>
/// The server-side consumer group protocol (KIP-848, ConsumerGroupHeartbeat): the broker assigns every
/// subscribed partition to exactly one member and reconciles members one heartbeat at a time.
/// </summary>
/// <remarks>
/// <para>Epochs: a change of membership, subscriptions or partition counts bumps the group epoch; the
/// target assignment (uniform: each topic's partitions dealt round-robin over its subscribers sorted by
/// member id) is recomputed for it. A member moves to the new epoch only once it no longer owns any
/// partition its target takes away: until then its heartbeats answer the reduced assignment and keep
/// its epoch. A partition is handed to its new owner only when no other member still holds it or has
/// it pending revocation, so no partition ever has two owners.</para>
/// <para>Liveness: a member silent for <see cref="GroupOptions"/>' consumer session timeout is removed.
/// Committed offsets live with the classic coordinator's (one offset store for both protocols).</para>
/// <para>Thread-safety: one lock per group.</para>
/// </remarks>
internal sealed class ConsumerGroupCoordinator(TimeProvider time, TopicRegistry topics, GroupCoordinator offsets, ConsumerGroupOptions options)
{
    private readonly ConcurrentDictionary<string, ConsumerGroup> _groups = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="groupId"/> is a server-side (consumer) group.</summary>
    public bool Owns(string groupId) => _groups.ContainsKey(groupId);

    public ConsumerGroupHeartbeatResponse Heartbeat(ConsumerGroupHeartbeatRequest request, string clientId = "", string clientHost = "")
    {
        if (string.IsNullOrEmpty(request.GroupId))
        {
            return Fail(ErrorCode.InvalidGroupId, "The group id is empty.");
        }

        if (request.ServerAssignor is { } assignor && assignor is not ("uniform" or "range"))
        {
            return Fail(ErrorCode.UnsupportedAssignor, $"Assignor '{assignor}' is not supported (uniform, range).");
        }

        if (offsets.Find(request.GroupId) is { Members.Count: > 0 })
        {
            return Fail(ErrorCode.GroupIdNotFound, "The group is in use by classic consumers.");
        }

        ConsumerGroup group = _groups.GetOrAdd(request.GroupId, id => new ConsumerGroup(id));
        lock (group.Sync)
        {
            long now = time.GetTimestamp();
            ConsumerMember? member;
            if (request.MemberEpoch == -1)
            {
                if (group.Members.Remove(request.MemberId))
                {
                    group.GroupEpoch++;
                }

                return new ConsumerGroupHeartbeatResponse { MemberId = request.MemberId, MemberEpoch = -1, ErrorMessage = null };
            }

            if (request.MemberEpoch == -2)
            {
                // A static member going away "to come back": it keeps its partitions until it rejoins
                // under its instance id or its session times out (as Kafka does).
                if (group.Members.TryGetValue(request.MemberId, out ConsumerMember? leaving))
                {
                    leaving.LastSeen = now;
                }

                return new ConsumerGroupHeartbeatResponse { MemberId = request.MemberId, MemberEpoch = -2, ErrorMessage = null };
            }

            if (request.MemberEpoch == 0)
            {
                string id = request.MemberId.Length > 0 ? request.MemberId : Guid.NewGuid().ToString("N");
                if (request.InstanceId is { } instance &&
                    group.Members.Values.FirstOrDefault(m => m.InstanceId == instance && m.Id != id) is { } previous)
                {
                    group.Members.Remove(previous.Id); // the new incarnation of a static member replaces the old one
                    group.GroupEpoch++;
                }

                if (!group.Members.TryGetValue(id, out member))
                {
                    member = new ConsumerMember(id);
                    group.Members[id] = member;
                    group.GroupEpoch++;
                }
                else
                {
                    member.Assigned.Clear();
                    member.PendingRevocation.Clear();
                    member.Epoch = 0;
                }

                member.SentAssignment = null;
            }
            else if (!group.Members.TryGetValue(request.MemberId, out member))
            {
                return Fail(ErrorCode.UnknownMemberId, "Unknown member; rejoin with epoch 0.");
            }
            else if (request.MemberEpoch != member.Epoch && request.MemberEpoch != member.PreviousEpoch)
            {
                return Fail(ErrorCode.FencedMemberEpoch, $"Epoch {request.MemberEpoch} is not the member's ({member.Epoch}).");
            }

            member.LastSeen = now;
            member.ClientId = clientId;
            member.ClientHost = clientHost;
            member.InstanceId = request.InstanceId ?? member.InstanceId;
            member.RackId = request.RackId ?? member.RackId;
            if (request.ServerAssignor is { } chosen)
            {
                member.Assignor = chosen;
            }
            if (request.SubscribedTopicNames is { } names && !names.Order(StringComparer.Ordinal).SequenceEqual(member.SubscribedNames.Order(StringComparer.Ordinal)))
            {
                member.SubscribedNames = [.. names];
                group.GroupEpoch++;
            }

            if (request.SubscribedTopicRegex is { } pattern && pattern != member.SubscribedRegex)
            {
                member.SubscribedRegex = pattern.Length == 0 ? null : pattern;
                group.GroupEpoch++;
            }

            if (request.TopicPartitions is { } owned)
            {
                member.Owned = owned.SelectMany(t => t.Partitions.Select(p => (t.TopicId, p))).ToHashSet();
            }

            string fingerprint = Fingerprint(group);
            if (fingerprint != group.MetadataFingerprint)
            {
                group.MetadataFingerprint = fingerprint;
                group.GroupEpoch++;
            }

            if (group.AssignmentEpoch < group.GroupEpoch)
            {
                ComputeTargetAssignment(group);
            }

            Reconcile(group, member);
            var response = new ConsumerGroupHeartbeatResponse
            {
                MemberId = member.Id,
                MemberEpoch = member.Epoch,
                HeartbeatIntervalMs = (int)options.HeartbeatInterval.TotalMilliseconds,
                ErrorMessage = null,
            };
            string sent = string.Join(',', member.Assigned.Order().Select(p => $"{p.Topic}:{p.Partition}"));
            if (sent != member.SentAssignment)
            {
                member.SentAssignment = sent;
                response.Assignment = new ConsumerGroupHeartbeatResponse.AssignmentData
                {
                    TopicPartitions = [.. member.Assigned.GroupBy(p => p.Topic).Select(g => new ConsumerGroupHeartbeatResponse.TopicPartitions
                    {
                        TopicId = g.Key,
                        Partitions = [.. g.Select(p => p.Partition).Order()],
                    })],
                };
            }

            return response;
        }
    }

    /// <summary>The groups and their states, for ListGroups.</summary>
    public List<(string Id, string State)> List()
    {
        var groups = new List<(string, string)>();
        foreach (ConsumerGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                groups.Add((group.Id, State(group)));
            }
        }

        return groups;
    }

    /// <summary>ConsumerGroupDescribe of one group; GROUP_ID_NOT_FOUND when it is not a consumer group.</summary>
    public ConsumerGroupDescribeResponse.DescribedGroup Describe(string groupId)
    {
        var described = new ConsumerGroupDescribeResponse.DescribedGroup { GroupId = groupId, ErrorMessage = null };
        if (!_groups.TryGetValue(groupId, out ConsumerGroup? group))
        {
            described.ErrorCode = (short)ErrorCode.GroupIdNotFound;
            described.GroupState = "Dead";
            return described;
        }

        lock (group.Sync)
        {
            described.GroupState = State(group);
            described.GroupEpoch = group.GroupEpoch;
            described.AssignmentEpoch = group.AssignmentEpoch;
            described.AssignorName = Assignor(group);
            foreach (ConsumerMember member in group.Members.Values)
            {
                described.Members.Add(new ConsumerGroupDescribeResponse.Member
                {
                    MemberId = member.Id,
                    InstanceId = member.InstanceId,
                    RackId = member.RackId,
                    MemberEpoch = member.Epoch,
                    ClientId = member.ClientId,
                    ClientHost = member.ClientHost,
                    SubscribedTopicNames = [.. member.SubscribedNames],
                    SubscribedTopicRegex = member.SubscribedRegex,
                    Assignment = Describe(member.Assigned),
                    TargetAssignment = Describe(member.Target),
                });
            }
        }

        return described;
    }

    private ConsumerGroupDescribeResponse.Assignment Describe(HashSet<(Guid Topic, int Partition)> partitions) => new()
    {
        TopicPartitions = [.. partitions.GroupBy(p => p.Topic).Select(g => new ConsumerGroupDescribeResponse.TopicPartitions
        {
            TopicId = g.Key,
            TopicName = topics.Get(g.Key)?.Name ?? "",
            Partitions = [.. g.Select(p => p.Partition).Order()],
        })],
    };

    private static string State(ConsumerGroup group) =>
        group.Members.Count == 0 ? "Empty"
        : group.AssignmentEpoch < group.GroupEpoch ? "Assigning"
        : group.Members.Values.All(m => m.Epoch == group.AssignmentEpoch && m.PendingRevocation.Count == 0 && m.Assigned.SetEquals(m.Target)) ? "Stable"
        : "Reconciling";

    /// <summary>The assignor the members ask for (the first one named), uniform by default.</summary>
    private static string Assignor(ConsumerGroup group) =>
        group.Members.Values.OrderBy(m => m.Id, StringComparer.Ordinal).Select(m => m.Assignor).FirstOrDefault(a => a is not null) ?? "uniform";

    /// <summary>OffsetCommit for a member of a consumer group: the epoch must be the member's current one.</summary>
    public ErrorCode Commit(string groupId, string memberId, int memberEpoch, IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> committed)
    {
        if (!_groups.TryGetValue(groupId, out ConsumerGroup? group))
        {
            return ErrorCode.GroupIdNotFound;
        }

        lock (group.Sync)
        {
            if (memberId.Length == 0 && memberEpoch < 0 && group.Members.Count == 0)
            {
                // An admin resetting offsets of an empty group.
            }
            else if (!group.Members.TryGetValue(memberId, out ConsumerMember? member))
            {
                return ErrorCode.UnknownMemberId;
            }
            else if (memberEpoch != member.Epoch)
            {
                return ErrorCode.StaleMemberEpoch;
            }
        }

        offsets.Store(groupId, committed);
        return ErrorCode.None;
    }

    /// <summary>Removes members whose session expired; the next heartbeats of the others reassign their partitions.</summary>
    public void Tick()
    {
        long now = time.GetTimestamp();
        foreach (ConsumerGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                foreach (ConsumerMember member in group.Members.Values.ToList())
                {
                    if (time.GetElapsedTime(member.LastSeen, now) >= options.SessionTimeout)
                    {
                        group.Members.Remove(member.Id);
                        group.GroupEpoch++;
                    }
                }
            }
        }
    }

    private static ConsumerGroupHeartbeatResponse Fail(ErrorCode error, string message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message, MemberId = null };

    /// <summary>The subscribed topics with their ids and partition counts, as one comparable string.</summary>
    private string Fingerprint(ConsumerGroup group) =>
        string.Join(';', SubscribedTopics(group).Select(t => $"{t.Name}/{t.Id}/{t.Partitions.Length}"));

    private IEnumerable<Topic> SubscribedTopics(ConsumerGroup group) =>
        topics.Topics.Where(t => group.Members.Values.Any(m => Subscribes(m, t.Name))).OrderBy(t => t.Name, StringComparer.Ordinal);

    private static bool Subscribes(ConsumerMember member, string topic) =>
        member.SubscribedNames.Contains(topic) ||
        (member.SubscribedRegex is { } pattern && Regex.IsMatch(topic, "^(?:" + pattern + ")$", RegexOptions.None, TimeSpan.FromMilliseconds(100)));

    private void ComputeTargetAssignment(ConsumerGroup group)
    {
        foreach (ConsumerMember member in group.Members.Values)
        {
            member.Target.Clear();
        }

        bool range = Assignor(group) == "range";
        int offset = 0;
        foreach (Topic topic in SubscribedTopics(group))
        {
            List<ConsumerMember> subscribers = [.. group.Members.Values.Where(m => Subscribes(m, topic.Name)).OrderBy(m => m.Id, StringComparer.Ordinal)];
            int count = topic.Partitions.Length;
            for (int p = 0; p < count; p++)
            {
                // range: contiguous blocks per topic, the first (count % members) one larger;
                // uniform: dealt round-robin, continuing across topics so members end up even.
                int owner = range
                    ? RangeOwner(p, count, subscribers.Count)
                    : (p + offset) % subscribers.Count;
                subscribers[owner].Target.Add((topic.Id, p));
            }

            offset += count;
        }

        group.AssignmentEpoch = group.GroupEpoch;
    }

    private static int RangeOwner(int partition, int partitions, int members)
    {
        int size = partitions / members, larger = partitions % members;
        int boundary = larger * (size + 1);
        return partition < boundary ? partition / (size + 1) : larger + ((partition - boundary) / Math.Max(size, 1));
    }

    private static void Reconcile(ConsumerGroup group, ConsumerMember member)
    {
        // 1. Give up what the target takes away; the member keeps its epoch until it stops owning it.
        foreach ((Guid, int) lost in member.Assigned.Where(p => !member.Target.Contains(p)).ToList())
        {
            member.Assigned.Remove(lost);
            member.PendingRevocation.Add(lost);
        }

        member.PendingRevocation.RemoveWhere(p => !member.Owned.Contains(p));
        if (member.PendingRevocation.Count > 0)
        {
            return;
        }

        if (member.Epoch != group.AssignmentEpoch)
        {
            member.PreviousEpoch = member.Epoch;
            member.Epoch = group.AssignmentEpoch;
        }

        // 2. Take what the target adds, partition by partition, once nobody else holds it.
        foreach ((Guid, int) wanted in member.Target)
        {
            if (!member.Assigned.Contains(wanted) &&
                !group.Members.Values.Any(o => o != member && (o.Assigned.Contains(wanted) || o.PendingRevocation.Contains(wanted))))
            {
                member.Assigned.Add(wanted);
            }
        }
    }

    private sealed class ConsumerGroup(string id)
    {
        public string Id { get; } = id;

        public Lock Sync { get; } = new();

        public int GroupEpoch { get; set; }

        public int AssignmentEpoch { get; set; }

        public string? MetadataFingerprint { get; set; }

        public Dictionary<string, ConsumerMember> Members { get; } = new(StringComparer.Ordinal);
    }

    private sealed class ConsumerMember(string id)
    {
        public string Id { get; } = id;

        public string? InstanceId { get; set; }

        public string? RackId { get; set; }

        public string ClientId { get; set; } = "";

        public string ClientHost { get; set; } = "";

        public string? Assignor { get; set; }

        public int Epoch { get; set; }

        public int PreviousEpoch { get; set; } = -1;

        public List<string> SubscribedNames { get; set; } = [];

        public string? SubscribedRegex { get; set; }

        public HashSet<(Guid Topic, int Partition)> Target { get; } = [];

        public HashSet<(Guid Topic, int Partition)> Assigned { get; } = [];

        public HashSet<(Guid Topic, int Partition)> PendingRevocation { get; } = [];

        public HashSet<(Guid Topic, int Partition)> Owned { get; set; } = [];

        public string? SentAssignment { get; set; }

        public long LastSeen { get; set; }
    }
}

/// <summary>Server-side group settings (group.consumer.* in Kafka).</summary>
internal sealed record ConsumerGroupOptions(TimeSpan HeartbeatInterval, TimeSpan SessionTimeout);
