using System.Collections.Concurrent;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Groups;

/// <summary>
/// The one owner of committed offsets and of the group-id directory: OffsetCommit, OffsetFetch,
/// OffsetDelete, DeleteGroups, ListGroups and offset expiry, for classic and server-side (KIP-848)
/// groups alike.
/// </summary>
/// <remarks>
/// <para>Every group id has one <see cref="GroupEntry"/> here: its lock, its offsets, and the protocol
/// that owns it (<see cref="GroupEntry.Owner"/>). The coordinators take an entry with
/// <see cref="EnterLive"/> or <see cref="EnterExisting"/> and hang their own state on it; neither
/// coordinator knows the other. A commit is checked by the owner (<see cref="IGroupProtocol.CheckCommit"/>)
/// and stored under the entry's lock, the same lock that fences members, so a member fenced meanwhile
/// cannot commit after the partition's new owner.</para>
/// <para>Thread-safety: one lock per entry; handlers never take it themselves.</para>
/// </remarks>
internal sealed partial class OffsetManager
{
    /// <summary>After a failed offset expiry, how long before the group is tried again.</summary>
    private static readonly TimeSpan ExpiryRetry = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, GroupEntry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly IOffsetStore _store;
    private readonly TopicRegistry? _topics;
    private readonly TimeSpan _retention;
    private readonly ILogger _logger;
    private Func<GroupEntry, GroupMetadataRecord, IGroupProtocol>? _restore;

    /// <param name="time">The clock for retention.</param>
    /// <param name="store">Where commits are made durable; loaded here.</param>
    /// <param name="retention">offsets.retention.minutes: how long a group without members keeps its offsets.</param>
    /// <param name="topics">The topics commits are checked against (null: every partition exists, for unit tests).</param>
    /// <param name="logger">Where failed stores are reported.</param>
    public OffsetManager(TimeProvider time, IOffsetStore store, TimeSpan retention, TopicRegistry? topics = null, ILogger<OffsetManager>? logger = null)
    {
        _time = time;
        _store = store;
        _retention = retention;
        _topics = topics;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        Add(store.Load());
    }

    /// <summary>Adds loaded offsets to the directory (at start, or when a replicated offsets partition is taken over).</summary>
    private int Add(IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> entries)
    {
        long now = _time.GetTimestamp();
        long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        int count = 0;
        foreach ((string group, string topic, int partition, CommittedOffset offset) in entries)
        {
            count++;
            GroupEntry loaded = EnterLive(group);
            try
            {
                loaded.Offsets[(topic, partition)] = offset;

                // Retention runs from the group's last commit as the log recorded it, not from this start
                // (a broker restarted more often than the retention would otherwise never expire anything).
                long age = Math.Clamp(nowMs - offset.CommitTimestamp, 0, (long)TimeSpan.FromDays(3650).TotalMilliseconds);
                long committedAt = now - (long)(age / 1000.0 * _time.TimestampFrequency);
                if (loaded.Offsets.Count == 1 || committedAt > loaded.EmptySince)
                {
                    loaded.EmptySince = committedAt;
                }
            }
            finally
            {
                loaded.Sync.Exit();
            }
        }

        return count;
    }

    /// <summary>
    /// Cluster mode, when this broker takes over a partition of <c>__consumer_offsets</c>: the groups it maps
    /// (<paramref name="belongs"/>) are replaced by what the partition holds. Returns the offsets loaded.
    /// </summary>
    public int Replace(Func<string, bool> belongs, IEnumerable<(string Group, string Topic, int Partition, CommittedOffset Offset)> entries,
        IEnumerable<(string Group, GroupMetadataRecord State)>? groups = null)
    {
        Drop(belongs);
        int loaded = Add(entries);
        Restore(groups ?? [], belongs);
        return loaded;
    }

    /// <summary>
    /// Called once by the classic coordinator: how it rebuilds a group from the state it recorded (Kafka's GroupMetadata
    /// record), so that members carry on without a rebalance when another broker takes over the group's offsets partition
    /// (<see cref="Replace"/>) and, on a single node, after a restart. The groups the store loaded at start are rebuilt now.
    /// </summary>
    public void RestoreGroups(Func<GroupEntry, GroupMetadataRecord, IGroupProtocol> restore)
    {
        _restore = restore;
        Restore(_store.LoadedGroups(), static _ => true);
    }

    private void Restore(IEnumerable<(string Group, GroupMetadataRecord State)> groups, Func<string, bool> belongs)
    {
        foreach ((string group, GroupMetadataRecord state) in groups)
        {
            if (_restore is not { } restore || state.Members.Count == 0 || !belongs(group))
            {
                continue;
            }

            GroupEntry entry = EnterLive(group);
            try
            {
                entry.Owner ??= restore(entry, state);
                RemoveIfUnused(entry);
            }
            finally
            {
                entry.Sync.Exit();
            }
        }
    }

    /// <summary>
    /// Cluster mode, when this broker stops coordinating the groups <paramref name="belongs"/> maps: they leave the
    /// directory (their members' pending joins and syncs are answered NOT_COORDINATOR). Returns how many went.
    /// </summary>
    public int Drop(Func<string, bool> belongs)
    {
        int dropped = 0;
        foreach (GroupEntry entry in _entries.Values)
        {
            if (!belongs(entry.Id))
            {
                continue;
            }

            lock (entry.Sync)
            {
                if (!entry.Removed)
                {
                    entry.Owner?.Unload();
                    entry.Owner = null; // the protocols forget the group (ConsumerGroupCoordinator.Tick)
                    Remove(entry);
                    dropped++;
                }
            }
        }

        return dropped;
    }

    /// <summary>The entry of <paramref name="groupId"/>, if any (read its state under its lock).</summary>
    public GroupEntry? Find(string groupId) => _entries.GetValueOrDefault(groupId);

    /// <summary>Every entry (for the coordinators' timers; lock each before use).</summary>
    public ICollection<GroupEntry> Entries => _entries.Values;

    private GroupEntry GetOrCreate(string groupId) => _entries.GetOrAdd(groupId, id => new GroupEntry(id) { EmptySince = _time.GetTimestamp() });

    /// <summary>
    /// The live entry of <paramref name="groupId"/>, created when missing, with its lock held (the
    /// caller releases <see cref="GroupEntry.Sync"/>, after <see cref="RemoveIfUnused"/> when it may
    /// have created it for nothing). Never a removed entry.
    /// </summary>
    public GroupEntry EnterLive(string groupId)
    {
        while (true)
        {
            GroupEntry entry = GetOrCreate(groupId);
            entry.Sync.Enter();
            if (!entry.Removed)
            {
                return entry;
            }

            entry.Sync.Exit();
        }
    }

    /// <summary>The live entry of <paramref name="groupId"/> with its lock held, or null when there is none.</summary>
    public GroupEntry? EnterExisting(string groupId)
    {
        while (_entries.GetValueOrDefault(groupId) is { } entry)
        {
            entry.Sync.Enter();
            if (!entry.Removed)
            {
                return entry;
            }

            entry.Sync.Exit();
        }

        return null;
    }

    /// <summary>Drops an entry that holds nothing: no members of either protocol, no offsets (call under its lock).</summary>
    public void RemoveIfUnused(GroupEntry entry)
    {
        if (!entry.InUse && entry.Offsets.Count == 0 && entry.Pending.Count == 0)
        {
            Remove(entry);
        }
    }

    private void Remove(GroupEntry entry)
    {
        entry.Removed = true;
        _entries.TryRemove(new KeyValuePair<string, GroupEntry>(entry.Id, entry));
    }

    /// <summary>Whether <paramref name="topic"/> has a partition <paramref name="partition"/> (OffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION otherwise, as Kafka).</summary>
    public bool PartitionExists(string topic, int partition) =>
        _topics is null || (partition >= 0 && _topics.Get(topic) is { } known && partition < known.Partitions.Length);

    /// <summary>Completes once the offset store has made durable everything up to <paramref name="position"/>.</summary>
    public Task WhenDurableAsync(OffsetPosition position) => _store.WhenDurableAsync(position);

    /// <summary>OffsetCommit: validates membership as Kafka does, then stores before answering.</summary>
    public ErrorCode Commit(string groupId, string memberId, string? instanceId, int generation,
        IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets) =>
        Commit(groupId, memberId, instanceId, generation, offsets, out _, out _);

    /// <summary>
    /// OffsetCommit for either protocol: the id's owner checks the committer (a classic member its id
    /// and generation, a server-side member its id and member epoch, given in
    /// <paramref name="generation"/>); with no owner only a standalone commit (generation -1, no
    /// member id) is accepted. <paramref name="position"/> is for <see cref="WhenDurableAsync"/>. In cluster mode
    /// (<see cref="IOffsetStore.Replicated"/>) the commit is OffsetFetch's to see only once the offsets partition's ISR has it, as in
    /// Kafka: <paramref name="replicated"/> completes then, after the commit is applied (answer the commit after it, so
    /// that the committer reads its own commit), or faults as <see cref="WhenDurableAsync"/> does, the commit not applied.
    /// </summary>
    public ErrorCode Commit(string groupId, string memberId, string? instanceId, int generation,
        IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets, out OffsetPosition position, out Task? replicated)
    {
        position = default;
        replicated = null;
        if (string.IsNullOrEmpty(groupId) || !GroupLimits.Fits(groupId))
        {
            return ErrorCode.InvalidGroupId;
        }

        GroupEntry entry = EnterLive(groupId);
        try
        {
            ErrorCode refused = entry.Owner is { } owner ? owner.CheckCommit(memberId, instanceId, generation, _time.GetTimestamp())
                : generation >= 0 || memberId.Length > 0 ? ErrorCode.UnknownMemberId
                : ErrorCode.None;
            return refused != ErrorCode.None ? refused : StoreLocked(entry, offsets, out position, out replicated);
        }
        finally
        {
            RemoveIfUnused(entry);
            entry.Sync.Exit();
        }
    }

    private ErrorCode StoreLocked(GroupEntry entry, IReadOnlyList<(string Topic, int Partition, CommittedOffset Offset)> offsets,
        out OffsetPosition position, out Task? replicated)
    {
        position = default;
        replicated = null;
        if (offsets.Count == 0)
        {
            return ErrorCode.None;
        }

        var changes = new (string, int, CommittedOffset?)[offsets.Count];
        for (int i = 0; i < offsets.Count; i++)
        {
            changes[i] = (offsets[i].Topic, offsets[i].Partition, offsets[i].Offset);
        }

        try
        {
            position = _store.Append(entry.Id, changes);
        }
        catch (OffsetStoreException e)
        {
            return e.Error;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Kafka answers a failed write of the offsets partition with NOT_COORDINATOR: retry elsewhere or later.
            Log.StoreFailed(_logger, e, entry.Id);
            return ErrorCode.NotCoordinator;
        }

        if (_store.Replicated)
        {
            var committed = new (string, int, CommittedOffset)[offsets.Count];
            for (int i = 0; i < offsets.Count; i++)
            {
                committed[i] = offsets[i];
                entry.Pending[(offsets[i].Topic, offsets[i].Partition)] = position.Offset;
            }

            replicated = ApplyWhenReplicatedAsync(entry, committed, position);
            return ErrorCode.None;
        }

        foreach ((string topic, int partition, CommittedOffset offset) in offsets)
        {
            entry.Offsets[(topic, partition)] = offset;
        }

        if (!entry.InUse)
        {
            entry.EmptySince = _time.GetTimestamp(); // no members: retention runs from the last commit
        }

        return ErrorCode.None;
    }

    /// <summary>
    /// Cluster mode: applies a commit once its offsets partition's ISR has it, unless the entry left meanwhile (the group
    /// was deleted, or its coordinator moved: the new one loads what was replicated) or a later change of the partition
    /// was applied first. A commit not replicated is dropped from the pending ones and never applied here.
    /// </summary>
    private async Task ApplyWhenReplicatedAsync(GroupEntry entry, (string Topic, int Partition, CommittedOffset Offset)[] offsets, OffsetPosition position)
    {
        Exception? failure = null;
        try
        {
            await _store.WhenDurableAsync(position).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
        }

        lock (entry.Sync)
        {
            foreach ((string topic, int partition, CommittedOffset offset) in offsets)
            {
                if (entry.Pending.TryGetValue((topic, partition), out long pending) && pending == position.Offset)
                {
                    entry.Pending.Remove((topic, partition));
                }

                if (failure is null && !entry.Removed && !(entry.AppliedAt.TryGetValue((topic, partition), out long applied) && applied > position.Offset))
                {
                    entry.Offsets[(topic, partition)] = offset;
                    entry.AppliedAt[(topic, partition)] = position.Offset;
                }
            }

            if (!entry.Removed)
            {
                if (failure is null && !entry.InUse)
                {
                    entry.EmptySince = _time.GetTimestamp(); // no members: retention runs from the last commit
                }

                RemoveIfUnused(entry);
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Committed offsets of a group: the given partitions, or all of them when <paramref name="partitions"/> is null.</summary>
    public List<(string Topic, int Partition, CommittedOffset? Offset)> Fetch(string groupId, IEnumerable<(string Topic, int Partition)>? partitions)
    {
        if (EnterExisting(groupId) is not { } entry)
        {
            return partitions?.Distinct().Select(p => (p.Topic, p.Partition, (CommittedOffset?)null)).ToList() ?? [];
        }

        try
        {
            if (partitions is null)
            {
                return [.. entry.Offsets.OrderBy(o => o.Key.Topic, StringComparer.Ordinal).ThenBy(o => o.Key.Partition).Select(o => (o.Key.Topic, o.Key.Partition, (CommittedOffset?)o.Value))];
            }

            // A partition asked for twice is answered once: the answer never grows faster than the question.
            var seen = new HashSet<(string, int)>();
            var results = new List<(string, int, CommittedOffset?)>();
            foreach ((string topic, int partition) in partitions)
            {
                if (seen.Add((topic, partition)))
                {
                    results.Add((topic, partition, entry.Offsets.GetValueOrDefault((topic, partition))));
                }
            }

            return results;
        }
        finally
        {
            entry.Sync.Exit();
        }
    }

    /// <summary>
    /// OffsetDelete: removes committed offsets of the given partitions. A group with members keeps the
    /// offsets of topics its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC for those partitions).
    /// </summary>
    public (ErrorCode Error, List<(string Topic, int Partition, ErrorCode Error)> Partitions) DeleteOffsets(
        string groupId, IReadOnlyList<(string Topic, int Partition)> partitions)
    {
        if (EnterExisting(groupId) is not { } entry)
        {
            return (ErrorCode.GroupIdNotFound, []);
        }

        try
        {
            var subscribed = new HashSet<string>(StringComparer.Ordinal);
            entry.Owner?.AddSubscribedTopics(subscribed);
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

                if (entry.Offsets.ContainsKey((topic, partition)) || entry.Pending.ContainsKey((topic, partition)))
                {
                    deleted.Add((topic, partition, null));
                }

                results.Add((topic, partition, ErrorCode.None));
            }

            if (!TryAppend(entry.Id, deleted, out OffsetPosition position))
            {
                return (ErrorCode.NotCoordinator, []);
            }

            foreach ((string topic, int partition, CommittedOffset? _) in deleted)
            {
                entry.Offsets.Remove((topic, partition));
                if (_store.Replicated)
                {
                    entry.AppliedAt[(topic, partition)] = position.Offset; // a commit appended before it stays deleted
                }
            }

            return (ErrorCode.None, results);
        }
        finally
        {
            entry.Sync.Exit();
        }
    }

    /// <summary>DeleteGroups: a group without members goes with its offsets; NON_EMPTY_GROUP while it has members.</summary>
    public ErrorCode DeleteGroup(string groupId)
    {
        if (EnterExisting(groupId) is not { } entry)
        {
            return ErrorCode.GroupIdNotFound;
        }

        try
        {
            if (entry.InUse)
            {
                return ErrorCode.NonEmptyGroup;
            }

            if (!TryAppend(groupId, Tombstones(entry), out _))
            {
                return ErrorCode.NotCoordinator;
            }

            entry.Offsets.Clear();
            RecordGroup(entry, null);
            Remove(entry);
            return ErrorCode.None;
        }
        finally
        {
            entry.Sync.Exit();
        }
    }

    /// <summary>ListGroups: every group id once, as its owner lists it (an id with only offsets is an Empty classic group), sorted by id.</summary>
    public List<(string Id, string State, string ProtocolType, string Type)> List()
    {
        var listed = new List<(string, string, string, string)>();
        foreach (GroupEntry entry in _entries.Values)
        {
            lock (entry.Sync)
            {
                if (entry.Removed)
                {
                    continue;
                }

                (string state, string protocolType, string type) = entry.Owner?.Listing ?? (nameof(GroupState.Empty), "", "classic");
                listed.Add((entry.Id, state, protocolType, type));
            }
        }

        listed.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return listed;
    }

    /// <summary>
    /// Records a classic group's state in the offset log as Kafka does (a GroupMetadata record), or with
    /// null its removal. For tools reading <c>__consumer_offsets</c>: a failure is logged, never fatal.
    /// Call under the entry's lock.
    /// </summary>
    public void RecordGroup(GroupEntry entry, GroupMetadataRecord? state)
    {
        try
        {
            _store.AppendGroup(entry.Id, state, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Log.StoreFailed(_logger, e, entry.Id);
        }
    }

    /// <summary>A deletion of every offset the group has, committed or pending (a pending commit's record precedes the tombstone).</summary>
    private static List<(string, int, CommittedOffset?)> Tombstones(GroupEntry entry)
    {
        var tombstones = new List<(string, int, CommittedOffset?)>(entry.Offsets.Count + entry.Pending.Count);
        foreach ((string topic, int partition) in entry.Offsets.Keys)
        {
            tombstones.Add((topic, partition, null));
        }

        foreach ((string topic, int partition) in entry.Pending.Keys)
        {
            if (!entry.Offsets.ContainsKey((topic, partition)))
            {
                tombstones.Add((topic, partition, null));
            }
        }

        return tombstones;
    }

    /// <summary>Appends deletions; false (logged) when the store fails.</summary>
    private bool TryAppend(string groupId, IReadOnlyList<(string Topic, int Partition, CommittedOffset? Offset)> changes, out OffsetPosition position)
    {
        position = default;
        try
        {
            position = _store.Append(groupId, changes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Log.StoreFailed(_logger, e, groupId);
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3501, Level = LogLevel.Error, Message = "Could not store committed offsets of group {Group}")]
        public static partial void StoreFailed(ILogger logger, Exception exception, string group);
    }
}
