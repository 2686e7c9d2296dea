using System.Collections.Concurrent;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Groups;

/// <summary>Where committed offsets are made durable (and read back at start).</summary>
internal interface IOffsetStore
{
    /// <summary>
    /// Records commits (or, with a null offset, deletions) before they are acknowledged; returns the
    /// position to pass to <see cref="WhenDurableAsync"/>. Throws (an <see cref="IOException"/>, with
    /// nothing stored) when it cannot.
    /// </summary>
    long Append(string group, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes);

    /// <summary>Completes once everything appended before <paramref name="position"/> is on stable storage.</summary>
    Task WhenDurableAsync(long position);

    /// <summary>Every group's committed offsets as last stored.</summary>
    IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> Load();
}

/// <summary>
/// The classic group coordinator: one node coordinates every group. Implements the
/// Empty → PreparingRebalance → CompletingRebalance → Stable state machine, KIP-394 member ids,
/// static membership, session and rebalance timeouts, and committed offsets.
/// </summary>
/// <remarks>
/// <para>Timing goes through the injected <see cref="TimeProvider"/>; <see cref="Tick"/> (called
/// periodically by the broker, directly by tests) ends join phases whose deadline passed and
/// expires silent members.</para>
/// <para>Group ids: every id, classic or server-side (KIP-848), has one <see cref="ClassicGroup"/> entry
/// here, which holds its committed offsets and its lock. A server-side group hangs off its entry
/// (<see cref="ClassicGroup.ServerSide"/>) while it has members, so the two protocols never both
/// claim an id, and commits are checked by whichever protocol owns the id at that moment.</para>
/// <para>Thread-safety: each group has its own lock; JoinGroup and SyncGroup answers that must wait
/// are task completions resolved under that lock and continued asynchronously.</para>
/// </remarks>
internal sealed partial class GroupCoordinator
{
    /// <summary>After a failed offset expiry, how long before the group is tried again.</summary>
    private static readonly TimeSpan ExpiryRetry = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, ClassicGroup> _groups = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly GroupOptions _options;
    private readonly IOffsetStore _store;
    private readonly ILogger _logger;

    public GroupCoordinator(TimeProvider time, GroupOptions options, IOffsetStore store, ILogger<GroupCoordinator>? logger = null)
    {
        _time = time;
        _options = options;
        _store = store;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        long now = time.GetTimestamp();
        long nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach ((string group, string topic, int partition, CommittedOffset offset) in store.Load())
        {
            ClassicGroup loaded = GetOrCreate(group);
            loaded.Offsets[(topic, partition)] = offset;

            // Retention runs from the group's last commit as the log recorded it, not from this start
            // (a broker restarted more often than the retention would otherwise never expire anything).
            long age = Math.Clamp(nowMs - offset.CommitTimestamp, 0, (long)TimeSpan.FromDays(3650).TotalMilliseconds);
            long committedAt = now - (long)(age / 1000.0 * time.TimestampFrequency);
            if (loaded.Offsets.Count == 1 || committedAt > loaded.EmptySince)
            {
                loaded.EmptySince = committedAt;
            }
        }
    }

    public ClassicGroup? Find(string groupId) => _groups.GetValueOrDefault(groupId);

    private ClassicGroup GetOrCreate(string groupId) => _groups.GetOrAdd(groupId, id => new ClassicGroup(id) { EmptySince = _time.GetTimestamp() });

    /// <summary>
    /// The live entry of <paramref name="groupId"/>, created when missing, with its lock held (the
    /// caller releases <see cref="ClassicGroup.Sync"/>). Never a Dead entry: one removed meanwhile is
    /// created again.
    /// </summary>
    internal ClassicGroup EnterLive(string groupId)
    {
        while (true)
        {
            ClassicGroup group = GetOrCreate(groupId);
            group.Sync.Enter();
            if (group.State != GroupState.Dead)
            {
                return group;
            }

            group.Sync.Exit();
        }
    }

    /// <summary>The live entry of <paramref name="groupId"/> with its lock held, or null when there is none.</summary>
    internal ClassicGroup? EnterExisting(string groupId)
    {
        while (_groups.GetValueOrDefault(groupId) is { } group)
        {
            group.Sync.Enter();
            if (group.State != GroupState.Dead)
            {
                return group;
            }

            group.Sync.Exit();
        }

        return null;
    }

    /// <summary>Drops an entry that holds nothing: no members of either protocol, no offsets (call under its lock).</summary>
    internal void RemoveIfUnused(ClassicGroup group)
    {
        if (group.State == GroupState.Empty && group.ServerSide is null && group.Members.Count == 0 &&
            group.PendingMemberIds.Count == 0 && group.Offsets.Count == 0)
        {
            group.State = GroupState.Dead;
            _groups.TryRemove(new KeyValuePair<string, ClassicGroup>(group.Id, group));
        }
    }

    /// <summary>Completes once the offset store has made durable everything up to <paramref name="position"/> (see <see cref="Commit(string, string, string?, int, IReadOnlyList{ValueTuple{string, int, CommittedOffset}}, out long)"/>).</summary>
    public Task WhenDurableAsync(long position) => _store.WhenDurableAsync(position);

    /// <summary>JoinGroup. The task completes when the join phase ends (or at once with an error).</summary>
    public Task<JoinGroupResponse> JoinAsync(JoinGroupRequest request, short version, string clientId, string clientHost)
    {
        if (string.IsNullOrEmpty(request.GroupId) || !GroupLimits.Fits(request.GroupId))
        {
            return Error(ErrorCode.InvalidGroupId);
        }

        if (!GroupLimits.Fits(request.MemberId) || !GroupLimits.Fits(request.GroupInstanceId) || !GroupLimits.Fits(request.ProtocolType) ||
            request.Protocols.Exists(p => !GroupLimits.Fits(p.Name)))
        {
            return Error(ErrorCode.InvalidRequest);
        }

        var sessionTimeout = TimeSpan.FromMilliseconds(request.SessionTimeoutMs);
        if (sessionTimeout < _options.MinSessionTimeout || sessionTimeout > _options.MaxSessionTimeout)
        {
            return Error(ErrorCode.InvalidSessionTimeout);
        }

        ClassicGroup group = EnterLive(request.GroupId);
        try
        {
            if (group.ServerSide is not null)
            {
                return Error(ErrorCode.InconsistentGroupProtocol); // a server-side group with members holds the id
            }

            if (!IsCompatible(group, request))
            {
                return Error(ErrorCode.InconsistentGroupProtocol);
            }

            long now = _time.GetTimestamp();
            GroupMember? member;
            if (request.MemberId.Length == 0)
            {
                // Kafka's client id + "-" + UUID, with the client id cut so the id always fits a STRING.
                string newId = GroupLimits.MemberIdPrefix(clientId) + "-" + Guid.NewGuid().ToString("N");
                if (request.GroupInstanceId is { } instance)
                {
                    if (group.StaticMembers.TryGetValue(instance, out string? oldId) && group.Members.Remove(oldId, out GroupMember? old))
                    {
                        // The new incarnation fences the old one (FENCED_INSTANCE_ID for its later requests).
                        old.PendingJoin?.TrySetResult(new JoinGroupResponse { ErrorCode = (short)ErrorCode.FencedInstanceId, MemberId = oldId });
                        old.PendingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.FencedInstanceId });
                        if (group.LeaderId == oldId)
                        {
                            group.LeaderId = newId;
                        }
                    }

                    group.StaticMembers[instance] = newId;
                }
                else if (version >= 4)
                {
                    group.PendingMemberIds[newId] = now + _time.TimestampFrequency * (long)sessionTimeout.TotalSeconds;
                    return Task.FromResult(new JoinGroupResponse { ErrorCode = (short)ErrorCode.MemberIdRequired, MemberId = newId });
                }

                member = new GroupMember(newId) { InstanceId = request.GroupInstanceId };
                group.Members[newId] = member;
            }
            else if (group.PendingMemberIds.Remove(request.MemberId))
            {
                member = new GroupMember(request.MemberId);
                group.Members[member.Id] = member;
            }
            else if (!group.Members.TryGetValue(request.MemberId, out member))
            {
                return request.GroupInstanceId is { } instance && group.StaticMembers.ContainsKey(instance)
                    ? Error(ErrorCode.FencedInstanceId)
                    : Error(ErrorCode.UnknownMemberId);
            }

            member.ClientId = clientId;
            member.ClientHost = clientHost;
            member.SessionTimeout = sessionTimeout;
            member.RebalanceTimeout = request.RebalanceTimeoutMs > 0 ? TimeSpan.FromMilliseconds(request.RebalanceTimeoutMs) : sessionTimeout;
            member.Protocols = [.. request.Protocols.Select(p => (p.Name, p.Metadata.ToArray()))];
            member.LastSeen = now;
            member.PendingJoin?.TrySetResult(new JoinGroupResponse { ErrorCode = (short)ErrorCode.UnknownMemberId, MemberId = member.Id });
            member.PendingJoin = new TaskCompletionSource<JoinGroupResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<JoinGroupResponse> answer = member.PendingJoin.Task; // the join phase may end right below
            group.ProtocolType = request.ProtocolType;
            if (group.State != GroupState.PreparingRebalance)
            {
                PrepareRebalance(group, now);
            }

            TryCompleteJoin(group, now);
            return answer;
        }
        finally
        {
            RemoveIfUnused(group); // a refused join leaves nothing behind
            group.Sync.Exit();
        }
    }

    /// <summary>SyncGroup. Followers wait for the leader's assignment; the leader's completes the rebalance.</summary>
    public Task<SyncGroupResponse> SyncAsync(SyncGroupRequest request)
    {
        if (_groups.GetValueOrDefault(request.GroupId) is not { } group)
        {
            return Task.FromResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.UnknownMemberId });
        }

        lock (group.Sync)
        {
            ErrorCode error = CheckMember(group, request.MemberId, request.GroupInstanceId, request.GenerationId);
            if (error == ErrorCode.None && group.State == GroupState.PreparingRebalance)
            {
                error = ErrorCode.RebalanceInProgress;
            }

            if (error != ErrorCode.None)
            {
                return Task.FromResult(new SyncGroupResponse { ErrorCode = (short)error });
            }

            GroupMember member = group.Members[request.MemberId];
            member.LastSeen = _time.GetTimestamp();
            if (group.State == GroupState.Stable)
            {
                return Task.FromResult(Assignment(group, member));
            }

            member.PendingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.RebalanceInProgress });
            member.PendingSync = new TaskCompletionSource<SyncGroupResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<SyncGroupResponse> answer = member.PendingSync.Task;
            if (member.Id == group.LeaderId)
            {
                foreach (GroupMember m in group.Members.Values)
                {
                    m.Assignment = [];
                }

                foreach (SyncGroupRequest.SyncGroupRequestAssignment assignment in request.Assignments)
                {
                    if (group.Members.TryGetValue(assignment.MemberId, out GroupMember? target))
                    {
                        target.Assignment = assignment.Assignment.ToArray();
                    }
                }

                group.State = GroupState.Stable;
                foreach (GroupMember m in group.Members.Values)
                {
                    m.PendingSync?.TrySetResult(Assignment(group, m));
                    m.PendingSync = null;
                }
            }

            return answer;
        }
    }

    /// <summary>Heartbeat: liveness, and REBALANCE_IN_PROGRESS to tell a member to rejoin.</summary>
    public ErrorCode Heartbeat(string groupId, string memberId, string? instanceId, int generation)
    {
        if (_groups.GetValueOrDefault(groupId) is not { } group)
        {
            return ErrorCode.UnknownMemberId;
        }

        lock (group.Sync)
        {
            ErrorCode error = CheckMember(group, memberId, instanceId, generation);
            if (error != ErrorCode.None)
            {
                return error;
            }

            group.Members[memberId].LastSeen = _time.GetTimestamp();
            return group.State == GroupState.PreparingRebalance ? ErrorCode.RebalanceInProgress : ErrorCode.None;
        }
    }

    /// <summary>LeaveGroup for one member (v0–2) or several (v3+): per-member errors.</summary>
    public List<(string MemberId, string? InstanceId, ErrorCode Error)> Leave(string groupId, IEnumerable<(string MemberId, string? InstanceId)> leaving)
    {
        var results = new List<(string, string?, ErrorCode)>();
        ClassicGroup? group = _groups.GetValueOrDefault(groupId);
        if (group is null)
        {
            results.AddRange(leaving.Select(l => (l.MemberId, l.InstanceId, ErrorCode.UnknownMemberId)));
            return results;
        }

        lock (group.Sync)
        {
            foreach ((string memberId, string? instanceId) in leaving)
            {
                string id = memberId.Length == 0 && instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out string? staticId) ? staticId : memberId;
                if (instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out string? current) && current != id)
                {
                    results.Add((memberId, instanceId, ErrorCode.FencedInstanceId));
                    continue;
                }

                if (!group.Members.ContainsKey(id))
                {
                    results.Add((memberId, instanceId, ErrorCode.UnknownMemberId));
                    continue;
                }

                RemoveMember(group, id, ErrorCode.UnknownMemberId);
                results.Add((memberId, instanceId, ErrorCode.None));
            }

            if (results.Exists(r => r.Item3 == ErrorCode.None))
            {
                MembershipChanged(group, _time.GetTimestamp());
            }
        }

        return results;
    }

    /// <summary>OffsetCommit: validates membership as Kafka does, then stores before answering.</summary>
    public ErrorCode Commit(string groupId, string memberId, string? instanceId, int generation,
        IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets) =>
        Commit(groupId, memberId, instanceId, generation, offsets, out _);

    /// <summary>
    /// OffsetCommit for either protocol: a classic member is checked against the classic group
    /// (member id, generation), a server-side member against its consumer group (member id, member
    /// epoch, given in <paramref name="generation"/>). The check and the store run under the group's
    /// lock, the same lock that fences members, so a member fenced meanwhile cannot commit after the
    /// partition's new owner. <paramref name="position"/> is for <see cref="WhenDurableAsync"/>.
    /// </summary>
    public ErrorCode Commit(string groupId, string memberId, string? instanceId, int generation,
        IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets, out long position)
    {
        position = 0;
        if (string.IsNullOrEmpty(groupId) || !GroupLimits.Fits(groupId))
        {
            return ErrorCode.InvalidGroupId;
        }

        ClassicGroup group = EnterLive(groupId);
        try
        {
            if (group.ServerSide is { } serverSide)
            {
                ErrorCode refused = serverSide.CheckCommit(memberId, generation);
                if (refused != ErrorCode.None)
                {
                    return refused;
                }
            }
            else if (generation >= 0 || memberId.Length > 0 || group.State != GroupState.Empty)
            {
                ErrorCode error = CheckMember(group, memberId, instanceId, generation);
                if (error != ErrorCode.None)
                {
                    return error;
                }

                if (group.State == GroupState.CompletingRebalance)
                {
                    return ErrorCode.RebalanceInProgress;
                }

                group.Members[memberId].LastSeen = _time.GetTimestamp();
            }

            return StoreLocked(group, offsets, out position);
        }
        finally
        {
            RemoveIfUnused(group);
            group.Sync.Exit();
        }
    }

    private ErrorCode StoreLocked(ClassicGroup group, IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets, out long position)
    {
        position = 0;
        if (offsets.Count == 0)
        {
            return ErrorCode.None;
        }

        try
        {
            position = _store.Append(group.Id, [.. offsets.Select(o => (o.Topic, o.Partition, (CommittedOffset?)o.Offset))]);
        }
        catch (OffsetStoreException e)
        {
            return e.Error;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Kafka answers a failed write of the offsets partition with NOT_COORDINATOR: retry elsewhere or later.
            Log.StoreFailed(_logger, e, group.Id);
            return ErrorCode.NotCoordinator;
        }

        foreach ((string topic, int partition, CommittedOffset offset) in offsets)
        {
            group.Offsets[(topic, partition)] = offset;
        }

        if (group.State == GroupState.Empty)
        {
            group.EmptySince = _time.GetTimestamp(); // no members: retention runs from the last commit
        }

        return ErrorCode.None;
    }

    /// <summary>Committed offsets of a group: the given partitions, or all of them when <paramref name="partitions"/> is null.</summary>
    public List<(string Topic, int Partition, CommittedOffset? Offset)> Fetch(string groupId, IEnumerable<(string Topic, int Partition)>? partitions)
    {
        ClassicGroup? group = _groups.GetValueOrDefault(groupId);
        if (group is null)
        {
            return partitions?.Distinct().Select(p => (p.Topic, p.Partition, (CommittedOffset?)null)).ToList() ?? [];
        }

        lock (group.Sync)
        {
            if (partitions is null)
            {
                return [.. group.Offsets.OrderBy(o => o.Key.Topic, StringComparer.Ordinal).ThenBy(o => o.Key.Partition).Select(o => (o.Key.Topic, o.Key.Partition, (CommittedOffset?)o.Value))];
            }

            // A partition asked for twice is answered once: the answer never grows faster than the question.
            var seen = new HashSet<(string, int)>();
            var results = new List<(string, int, CommittedOffset?)>();
            foreach ((string topic, int partition) in partitions)
            {
                if (seen.Add((topic, partition)))
                {
                    results.Add((topic, partition, group.Offsets.GetValueOrDefault((topic, partition))));
                }
            }

            return results;
        }
    }

    /// <summary>
    /// OffsetDelete: removes committed offsets of the given partitions. A group with members keeps the
    /// offsets of topics its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC for those partitions).
    /// </summary>
    public (ErrorCode Error, List<(string Topic, int Partition, ErrorCode Error)> Partitions) DeleteOffsets(
        string groupId, IReadOnlyList<(string Topic, int Partition)> partitions)
    {
        if (_groups.GetValueOrDefault(groupId) is not { } group)
        {
            return (ErrorCode.GroupIdNotFound, []);
        }

        lock (group.Sync)
        {
            HashSet<string> subscribed = SubscribedTopics(group);
            var results = new List<(string, int, ErrorCode)>();
            var deleted = new List<(string, int, CommittedOffset?)>();
            var seen = new HashSet<(string, int)>();
            foreach ((string topic, int partition) in partitions)
            {
                if (!seen.Add((topic, partition)))
                {
                    continue; // once per partition
                }

                if (subscribed.Contains(topic))
                {
                    results.Add((topic, partition, ErrorCode.GroupSubscribedToTopic));
                    continue;
                }

                if (group.Offsets.ContainsKey((topic, partition)))
                {
                    deleted.Add((topic, partition, null));
                }

                results.Add((topic, partition, ErrorCode.None));
            }

            if (!TryAppend(group.Id, deleted))
            {
                return (ErrorCode.NotCoordinator, []);
            }

            foreach ((string topic, int partition, CommittedOffset? _) in deleted)
            {
                group.Offsets.Remove((topic, partition));
            }

            return (ErrorCode.None, results);
        }
    }

    /// <summary>Appends deletions; false (logged) when the store fails.</summary>
    private bool TryAppend(string groupId, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes)
    {
        try
        {
            _store.Append(groupId, changes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Log.StoreFailed(_logger, e, groupId);
            return false;
        }
    }

    /// <summary>
    /// Topics the members subscribe to: for a server-side group its members' subscriptions, for a
    /// classic group read from the consumer-protocol metadata (unreadable metadata counts as none).
    /// </summary>
    private static HashSet<string> SubscribedTopics(ClassicGroup group)
    {
        var topics = new HashSet<string>(StringComparer.Ordinal);
        if (group.ServerSide is { } serverSide)
        {
            topics.UnionWith(serverSide.SubscribedMetadata.Keys);
            return topics;
        }

        if (group.ProtocolType != "consumer" || group.ProtocolName is not { } protocol)
        {
            return topics;
        }

        foreach (GroupMember member in group.Members.Values)
        {
            if (member.MetadataFor(protocol) is not { Length: >= 2 } metadata)
            {
                continue;
            }

            var reader = new Protocol.Primitives.KafkaReader(metadata);
            short version = Math.Min(reader.ReadInt16(), ConsumerProtocolSubscription.HighestVersion);
            var subscription = new ConsumerProtocolSubscription();
            subscription.Read(ref reader, Math.Max(version, (short)0));
            topics.UnionWith(subscription.Topics);
        }

        return topics;
    }

    /// <summary>Deletes an empty group and its offsets (DeleteGroups).</summary>
    public ErrorCode Delete(string groupId)
    {
        if (_groups.GetValueOrDefault(groupId) is not { } group)
        {
            return ErrorCode.GroupIdNotFound;
        }

        lock (group.Sync)
        {
            if (group.State != GroupState.Empty || group.ServerSide is not null)
            {
                return group.State == GroupState.Dead ? ErrorCode.GroupIdNotFound : ErrorCode.NonEmptyGroup;
            }

            if (!TryAppend(groupId, [.. group.Offsets.Keys.Select(k => (k.Topic, k.Partition, (CommittedOffset?)null))]))
            {
                return ErrorCode.NotCoordinator;
            }

            group.Offsets.Clear();
            group.State = GroupState.Dead;
            _groups.TryRemove(groupId, out _);
            return ErrorCode.None;
        }
    }

    /// <summary>Ends join phases whose time is up and removes members whose session expired.</summary>
    public void Tick()
    {
        long now = _time.GetTimestamp();
        foreach (ClassicGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                foreach ((string pending, long expires) in group.PendingMemberIds.ToList())
                {
                    if (now >= expires)
                    {
                        group.PendingMemberIds.Remove(pending);
                    }
                }

                bool removed = false;
                foreach (GroupMember member in group.Members.Values.ToList())
                {
                    // A member waiting in a join phase is alive; the join deadline decides about it.
                    if (member.PendingJoin is null && _time.GetElapsedTime(member.LastSeen, now) >= member.SessionTimeout)
                    {
                        RemoveMember(group, member.Id, ErrorCode.UnknownMemberId);
                        removed = true;
                    }
                }

                if (removed)
                {
                    MembershipChanged(group, now);
                }

                TryCompleteJoin(group, now);
                ExpireOffsets(group, now);
            }
        }
    }

    /// <summary>offsets.retention.minutes: an Empty group's offsets (and the group) go once it has been empty that long.</summary>
    private void ExpireOffsets(ClassicGroup group, long now)
    {
        if (group.State != GroupState.Empty || group.ServerSide is not null || now < group.ExpiryRetryAt ||
            _time.GetElapsedTime(group.EmptySince, now) < _options.OffsetsRetention)
        {
            return;
        }

        if (group.Offsets.Count > 0)
        {
            if (!TryAppend(group.Id, [.. group.Offsets.Keys.Select(k => (k.Topic, k.Partition, (CommittedOffset?)null))]))
            {
                group.ExpiryRetryAt = now + (long)(ExpiryRetry.TotalSeconds * _time.TimestampFrequency); // keep them, try later
                return;
            }

            group.Offsets.Clear();
        }

        group.State = GroupState.Dead;
        _groups.TryRemove(group.Id, out _);
    }

    /// <summary>
    /// ListGroups: every group once, classic or server-side (a server-side group's entry here is not
    /// listed again as classic), sorted by id.
    /// </summary>
    public List<(string Id, string State, string ProtocolType, string Type)> List()
    {
        var listed = new List<(string, string, string, string)>();
        foreach (ClassicGroup group in _groups.Values)
        {
            lock (group.Sync)
            {
                if (group.State == GroupState.Dead)
                {
                    continue;
                }

                listed.Add(group.ServerSide is { } serverSide
                    ? (group.Id, serverSide.State, "consumer", "consumer")
                    : (group.Id, group.State.ToString(), group.ProtocolType ?? "", "classic"));
            }
        }

        listed.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return listed;
    }

    /// <summary>
    /// DescribeGroups of one classic group: Dead with no error when unknown (as Kafka answers);
    /// GROUP_ID_NOT_FOUND when the id is a server-side group (use ConsumerGroupDescribe).
    /// </summary>
    public DescribeGroupsResponse.DescribedGroup Describe(string groupId)
    {
        var described = new DescribeGroupsResponse.DescribedGroup { GroupId = groupId, GroupState = nameof(GroupState.Dead) };
        if (_groups.GetValueOrDefault(groupId) is not { } group)
        {
            return described;
        }

        lock (group.Sync)
        {
            if (group.ServerSide is not null)
            {
                described.ErrorCode = (short)ErrorCode.GroupIdNotFound;
                return described;
            }

            described.GroupState = group.State.ToString();
            described.ProtocolType = group.ProtocolType ?? "";
            described.ProtocolData = group.State == GroupState.Stable || group.State == GroupState.CompletingRebalance ? group.ProtocolName ?? "" : "";
            foreach (GroupMember member in group.Members.Values)
            {
                described.Members.Add(new DescribeGroupsResponse.DescribedGroupMember
                {
                    MemberId = member.Id,
                    GroupInstanceId = member.InstanceId,
                    ClientId = member.ClientId,
                    ClientHost = member.ClientHost,
                    MemberMetadata = group.ProtocolName is { } p ? member.MetadataFor(p) ?? [] : [],
                    MemberAssignment = group.State == GroupState.Stable ? member.Assignment : [],
                });
            }
        }

        return described;
    }

    private static Task<JoinGroupResponse> Error(ErrorCode error) =>
        Task.FromResult(new JoinGroupResponse { ErrorCode = (short)error, ProtocolName = null });

    private static bool IsCompatible(ClassicGroup group, JoinGroupRequest request)
    {
        if (request.Protocols.Count == 0 || string.IsNullOrEmpty(request.ProtocolType))
        {
            return false;
        }

        if (group.Members.Count == 0 || (group.Members.Count == 1 && group.Members.ContainsKey(request.MemberId)))
        {
            return true;
        }

        if (group.ProtocolType != request.ProtocolType)
        {
            return false;
        }

        // Some protocol of the joiner must be supported by every other member.
        return request.Protocols.Exists(p => group.Members.Values.Where(m => m.Id != request.MemberId).All(m => m.MetadataFor(p.Name) is not null));
    }

    private static ErrorCode CheckMember(ClassicGroup group, string memberId, string? instanceId, int generation)
    {
        if (group.State == GroupState.Dead)
        {
            return ErrorCode.CoordinatorNotAvailable;
        }

        if (instanceId is not null && group.StaticMembers.TryGetValue(instanceId, out string? current) && current != memberId)
        {
            return ErrorCode.FencedInstanceId;
        }

        if (!group.Members.ContainsKey(memberId))
        {
            return ErrorCode.UnknownMemberId;
        }

        return generation != group.Generation ? ErrorCode.IllegalGeneration : ErrorCode.None;
    }

    private void PrepareRebalance(ClassicGroup group, long now)
    {
        bool fromEmpty = group.State == GroupState.Empty;
        if (group.State == GroupState.CompletingRebalance)
        {
            foreach (GroupMember m in group.Members.Values)
            {
                m.PendingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.RebalanceInProgress });
                m.PendingSync = null;
            }
        }

        group.State = GroupState.PreparingRebalance;
        TimeSpan timeout = group.Members.Values.Select(m => m.RebalanceTimeout).DefaultIfEmpty(TimeSpan.FromSeconds(30)).Max();
        group.JoinDeadline = now + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        group.JoinNotBefore = fromEmpty ? now + (long)(_options.InitialRebalanceDelay.TotalSeconds * _time.TimestampFrequency) : now;
    }

    private void MembershipChanged(ClassicGroup group, long now)
    {
        if (group.Members.Count == 0)
        {
            group.State = GroupState.Empty;
            group.Generation++;
            group.LeaderId = null;
            group.ProtocolName = null;
            group.EmptySince = now;
        }
        else if (group.State != GroupState.PreparingRebalance)
        {
            PrepareRebalance(group, now);
        }
    }

    private static void RemoveMember(ClassicGroup group, string memberId, ErrorCode reason)
    {
        if (group.Members.Remove(memberId, out GroupMember? member))
        {
            member.PendingJoin?.TrySetResult(new JoinGroupResponse { ErrorCode = (short)reason, MemberId = memberId });
            member.PendingSync?.TrySetResult(new SyncGroupResponse { ErrorCode = (short)reason });
            if (member.InstanceId is { } instance && group.StaticMembers.TryGetValue(instance, out string? id) && id == memberId)
            {
                group.StaticMembers.Remove(instance);
            }

            if (group.LeaderId == memberId)
            {
                group.LeaderId = null;
            }
        }
    }

    private void TryCompleteJoin(ClassicGroup group, long now)
    {
        if (group.State != GroupState.PreparingRebalance)
        {
            return;
        }

        bool everyoneJoined = group.PendingMemberIds.Count == 0 && group.Members.Values.All(m => m.PendingJoin is not null);
        bool timeUp = now >= group.JoinDeadline;
        if (!(everyoneJoined && now >= group.JoinNotBefore) && !timeUp)
        {
            return;
        }

        foreach (GroupMember missing in group.Members.Values.Where(m => m.PendingJoin is null).ToList())
        {
            RemoveMember(group, missing.Id, ErrorCode.UnknownMemberId);
        }

        if (group.Members.Count == 0)
        {
            MembershipChanged(group, now);
            return;
        }

        group.ProtocolName = ChooseProtocol(group);
        group.Generation++;
        group.LeaderId = group.LeaderId is { } leader && group.Members.ContainsKey(leader) ? leader : group.Members.Keys.First();
        group.State = GroupState.CompletingRebalance;
        foreach (GroupMember member in group.Members.Values)
        {
            var response = new JoinGroupResponse
            {
                GenerationId = group.Generation,
                ProtocolType = group.ProtocolType,
                ProtocolName = group.ProtocolName,
                Leader = group.LeaderId,
                MemberId = member.Id,
            };
            if (member.Id == group.LeaderId)
            {
                foreach (GroupMember m in group.Members.Values)
                {
                    response.Members.Add(new JoinGroupResponse.JoinGroupResponseMember
                    {
                        MemberId = m.Id,
                        GroupInstanceId = m.InstanceId,
                        Metadata = m.MetadataFor(group.ProtocolName) ?? [],
                    });
                }
            }

            member.PendingJoin!.TrySetResult(response);
            member.PendingJoin = null;
            member.LastSeen = now;
        }
    }

    /// <summary>Among the protocols every member supports, each member votes for its first; the most votes win.</summary>
    private static string ChooseProtocol(ClassicGroup group)
    {
        List<string> candidates = [.. group.Members.Values.First().Protocols.Select(p => p.Name)
            .Where(name => group.Members.Values.All(m => m.MetadataFor(name) is not null))];
        return candidates
            .OrderByDescending(c => group.Members.Values.Count(m => m.Protocols.First(p => candidates.Contains(p.Name)).Name == c))
            .ThenBy(candidates.IndexOf)
            .First();
    }

    private static SyncGroupResponse Assignment(ClassicGroup group, GroupMember member) => new()
    {
        ProtocolType = group.ProtocolType,
        ProtocolName = group.ProtocolName,
        Assignment = member.Assignment,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 3501, Level = LogLevel.Error, Message = "Could not store committed offsets of group {Group}")]
        public static partial void StoreFailed(ILogger logger, Exception exception, string group);
    }
}

/// <summary>Group settings (the Broker section of broker.json).</summary>
internal sealed record GroupOptions(TimeSpan InitialRebalanceDelay, TimeSpan MinSessionTimeout, TimeSpan MaxSessionTimeout, TimeSpan OffsetsRetention);
