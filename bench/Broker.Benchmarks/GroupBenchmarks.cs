using BenchmarkDotNet.Attributes;
using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;

namespace LogBroker.Broker.Benchmarks;

/// <summary>
/// Broker-side cost of the classic group protocol, in process (no network, no client think time):
/// a graceful leave absorbed by a group of 10 members over 100 partitions (LeaveGroup → the 9 others
/// rejoin → the leader's SyncGroup → Stable), and OffsetCommit of 100 partitions into the real,
/// disk-backed offset log.
/// </summary>
[MemoryDiagnoser]
public class GroupBenchmarks
{
    private const int Members = 10;
    private const int Partitions = 100;
    private string _directory = "";
    private LogManager? _logs;
    private GroupCoordinator _groups = null!;
    private OffsetManager _offsets = null!;
    private List<string> _memberIds = [];
    private int _generation;
    private List<(string, int, CommittedOffset)> _commit = [];
    private long _round;
    private ConsumerGroupCoordinator _consumerGroups = null!;
    private Guid _topicId;
    private readonly Dictionary<string, (int Epoch, List<int> Owned)> _serverMembers = [];

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "logbroker-bench-groups-" + Guid.NewGuid().ToString("N"));
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _directory });
        _offsets = new OffsetManager(TimeProvider.System, new OffsetLog(_logs), TimeSpan.FromDays(7));
        _groups = new GroupCoordinator(TimeProvider.System,
            new GroupOptions(TimeSpan.Zero, TimeSpan.FromSeconds(6), TimeSpan.FromMinutes(30), TimeSpan.FromDays(7)), _offsets);
        _memberIds = [];
        var joins = new List<Task<JoinGroupResponse>>();
        for (int i = 0; i < Members; i++)
        {
            string id = _groups.JoinAsync(Join(""), 5, "c" + i, "h").Result.MemberId;
            _memberIds.Add(id);
        }

        foreach (string id in _memberIds)
        {
            joins.Add(_groups.JoinAsync(Join(id), 5, "c", "h"));
        }

        while (!joins.TrueForAll(j => j.IsCompleted))
        {
            _groups.Tick();
        }

        Stabilize(joins);
        _commit = [.. Enumerable.Range(0, Partitions).Select(p => ("topic", p, new CommittedOffset(p, -1, null, 0)))];

        var registry = new TopicRegistry(_logs, LogConfig.Default, Microsoft.Extensions.Logging.Abstractions.NullLogger<TopicRegistry>.Instance);
        registry.Create("orders", Partitions, new Dictionary<string, string?>(), validateOnly: false, out _);
        _topicId = registry.Get("orders")!.Id;
        _consumerGroups = new ConsumerGroupCoordinator(TimeProvider.System, registry, _offsets, new ConsumerGroupOptions(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(45)));
        for (int i = 0; i < Members; i++)
        {
            ServerSideJoin("m" + i);
        }

        ServerSideUntilStable();
    }

    /// <summary>
    /// Server-side protocol: one of 10 members leaves (epoch -1); the other 9 heartbeat, revoking and
    /// acknowledging, until every partition has exactly its target owner; then it rejoins the same way.
    /// </summary>
    [Benchmark]
    public int ServerSideLeaveAndReconcileTenMembers()
    {
        _consumerGroups.Heartbeat(new ConsumerGroupHeartbeatRequest { GroupId = "s", MemberId = "m9", MemberEpoch = -1 });
        _serverMembers.Remove("m9");
        int rounds = ServerSideUntilStable();
        ServerSideJoin("m9");
        return rounds + ServerSideUntilStable();
    }

    private void ServerSideJoin(string id)
    {
        ConsumerGroupHeartbeatResponse r = _consumerGroups.Heartbeat(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "s",
            MemberId = id,
            MemberEpoch = 0,
            SubscribedTopicNames = ["orders"],
        });
        _serverMembers[id] = (r.MemberEpoch, Owned(r, []));
    }

    /// <summary>Heartbeats every member with what it owns until the group is stable; returns the rounds taken.</summary>
    private int ServerSideUntilStable()
    {
        for (int round = 1; round <= 20; round++)
        {
            foreach (string id in _serverMembers.Keys.ToList())
            {
                (int epoch, List<int> owned) = _serverMembers[id];
                ConsumerGroupHeartbeatResponse r = _consumerGroups.Heartbeat(new ConsumerGroupHeartbeatRequest
                {
                    GroupId = "s",
                    MemberId = id,
                    MemberEpoch = epoch,
                    TopicPartitions = [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = _topicId, Partitions = owned }],
                });
                _serverMembers[id] = (r.MemberEpoch, Owned(r, owned));
            }

            if (_consumerGroups.Describe("s").GroupState == "Stable")
            {
                return round;
            }
        }

        throw new InvalidOperationException("the server-side group did not become stable");
    }

    private static List<int> Owned(ConsumerGroupHeartbeatResponse response, List<int> previous) =>
        response.Assignment is null ? previous : [.. response.Assignment.TopicPartitions.SelectMany(t => t.Partitions)];

    [GlobalCleanup]
    public void Cleanup()
    {
        _logs?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One member leaves and rejoins at once (so the group keeps 10 members across iterations).</summary>
    [Benchmark]
    public int LeaveAndRebalanceTenMembers()
    {
        string leaving = _memberIds[^1];
        _groups.Leave("g", [(leaving, null)]);
        _memberIds.RemoveAt(_memberIds.Count - 1);
        var joins = _memberIds.Select(id => _groups.JoinAsync(Join(id), 5, "c", "h")).ToList();
        Stabilize(joins);

        // The member comes back (outside the interesting part, but needed to repeat the measurement).
        string back = _groups.JoinAsync(Join(""), 5, "c", "h").Result.MemberId;
        var again = new List<Task<JoinGroupResponse>> { _groups.JoinAsync(Join(back), 5, "c", "h") };
        again.AddRange(_memberIds.Select(id => _groups.JoinAsync(Join(id), 5, "c", "h")));
        _memberIds.Add(back);
        Stabilize(again);
        return _generation;
    }

    [Benchmark]
    public void CommitHundredPartitions()
    {
        long round = ++_round;
        for (int i = 0; i < _commit.Count; i++)
        {
            _commit[i] = (_commit[i].Item1, _commit[i].Item2, _commit[i].Item3 with { Offset = round });
        }

        if (_offsets.Commit("standalone", "", null, -1, _commit) != Protocol.ErrorCode.None)
        {
            throw new InvalidOperationException("commit failed");
        }
    }

    private void Stabilize(List<Task<JoinGroupResponse>> joins)
    {
        if (!joins.TrueForAll(j => j.IsCompleted))
        {
            throw new InvalidOperationException("the join phase did not end when every member had rejoined");
        }

        List<JoinGroupResponse> answers = [.. joins.Select(j => j.Result)];
        JoinGroupResponse leader = answers.Single(a => a.MemberId == a.Leader);
        _generation = leader.GenerationId;
        var syncs = answers.Where(a => a != leader).Select(a => _groups.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = a.GenerationId, MemberId = a.MemberId })).ToList();
        var assignment = leader.Members.Select((m, i) => new SyncGroupRequest.SyncGroupRequestAssignment
        {
            MemberId = m.MemberId,
            Assignment = new byte[8 + (Partitions / Members * 4)], // what a 10-partition assignment weighs
        }).ToList();
        syncs.Add(_groups.SyncAsync(new SyncGroupRequest { GroupId = "g", GenerationId = leader.GenerationId, MemberId = leader.MemberId, Assignments = assignment }));
        if (!syncs.TrueForAll(s => s.IsCompleted && s.Result.ErrorCode == 0))
        {
            throw new InvalidOperationException("the group did not become stable");
        }
    }

    private static JoinGroupRequest Join(string memberId) => new()
    {
        GroupId = "g",
        MemberId = memberId,
        SessionTimeoutMs = 30_000,
        RebalanceTimeoutMs = 60_000,
        ProtocolType = "consumer",
        Protocols = [new JoinGroupRequest.JoinGroupRequestProtocol { Name = "range", Metadata = new byte[64] }],
    };
}
