using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Groups;

/// <summary>
/// The classic group coordinator: one node coordinates every group. Implements the
/// Empty → PreparingRebalance → CompletingRebalance → Stable state machine, KIP-394 member ids,
/// static membership (KIP-345), session and rebalance timeouts. Committed offsets belong to the
/// <see cref="OffsetManager"/>.
/// </summary>
/// <remarks>
/// <para>Timing goes through the injected <see cref="TimeProvider"/>; <see cref="Tick"/> (called
/// periodically by the broker, directly by tests) ends join phases whose deadline passed and
/// expires silent members.</para>
/// <para>Group ids: every id has one <see cref="GroupEntry"/> in the <see cref="OffsetManager"/>, with its
/// lock and offsets; a classic group is that entry's <see cref="GroupEntry.Owner"/> while the classic
/// protocol holds the id. A join is refused while a server-side group with members owns it.</para>
/// <para>Thread-safety: each group has its own lock; JoinGroup and SyncGroup answers that must wait
/// are task completions resolved under that lock and continued asynchronously.</para>
/// </remarks>
internal sealed partial class GroupCoordinator
{
    private readonly TimeProvider _time;
    private readonly GroupOptions _options;
    private readonly OffsetManager _offsets;

    public GroupCoordinator(TimeProvider time, GroupOptions options, OffsetManager offsets)
    {
        _time = time;
        _options = options;
        _offsets = offsets;
        offsets.RestoreGroups(Restore);
    }

    /// <summary>
    /// A group as it was recorded when it last settled (cluster mode, on taking over its offsets partition): its
    /// generation, protocol, leader and members with their assignments, Stable, every member's session starting now; a
    /// member that does not come back within its session timeout leaves as usual, and the others rebalance then.
    /// </summary>
    private ClassicGroup Restore(GroupEntry entry, GroupMetadataRecord state)
    {
        var group = new ClassicGroup(entry)
        {
            Generation = state.Generation,
            ProtocolType = state.ProtocolType.Length > 0 ? state.ProtocolType : null,
            ProtocolName = state.Protocol,
            LeaderId = state.Leader,
        };
        long now = _time.GetTimestamp();
        foreach (GroupMetadataRecord.Member recorded in state.Members)
        {
            TimeSpan session = Clamp(TimeSpan.FromMilliseconds(recorded.SessionTimeoutMs), _options.MinSessionTimeout, _options.MaxSessionTimeout);
            group.Members[recorded.MemberId] = new GroupMember(recorded.MemberId)
            {
                InstanceId = recorded.GroupInstanceId,
                ClientId = recorded.ClientId,
                ClientHost = recorded.ClientHost,
                SessionTimeout = session,
                RebalanceTimeout = recorded.RebalanceTimeoutMs > 0 ? TimeSpan.FromMilliseconds(recorded.RebalanceTimeoutMs) : session,
                Protocols = state.Protocol is { } protocol ? [(protocol, recorded.Subscription)] : [],
                Assignment = recorded.Assignment,
                LastSeen = now,
            };
            if (recorded.GroupInstanceId is { } instanceId)
            {
                group.StaticMembers[instanceId] = recorded.MemberId;
            }
        }

        group.State = group.Members.Count > 0 && state.Protocol is not null ? GroupState.Stable : GroupState.Empty;
        if (group.State == GroupState.Empty)
        {
            group.Members.Clear();
            group.StaticMembers.Clear();
        }

        return group;

        static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;
    }

    /// <summary>The classic group of <paramref name="groupId"/>, if the classic protocol owns the id (for tests; read under its lock).</summary>
    public ClassicGroup? Find(string groupId) => _offsets.Find(groupId)?.Owner as ClassicGroup;

    /// <summary>The classic group of <paramref name="groupId"/> with its entry's lock held, or null (nothing held) when the classic protocol does not own the id.</summary>
    private ClassicGroup? EnterClassic(string groupId)
    {
        if (_offsets.EnterExisting(groupId) is not { } entry)
        {
            return null;
        }

        if (entry.Owner is ClassicGroup group)
        {
            return group;
        }

        entry.Sync.Exit();
        return null;
    }

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

        GroupEntry entry = _offsets.EnterLive(request.GroupId);
        try
        {
            if (entry.Owner is not ClassicGroup group)
            {
                if (entry.InUse)
                {
                    return Error(ErrorCode.InconsistentGroupProtocol); // a server-side group with members holds the id
                }

                group = new ClassicGroup(entry); // the id has no members: the classic protocol takes it
                entry.Owner = group;
            }

            if (!IsCompatible(group, request))
            {
                return Error(ErrorCode.InconsistentGroupProtocol);
            }

            long now = _time.GetTimestamp();
            GroupMember? member;
            GroupMember? replaced = null;
            string? previousLeader = group.LeaderId;
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

                        replaced = old;
                    }

                    group.StaticMembers[instance] = newId;
                }
                else if (version >= 4)
                {
                    group.PendingMemberIds[newId] = now + _time.TimestampFrequency * (long)sessionTimeout.TotalSeconds;
                    return Task.FromResult(new JoinGroupResponse { ErrorCode = (short)ErrorCode.MemberIdRequired, MemberId = newId });
                }

                member = new GroupMember(newId) { InstanceId = request.GroupInstanceId, Assignment = replaced?.Assignment ?? [] };
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
            if (replaced is not null && group.State == GroupState.Stable && group.ProtocolName is { } current && member.MetadataFor(current) is not null)
            {
                Record(group); // the member id changed
                return Task.FromResult(StaticMembership.Rejoin(group, member, previousLeader, version));
            }

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
            _offsets.RemoveIfUnused(entry); // a refused join leaves nothing behind
            entry.Sync.Exit();
        }
    }

    /// <summary>SyncGroup. Followers wait for the leader's assignment; the leader's completes the rebalance.</summary>
    public Task<SyncGroupResponse> SyncAsync(SyncGroupRequest request)
    {
        if (EnterClassic(request.GroupId) is not { } group)
        {
            return Task.FromResult(new SyncGroupResponse { ErrorCode = (short)ErrorCode.UnknownMemberId });
        }

        try
        {
            ErrorCode error = group.CheckMember(request.MemberId, request.GroupInstanceId, request.GenerationId);
            if (error == ErrorCode.None && ((request.ProtocolType is { } type && type != group.ProtocolType) ||
                (request.ProtocolName is { } name && name != group.ProtocolName)))
            {
                error = ErrorCode.InconsistentGroupProtocol; // v5: the member's idea of the protocol must be the group's, as Kafka checks
            }

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
                Record(group);
                foreach (GroupMember m in group.Members.Values)
                {
                    m.PendingSync?.TrySetResult(Assignment(group, m));
                    m.PendingSync = null;
                }
            }

            return answer;
        }
        finally
        {
            group.Sync.Exit();
        }
    }

    /// <summary>Heartbeat: liveness, and REBALANCE_IN_PROGRESS to tell a member to rejoin.</summary>
    public ErrorCode Heartbeat(string groupId, string memberId, string? instanceId, int generation)
    {
        if (EnterClassic(groupId) is not { } group)
        {
            return ErrorCode.UnknownMemberId;
        }

        try
        {
            ErrorCode error = group.CheckMember(memberId, instanceId, generation);
            if (error != ErrorCode.None)
            {
                return error;
            }

            group.Members[memberId].LastSeen = _time.GetTimestamp();
            return group.State == GroupState.PreparingRebalance ? ErrorCode.RebalanceInProgress : ErrorCode.None;
        }
        finally
        {
            group.Sync.Exit();
        }
    }

    /// <summary>LeaveGroup for one member (v0–2) or several (v3+): per-member errors.</summary>
    public List<(string MemberId, string? InstanceId, ErrorCode Error)> Leave(string groupId, IEnumerable<(string MemberId, string? InstanceId)> leaving)
    {
        var results = new List<(string, string?, ErrorCode)>();
        ClassicGroup? group = EnterClassic(groupId);
        if (group is null)
        {
            results.AddRange(leaving.Select(l => (l.MemberId, l.InstanceId, ErrorCode.UnknownMemberId)));
            return results;
        }

        try
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
        finally
        {
            group.Sync.Exit();
        }

        return results;
    }

    /// <summary>Ends join phases whose time is up, removes members whose session expired, then runs offset expiry.</summary>
    public void Tick()
    {
        long now = _time.GetTimestamp();
        foreach (GroupEntry entry in _offsets.Entries)
        {
            lock (entry.Sync)
            {
                if (entry.Removed || entry.Owner is not ClassicGroup group)
                {
                    continue;
                }

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
            }
        }

        _offsets.ExpireIdle();
    }

    /// <summary>Records the group's state in <c>__consumer_offsets</c>, as Kafka does when a group settles or empties.</summary>
    private void Record(ClassicGroup group)
    {
        var members = new List<GroupMetadataRecord.Member>(group.Members.Count);
        foreach (GroupMember m in group.Members.Values)
        {
            members.Add(new GroupMetadataRecord.Member(m.Id, m.InstanceId, m.ClientId, m.ClientHost, (int)m.RebalanceTimeout.TotalMilliseconds,
                (int)m.SessionTimeout.TotalMilliseconds, group.ProtocolName is { } p ? m.MetadataFor(p) ?? [] : [], m.Assignment));
        }

        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _offsets.RecordGroup(group.Entry, new GroupMetadataRecord(group.ProtocolType ?? "", group.Generation, group.ProtocolName, group.LeaderId, now, members));
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
            group.Entry.EmptySince = now;
            Record(group);
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
}

/// <summary>Group settings (the Broker section of broker.json).</summary>
internal sealed record GroupOptions(TimeSpan InitialRebalanceDelay, TimeSpan MinSessionTimeout, TimeSpan MaxSessionTimeout, TimeSpan OffsetsRetention);
