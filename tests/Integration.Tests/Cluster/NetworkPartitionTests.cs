using System.Diagnostics;
using System.Net;
using System.Text;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Records;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Network partitions on real processes: broker 3 runs in a network namespace of its own (<see cref="IsolatedHost"/>),
/// and it is cut off — from etcd and its peers, or from etcd alone — while it leads a partition (replication factor 3,
/// min.insync.replicas=2, lease TTL 2 s), or while it is the controller. Cut off but still reachable by clients, a
/// leader must stop taking writes before the others elect a new leader — never two leaders taking writes at once —
/// lose no acknowledged write, stay out of every ISR while it has no registration, and after the heal come back as a
/// follower that holds the same bytes as the others. A cut-off controller's place is taken by a peer that carries on
/// electing leaders and creating topics.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class NetworkPartitionTests
{
    [Fact]
    public Task A_leader_cut_off_from_etcd_and_its_peers_stops_taking_writes_before_another_leader_takes_any_and_rejoins_truncated() =>
        CutOffLeaderAsync(etcdOnly: false);

    /// <summary>
    /// Etcd alone cut: the followers still reach the old leader and replicate from it until they learn of the new one,
    /// so its acks=1 writes of that window may survive (in order, before the new leader's) — but none it acknowledged
    /// after the new leader took one, and it may not rejoin an ISR while its registration is gone (KIP-903), though it
    /// keeps fetching as a follower of the other partitions.
    /// </summary>
    [Fact]
    public Task A_leader_cut_off_from_etcd_alone_stops_taking_writes_before_another_leader_takes_any_and_stays_out_of_every_isr_until_healed() =>
        CutOffLeaderAsync(etcdOnly: true);

    private static async Task CutOffLeaderAsync(bool etcdOnly)
    {
        await using var host = await IsolatedHost.CreateAsync();
        await using var cluster = await ThreeBrokerCluster.StartAsync(new ThreeBrokerCluster { Isolated = host });
        const int Isolated = 3;
        var topic = BrokerFixture.UniqueTopic("partitioned");
        await cluster.CreateTopicAsync(topic, 3, configs: new Dictionary<string, string> { ["min.insync.replicas"] = "2" });

        // Leaders are spread: broker 3 leads one of the three partitions.
        int partition = -1;
        for (int p = 0; p < 3; p++)
        {
            var s = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, p), s => s is { Leader: > 0, Isr.Count: 3 });
            Assert.Equal(3, s!.Isr.Count);
            partition = s.Leader == Isolated ? p : partition;
        }

        Assert.True(partition >= 0, "broker 3 leads none of the three partitions");
        using var atIsolated = await RawConnection.OpenAsync(IPAddress.Parse(host.ClientAddress), cluster.Brokers[Isolated].Port);
        var acknowledged = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(0, await ProduceAsync(atIsolated, topic, partition, $"before{i}", acks: -1, timeoutMs: 10_000));
            acknowledged.Add($"before{i}");
        }

        await (etcdOnly ? host.CutEtcdAsync() : host.CutAsync());
        var clock = Stopwatch.StartNew();

        // An acks=all write at once, on a connection of its own. Cut off from its peers, the followers cannot fetch it,
        // so it is never acknowledged; it is refused once the lease lapses, long before its 20 s timeout (the client
        // retries elsewhere). Cut off from etcd alone, the followers may fetch it before they learn of the new leader.
        using var allConnection = await RawConnection.OpenAsync(IPAddress.Parse(host.ClientAddress), cluster.Brokers[Isolated].Port);
        Task<(short Error, TimeSpan At)> allAtIsolated = Task.Run(
            async () => (await ProduceAsync(allConnection, topic, partition, "all-at-cut", acks: -1, timeoutMs: 20_000), clock.Elapsed), TestContext.Current.CancellationToken);

        // acks=1 writes to the cut-off leader, every 50 ms, while the test watches the store for a new leader and
        // writes to it as soon as it is named. Each acknowledgement's arrival is timed, and so is the sending of the
        // new leader's first acknowledged write: a write the isolated broker acknowledged after that send would mean
        // two leaders took writes at once.
        var isolatedAcks = new List<TimeSpan>();
        var refusals = new List<short>();
        TimeSpan? newLeaderSent = null, firstRefusal = null;
        int newLeader = -1;
        var deadline = TimeSpan.FromSeconds(40);
        TimeSpan? stopAt = null;
        var ct = TestContext.Current.CancellationToken;
        var election = Task.Run(async () =>
        {
            while (clock.Elapsed < deadline)
            {
                if (await cluster.PartitionStateAsync(topic, partition) is { Leader: > 0 and not Isolated } moved)
                {
                    using var atNew = await RawConnection.OpenAsync(cluster.Brokers[moved.Leader].Port);
                    for (int attempt = 0; attempt < 100 && clock.Elapsed < deadline; attempt++)
                    {
                        var sent = clock.Elapsed;
                        if (await ProduceAsync(atNew, topic, partition, "after0", acks: -1, timeoutMs: 5_000) == 0)
                        {
                            newLeaderSent = sent;
                            newLeader = moved.Leader;
                            return;
                        }

                        await Task.Delay(50, ct);
                    }

                    return;
                }

                await Task.Delay(20, ct);
            }
        }, ct);

        for (int i = 0; clock.Elapsed < deadline && (stopAt is null || clock.Elapsed < stopAt); i++)
        {
            short error = await ProduceAsync(atIsolated, topic, partition, $"cut{i}", acks: 1, timeoutMs: 1_000);
            if (error == 0)
            {
                isolatedAcks.Add(clock.Elapsed);
            }
            else
            {
                firstRefusal ??= clock.Elapsed;
                refusals.Add(error);
            }

            // Two more seconds of writes to the isolated broker after the new leader took one.
            if (election.IsCompleted && stopAt is null)
            {
                stopAt = clock.Elapsed + TimeSpan.FromSeconds(2);
            }

            await Task.Delay(50, ct);
        }

        await election;
        var (allError, allAnswered) = await allAtIsolated;
        if (!etcdOnly || allError != 0)
        {
            Assert.Equal((short)Protocol.ErrorCode.NotLeaderOrFollower, allError);
        }

        Assert.True(allAnswered < TimeSpan.FromSeconds(10), $"the waiting acks=all write was answered {allAnswered.TotalMilliseconds:F0} ms after the cut");

        // Still cut off, it does not name itself leader in Metadata (its clients would be sent straight back to it).
        var stale = await cluster.MetadataAsync(Isolated, topic);
        var stalePartition = Assert.Single(Assert.Single(stale.Topics).Partitions, p => p.PartitionIndex == partition);
        Assert.Equal(((short)Protocol.ErrorCode.LeaderNotAvailable, -1), (stalePartition.ErrorCode, stalePartition.LeaderId));
        Assert.True(newLeaderSent is not null, $"no new leader took an acks=all write within {deadline}");
        Assert.Contains(newLeader, (int[])[1, 2]);
        if (allError == 0)
        {
            acknowledged.Add("all-at-cut");
        }

        acknowledged.Add("after0");
        Assert.True(
            refusals.Count > 0,
            $"the cut-off leader refused no write: {isolatedAcks.Count} acknowledged, the last at {(isolatedAcks.Count == 0 ? 0 : isolatedAcks[^1].TotalMilliseconds):F0} ms; the new leader's first write was sent at {newLeaderSent!.Value.TotalMilliseconds:F0} ms");
        Assert.All(refusals, e => Assert.Equal((short)Protocol.ErrorCode.NotLeaderOrFollower, e));
        TimeSpan lastIsolatedAck = isolatedAcks.Count == 0 ? TimeSpan.Zero : isolatedAcks[^1];
        Assert.True(
            lastIsolatedAck < newLeaderSent,
            $"the cut-off leader acknowledged a write at {lastIsolatedAck.TotalMilliseconds:F0} ms after the cut, after the new leader {newLeader} was sent its first at {newLeaderSent!.Value.TotalMilliseconds:F0} ms");

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"after the cut: {isolatedAcks.Count} acks=1 writes acknowledged by the cut-off leader (last at {lastIsolatedAck.TotalMilliseconds:F0} ms), " +
            $"{refusals.Count} refused (the first at {firstRefusal!.Value.TotalMilliseconds:F0} ms), the waiting acks=all write answered with error {allError} at {allAnswered.TotalMilliseconds:F0} ms; broker {newLeader}'s first acknowledged write sent at {newLeaderSent.Value.TotalMilliseconds:F0} ms");

        // The majority side carries on: acks=all writes at the new leader (its ISR is the two brokers left).
        using (var atNew = await RawConnection.OpenAsync(cluster.Brokers[newLeader].Port))
        {
            for (int i = 1; i < 5; i++)
            {
                Assert.Equal(0, await ProduceAsync(atNew, topic, partition, $"after{i}", acks: -1, timeoutMs: 10_000));
                acknowledged.Add($"after{i}");
            }
        }

        // Its lease gone, it is in no ISR, and while the cut lasts it joins none, though its fetches as a follower of
        // the other partitions may still reach their leaders: they refuse it an ISR place without a registration.
        for (int check = 0; check < 20; check++)
        {
            for (int p = 0; p < 3; p++)
            {
                var s = await cluster.PartitionStateAsync(topic, p);
                Assert.True(s is not null && !s.Isr.Contains(Isolated), $"partition {p}'s ISR is [{string.Join(',', s?.Isr ?? [])}] with broker {Isolated} cut off");
            }

            await Task.Delay(100, ct);
        }

        // Healed: broker 3 registers again, learns it follows, truncates what it took while cut off that the new leader
        // does not have (cut off from its peers too, none of it: the link was down before the first of those writes),
        // catches up and rejoins the ISR of every partition.
        await (etcdOnly ? host.HealEtcdAsync() : host.HealAsync());
        for (int p = 0; p < 3; p++)
        {
            var healed = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, p), s => s is { Isr.Count: 3 });
            Assert.Equal(3, healed!.Isr.Count);
        }

        byte[] leaderCopy = cluster.LogBytes(newLeader, topic, partition);
        for (int id = 1; id <= 3; id++)
        {
            byte[] copy = await ThreeBrokerCluster.WaitForAsync(() => Task.FromResult(cluster.LogBytes(id, topic, partition)), b => b.SequenceEqual(leaderCopy));
            Assert.Equal(leaderCopy, copy);
        }

        List<string> keys = Keys(leaderCopy);
        Assert.Equal(acknowledged, keys.Where(k => !k.StartsWith("cut", StringComparison.Ordinal)));
        List<string> survivors = [.. keys.Where(k => k.StartsWith("cut", StringComparison.Ordinal))];
        if (!etcdOnly)
        {
            Assert.Empty(survivors);
        }

        // What survives of the cut-off leader's acks=1 writes is the first of them, in order, all before the new leader's.
        Assert.Equal(Enumerable.Range(0, survivors.Count).Select(i => $"cut{i}"), survivors);
        Assert.True(survivors.Count == 0 || keys.LastIndexOf(survivors[^1]) < keys.IndexOf("after0"), string.Join(',', keys));
        TestContext.Current.TestOutputHelper?.WriteLine($"{survivors.Count} of the cut-off leader's acks=1 writes survive; the acks=all write at the cut: error {allError}");
    }

    [Fact]
    public async Task A_controller_cut_off_from_etcd_and_its_peers_is_succeeded_by_a_peer_that_elects_and_creates_topics_and_rejoins_as_a_broker()
    {
        await using var host = await IsolatedHost.CreateAsync();
        const int Isolated = 3;
        await using var cluster = await ThreeBrokerCluster.StartAsync(new ThreeBrokerCluster { Isolated = host, FirstStarted = Isolated });
        var before = await cluster.Store.GetAsync(cluster.Keys.Controller, CancellationToken.None);
        Assert.Equal(Isolated.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(before!.Value));
        var topic = BrokerFixture.UniqueTopic("controllercut");
        await cluster.CreateTopicAsync(topic, 3);
        int partition = -1;
        for (int p = 0; p < 3; p++)
        {
            var s = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, p), s => s is { Leader: > 0, Isr.Count: 3 });
            Assert.Equal(3, s!.Isr.Count);
            partition = s.Leader == Isolated ? p : partition;
        }

        Assert.True(partition >= 0, "the controller leads none of the three partitions");
        await host.CutAsync();
        var clock = Stopwatch.StartNew();

        // A successor: the controller key re-created (a later epoch) by broker 1 or 2 once broker 3's lease expires.
        var successor = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.Store.GetAsync(cluster.Keys.Controller, CancellationToken.None), kv => kv is not null && kv.CreateRevision > before.CreateRevision);
        Assert.True(successor is not null && successor.CreateRevision > before.CreateRevision, "no new controller after the cut");
        int controller = int.Parse(Encoding.UTF8.GetString(successor.Value), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(controller, (int[])[1, 2]);
        TimeSpan succeeded = clock.Elapsed;

        // It elects a leader from the ISR for the partition broker 3 led, and drops broker 3 from every ISR.
        for (int p = 0; p < 3; p++)
        {
            var s = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, p), s => s is { Leader: 1 or 2 } && !s.Isr.Contains(Isolated));
            Assert.True(s is { Leader: 1 or 2 } && !s.Isr.Contains(Isolated), $"partition {p}: leader {s?.Leader}, ISR [{string.Join(',', s?.Isr ?? [])}]");
        }

        // The majority side's clients see the new controller and can create a topic (on the two brokers it has).
        int other = controller == 1 ? 2 : 1;
        var named = await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(other), m => m.ControllerId == controller);
        Assert.Equal(controller, named.ControllerId);
        var during = BrokerFixture.UniqueTopic("createdduringcut");
        using (var admin = new Confluent.Kafka.AdminClientBuilder(new Confluent.Kafka.AdminClientConfig
        {
            BootstrapServers = $"{cluster.Brokers[1].Bootstrap},{cluster.Brokers[2].Bootstrap}",
        }).Build())
        {
            await admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = during, NumPartitions = 2, ReplicationFactor = 2 }]);
        }

        for (int p = 0; p < 2; p++)
        {
            var s = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(during, p), s => s is { Leader: > 0, Isr.Count: 2 });
            Assert.True(s is { Leader: 1 or 2, Isr.Count: 2 } && !s.Replicas.Contains(Isolated), $"{during}-{p}: replicas [{string.Join(',', s?.Replicas ?? [])}]");
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"broker {controller} became controller {succeeded.TotalMilliseconds:F0} ms after the cut");

        // Healed: broker 3 registers again under a new broker epoch, as a broker, not the controller; it names the
        // successor, sees the topic created while it was away, and rejoins the ISR of the partitions it replicates.
        await host.HealAsync();
        var registered = await ThreeBrokerCluster.WaitForAsync(() => cluster.Store.GetAsync(cluster.Keys.Broker(Isolated), CancellationToken.None), kv => kv is not null);
        Assert.NotNull(registered);
        Assert.Equal(controller, await cluster.ControllerIdAsync());
        var view = await ThreeBrokerCluster.WaitForAsync(
            () => cluster.MetadataAsync(Isolated, during), m => m.ControllerId == controller && m.Topics.Count == 1 && m.Topics[0].ErrorCode == 0);
        Assert.Equal((controller, (short)0, 2), (view.ControllerId, view.Topics[0].ErrorCode, view.Topics[0].Partitions.Count));
        for (int p = 0; p < 3; p++)
        {
            var s = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, p), s => s is { Isr.Count: 3 });
            Assert.Equal(3, s!.Isr.Count);
        }

        var after = await cluster.Store.GetAsync(cluster.Keys.Controller, CancellationToken.None);
        Assert.Equal(successor.CreateRevision, after!.CreateRevision);
    }

    private static async Task<short> ProduceAsync(RawConnection connection, string topic, int partition, string tag, short acks, int timeoutMs)
    {
        var batch = Batches.Create(1, timestamp: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), tag: tag);
        var response = await connection.RequestAsync<ProduceResponse>(
            ApiKey.Produce, 9, RequestFrames.Produce(topic, partition, batch, acks, timeoutMs), TimeSpan.FromSeconds(30));
        return Assert.Single(Assert.Single(response.Responses).PartitionResponses).ErrorCode;
    }

    /// <summary>The record keys of a replica's batches (uncompressed, as <see cref="Batches.Create"/> makes them), in log order.</summary>
    private static List<string> Keys(byte[] log)
    {
        var keys = new List<string>();
        foreach (var (_, _, bytes) in Batches.Split(log))
        {
            var reader = new RecordReader(bytes.AsSpan(RecordBatch.HeaderSize));
            while (reader.TryRead(out RecordView record))
            {
                // Batches.Create keys its records "{tag}-{index}"; each batch here has one record.
                string key = Encoding.UTF8.GetString(record.Key);
                keys.Add(key[..key.LastIndexOf('-')]);
            }
        }

        return keys;
    }
}
