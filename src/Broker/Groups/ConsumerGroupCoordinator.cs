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
/// A group whose last member leaves or expires is removed (Kafka converts an empty group between
/// protocols): its committed offsets stay with the id's entry, so classic consumers can use the id
/// again.</para>
/// <para>Ids: each group hangs on its id's <see cref="GroupEntry"/> in the <see cref="OffsetManager"/>
/// and uses that entry's lock (<see cref="ConsumerGroup"/>), so the two protocols never both claim an
/// id and commits are checked and stored atomically with fencing
/// (<see cref="OffsetManager.Commit(string, string, string?, int, IReadOnlyList{ValueTuple{string, int, CommittedOffset}}, out OffsetPosition, out Task?)"/>).</para>
/// <para>Subscriptions: a member's regex is validated and compiled once when it sets it (linear-time
/// engine, <see cref="TopicRegex"/>; an invalid one fails only that member's heartbeat with
/// INVALID_REGULAR_EXPRESSION). Which topics the group subscribes to is cached per topic name until a
/// subscription changes, so a heartbeat costs one pass over the topic names, with no regex run.</para>
/// <para>Thread-safety: one lock per group id.</para>
/// </remarks>
internal sealed class ConsumerGroupCoordinator(TimeProvider time, TopicRegistry topics, OffsetManager offsets, ConsumerGroupOptions options)
{
    private readonly ConcurrentDictionary<string, ConsumerGroup> _groups = new(StringComparer.Ordinal);
    private long _regexTimeouts;
    private long _regexEvaluations;

    /// <summary>True when <paramref name="groupId"/> is a server-side (consumer) group.</summary>
    public bool Owns(string groupId) => _groups.ContainsKey(groupId);

    /// <summary>Regex matches that hit <see cref="TopicRegex.MatchTimeout"/> (counted as no match). Stays 0 with a linear-time engine.</summary>
    public long RegexTimeouts => Interlocked.Read(ref _regexTimeouts);

    /// <summary>Regex matches run (for tests: steady heartbeats run none).</summary>
    internal long RegexEvaluations => Interlocked.Read(ref _regexEvaluations);

    public ConsumerGroupHeartbeatResponse Heartbeat(ConsumerGroupHeartbeatRequest request, string clientId = "", string clientHost = "")
    {
        if (string.IsNullOrEmpty(request.GroupId) || !GroupLimits.Fits(request.GroupId))
        {
            return Fail(ErrorCode.InvalidGroupId, "The group id is empty or over 32767 bytes.");
        }

        if (!GroupLimits.Fits(request.MemberId) || !GroupLimits.Fits(request.InstanceId) || !GroupLimits.Fits(request.RackId))
        {
            return Fail(ErrorCode.InvalidRequest, "A member id, instance id or rack id is over 32767 bytes.");
        }

        if (request.ServerAssignor is { } assignor && assignor is not ("uniform" or "range"))
        {
            return Fail(ErrorCode.UnsupportedAssignor, $"Assignor '{assignor}' is not supported (uniform, range).");
        }

        if (request.MemberEpoch is -1 or -2)
        {
            return Leave(request);
        }

        GroupEntry? entry = request.MemberEpoch == 0 ? offsets.EnterLive(request.GroupId) : offsets.EnterExisting(request.GroupId);
        if (entry is null)
        {
            return Fail(ErrorCode.UnknownMemberId, "Unknown member; rejoin with epoch 0.");
        }

        try
        {
            return Heartbeat(entry, request, clientId, clientHost);
        }
        finally
        {
            offsets.RemoveIfUnused(entry); // a refused first heartbeat leaves nothing behind
            entry.Sync.Exit();
        }
    }

    private ConsumerGroupHeartbeatResponse Heartbeat(GroupEntry entry, ConsumerGroupHeartbeatRequest request, string clientId, string clientHost)
    {
        var group = entry.Owner as ConsumerGroup;
        ConsumerMember? member = null;
        if (group is not null && request.MemberId.Length > 0)
        {
            group.Members.TryGetValue(request.MemberId, out member);
        }

        if (request.MemberEpoch != 0)
        {
            if (member is null)
            {
                return Fail(ErrorCode.UnknownMemberId, "Unknown member; rejoin with epoch 0.");
            }

            if (request.MemberEpoch != member.Epoch && request.MemberEpoch != member.PreviousEpoch)
            {
                return Fail(ErrorCode.FencedMemberEpoch, $"Epoch {request.MemberEpoch} is not the member's ({member.Epoch}).");
            }
        }

        // Validate (and compile, once) a new regex before anything changes: a bad one fails this member only.
        // A static member's new incarnation (epoch 0, a new member id) is compared with the member it
        // replaces, whose subscription it takes over: sending the same regex again changes nothing, so it
        // must not bump the group epoch and disturb the others (as for topic names, KIP-848).
        ConsumerMember? basis = member;
        if (request.MemberEpoch == 0 && request.InstanceId is { } rejoining && group is not null)
        {
            basis = group.Members.Values.FirstOrDefault(m => m.InstanceId == rejoining && m.Id != request.MemberId) ?? member;
        }

        Regex? compiled = null;
        bool regexChanged = request.SubscribedTopicRegex is { } pattern && pattern != (basis?.SubscribedRegex ?? "");
        if (regexChanged && request.SubscribedTopicRegex!.Length > 0 && !TopicRegex.TryCompile(request.SubscribedTopicRegex, out compiled, out string? invalid))
        {
            return Fail(ErrorCode.InvalidRegularExpression, invalid!);
        }

        if (group is null)
        {
            if (entry.InUse)
            {
                return Fail(ErrorCode.GroupIdNotFound, "The group is in use by classic consumers.");
            }

            group = new ConsumerGroup(entry); // the id has no members: the server-side protocol takes it
            entry.Owner = group;
            _groups[group.Id] = group;
        }

        long now = time.GetTimestamp();
        if (request.MemberEpoch == 0)
        {
            string id = request.MemberId.Length > 0 ? request.MemberId : Guid.NewGuid().ToString("N");
            if (request.InstanceId is { } instance &&
                group.Members.Values.FirstOrDefault(m => m.InstanceId == instance && m.Id != id) is { } previous)
            {
                // KIP-345/848: the new incarnation of a static member takes the old one's place, epoch
                // and partitions; no epoch bump, so no other member is disturbed.
                group.Members.Remove(previous.Id);
                member = previous.Replaced(id);
                group.Members[id] = member;
            }
            else if (member is null || member.Id != id)
            {
                member = new ConsumerMember(id);
                group.Members[id] = member;
                group.GroupEpoch++;
                group.SubscriptionVersion++;
            }
            else if (member.InstanceId is null || member.InstanceId != request.InstanceId)
            {
                // A dynamic member rejoining starts over; a static one back under its own id (after
                // leaving with epoch -2) keeps its partitions.
                member.Assigned.Clear();
                member.PendingRevocation.Clear();
                member.Epoch = 0;
            }

            member.SentAssignment = null;
        }
        else if (member is null)
        {
            return Fail(ErrorCode.UnknownMemberId, "Unknown member; rejoin with epoch 0."); // checked above; for the compiler
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

        if (request.SubscribedTopicNames is { } names && !member.SubscribedNameSet.SetEquals(names))
        {
            member.SubscribedNames = [.. names];
            member.SubscribedNameSet = new HashSet<string>(names, StringComparer.Ordinal);
            group.GroupEpoch++;
            group.SubscriptionVersion++;
        }

        if (regexChanged)
        {
            member.SubscribedRegex = request.SubscribedTopicRegex!.Length == 0 ? null : request.SubscribedTopicRegex;
            member.CompiledRegex = compiled;
            group.GroupEpoch++;
            group.SubscriptionVersion++;
        }

        if (request.TopicPartitions is { } owned)
        {
            member.Owned = owned.SelectMany(t => t.Partitions.Select(p => (t.TopicId, p))).ToHashSet();
        }

        if (SubscribedMetadataChanged(group))
        {
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

    /// <summary>Epoch -1 (leave) or -2 (a static member leaving "to come back"): creates nothing.</summary>
    private ConsumerGroupHeartbeatResponse Leave(ConsumerGroupHeartbeatRequest request)
    {
        var answer = new ConsumerGroupHeartbeatResponse { MemberId = request.MemberId, MemberEpoch = request.MemberEpoch, ErrorMessage = null };
        if (offsets.EnterExisting(request.GroupId) is not { } entry)
        {
            return answer;
        }

        try
        {
            if (entry.Owner is ConsumerGroup group && group.Members.TryGetValue(request.MemberId, out ConsumerMember? leaving))
            {
                if (request.MemberEpoch == -1)
                {
                    RemoveMember(group, leaving.Id);
                    DissolveIfEmpty(group);
                }
                else
                {
                    // It keeps its partitions until it rejoins under its instance id or its session
                    // times out (as Kafka does).
                    leaving.LastSeen = time.GetTimestamp();
                }
            }

            return answer;
        }
        finally
        {
            entry.Sync.Exit();
        }
    }

    private static void RemoveMember(ConsumerGroup group, string memberId)
    {
        if (group.Members.Remove(memberId))
        {
            group.GroupEpoch++;
            group.SubscriptionVersion++;
        }
    }

    /// <summary>A group without members goes; its offsets stay with the id's classic entry (under its lock).</summary>
    private void DissolveIfEmpty(ConsumerGroup group)
    {
        if (group.Members.Count > 0)
        {
            return;
        }

        GroupEntry entry = group.Entry;
        entry.Owner = null;
        entry.EmptySince = time.GetTimestamp(); // offset retention runs from now
        _groups.TryRemove(new KeyValuePair<string, ConsumerGroup>(group.Id, group));
        offsets.RemoveIfUnused(entry);
    }

    /// <summary>The groups and their states.</summary>
    public List<(string Id, string State)> List()
    {
        var groups = new List<(string, string)>();
        foreach (ConsumerGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (group.Entry.Owner == group)
                {
                    groups.Add((group.Id, group.State));
                }
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
            if (group.Entry.Owner != group)
            {
                described.ErrorCode = (short)ErrorCode.GroupIdNotFound; // dissolved meanwhile
                described.GroupState = "Dead";
                return described;
            }

            described.GroupState = group.State;
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

    /// <summary>The assignor the members ask for (the first one named), uniform by default.</summary>
    private static string Assignor(ConsumerGroup group) =>
        group.Members.Values.OrderBy(m => m.Id, StringComparer.Ordinal).Select(m => m.Assignor).FirstOrDefault(a => a is not null) ?? "uniform";

    /// <summary>Removes members whose session expired; the next heartbeats of the others reassign their partitions.</summary>
    public void Tick()
    {
        long now = time.GetTimestamp();
        foreach (ConsumerGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (group.Entry.Owner != group)
                {
                    // Dissolved meanwhile, or unloaded: this broker no longer coordinates it (cluster mode).
                    _groups.TryRemove(new KeyValuePair<string, ConsumerGroup>(group.Id, group));
                    continue;
                }

                foreach (ConsumerMember member in group.Members.Values.ToList())
                {
                    if (time.GetElapsedTime(member.LastSeen, now) >= options.SessionTimeout)
                    {
                        RemoveMember(group, member.Id);
                    }
                }

                DissolveIfEmpty(group);
            }
        }
    }

    private static ConsumerGroupHeartbeatResponse Fail(ErrorCode error, string message) =>
        new() { ErrorCode = (short)error, ErrorMessage = message, MemberId = null };

    /// <summary>
    /// Whether the subscribed topics (names, ids, partition counts) differ from what the group last
    /// saw; updates <see cref="ConsumerGroup.SubscribedMetadata"/>. One pass over the topics, each
    /// answered from the group's match cache; regexes run only for topics new to the cache.
    /// </summary>
    private bool SubscribedMetadataChanged(ConsumerGroup group)
    {
        ICollection<Topic> all = topics.Topics; // one snapshot per heartbeat
        if (group.TopicMatchesVersion != group.SubscriptionVersion || group.TopicMatches.Count > (2 * all.Count) + 64)
        {
            group.TopicMatches.Clear(); // subscriptions changed (or deleted topics piled up): match again
            group.TopicMatchesVersion = group.SubscriptionVersion;
        }

        int subscribed = 0;
        bool changed = false;
        foreach (Topic topic in all)
        {
            if (!group.TopicMatches.TryGetValue(topic.Name, out bool matches))
            {
                matches = false;
                foreach (ConsumerMember member in group.Members.Values)
                {
                    if (Subscribes(member, topic.Name))
                    {
                        matches = true;
                        break;
                    }
                }

                group.TopicMatches[topic.Name] = matches;
            }

            if (matches)
            {
                subscribed++;
                changed |= !group.SubscribedMetadata.TryGetValue(topic.Name, out (Guid Id, int Partitions) seen) ||
                    seen.Id != topic.Id || seen.Partitions != topic.Partitions.Length;
            }
        }

        if (!changed && subscribed == group.SubscribedMetadata.Count)
        {
            return false;
        }

        group.SubscribedMetadata.Clear();
        foreach (Topic topic in all)
        {
            if (group.TopicMatches.GetValueOrDefault(topic.Name))
            {
                group.SubscribedMetadata[topic.Name] = (topic.Id, topic.Partitions.Length);
            }
        }

        return true;
    }

    /// <summary>The subscribed topics as last seen, sorted by name.</summary>
    private List<Topic> SubscribedTopics(ConsumerGroup group)
    {
        var subscribed = new List<Topic>(group.SubscribedMetadata.Count);
        foreach (string name in group.SubscribedMetadata.Keys)
        {
            if (topics.Get(name) is { } topic)
            {
                subscribed.Add(topic);
            }
        }

        subscribed.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return subscribed;
    }

    private bool Subscribes(ConsumerMember member, string topic)
    {
        if (member.SubscribedNameSet.Contains(topic))
        {
            return true;
        }

        if (member.CompiledRegex is not { } regex)
        {
            return false;
        }

        try
        {
            Interlocked.Increment(ref _regexEvaluations);
            return regex.IsMatch(topic);
        }
        catch (RegexMatchTimeoutException)
        {
            Interlocked.Increment(ref _regexTimeouts);
            return false;
        }
    }

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
            // Static members sort by instance id, so a restarted one (new member id) lands where it was.
            List<ConsumerMember> subscribers = [.. group.Members.Values.Where(m => Subscribes(m, topic.Name)).OrderBy(m => m.InstanceId ?? m.Id, StringComparer.Ordinal)];
            if (subscribers.Count == 0)
            {
                continue;
            }

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
}

/// <summary>Server-side group settings (group.consumer.* in Kafka).</summary>
internal sealed record ConsumerGroupOptions(TimeSpan HeartbeatInterval, TimeSpan SessionTimeout);
