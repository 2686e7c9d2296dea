using Confluent.Kafka;
using Confluent.Kafka.Admin;
using LogBroker.Integration.Tests.Security;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// Every broker of a cluster with two listeners (real processes, real etcd): CLIENT (PLAINTEXT, for clients) and INTERNAL
/// (SASL_SSL, SCRAM-SHA-512, the inter-broker listener), with ACLs on. Followers fetch over INTERNAL as the brokers' own
/// user; a client is told the endpoints of the listener it came in on; and a client on CLIENT that poses as a follower
/// is refused, since it has no ClusterAction.
/// </summary>
[Collection(ClusterProcesses.Name)]
public sealed class InterBrokerListenerTests
{
    private const string BrokerUser = "broker";
    private const string BrokerPassword = "inter-broker-secret";

    [Fact]
    public async Task Replicas_move_over_the_authenticated_inter_broker_listener_and_each_client_sees_its_own_listener()
    {
        using var dirs = new TempDirectory("interbroker");
        var certificates = TestCertificates.CreateCa(dirs.Path);
        (string certificate, string key) = certificates.Server();
        var internalPorts = new Dictionary<int, int> { [1] = BrokerProcess.FreePort(), [2] = BrokerProcess.FreePort(), [3] = BrokerProcess.FreePort() };
        await using var cluster = await ThreeBrokerCluster.StartAsync(new ThreeBrokerCluster
        {
            Settings =
            [
                "--Replication:InterBrokerListener=INTERNAL",
                $"--Replication:InterBroker:Username={BrokerUser}",
                $"--Replication:InterBroker:CaFile={certificates.CaFile}",
                $"--Security:InitialUser={BrokerUser}",
                $"--Security:SuperUsers=User:{BrokerUser}",
                "--Security:AuthorizationEnabled=true",
                "--Security:MaxReauthentication=00:00:02", // SASL sessions end every 2 s (KIP-368)
            ],
            BrokerSettings = (id, port) =>
            [
                "--Security:Listeners:0:Name=CLIENT", $"--Security:Listeners:0:Address=127.0.0.1:{port}", "--Security:Listeners:0:SecurityProtocol=PLAINTEXT",
                "--Security:Listeners:1:Name=INTERNAL", $"--Security:Listeners:1:Address=127.0.0.1:{internalPorts[id]}", "--Security:Listeners:1:SecurityProtocol=SASL_SSL",
                $"--Security:Listeners:1:CertificateFile={certificate}", $"--Security:Listeners:1:KeyFile={key}",
            ],
            Environment = new Dictionary<string, string>
            {
                ["LOGBROKER__Security__InitialPassword"] = BrokerPassword,
                ["LOGBROKER__Replication__InterBroker__Password"] = BrokerPassword,
            },
        });

        // Clients on CLIENT (anonymous) may use every topic; nobody but the brokers' user has ClusterAction.
        var internalConfig = new AdminClientConfig
        {
            BootstrapServers = $"127.0.0.1:{internalPorts[1]}",
            SecurityProtocol = SecurityProtocol.SaslSsl,
            SaslMechanism = SaslMechanism.ScramSha512,
            SaslUsername = BrokerUser,
            SaslPassword = BrokerPassword,
            SslCaLocation = certificates.CaFile,
            SocketTimeoutMs = 10_000,
        };
        using (var admin = new AdminClientBuilder(internalConfig).Build())
        {
            await admin.CreateAclsAsync([new AclBinding
            {
                Pattern = new ResourcePattern { Type = ResourceType.Topic, Name = "*", ResourcePatternType = ResourcePatternType.Literal },
                Entry = new AccessControlEntry { Principal = "User:ANONYMOUS", Host = "*", Operation = Confluent.Kafka.Admin.AclOperation.All, PermissionType = AclPermissionType.Allow },
            }]);

            // The INTERNAL listener's Metadata names every broker at its INTERNAL port.
            var internalView = admin.GetMetadata(TimeSpan.FromSeconds(10));
            Assert.Equal(internalPorts.OrderBy(p => p.Key).Select(p => p.Value), internalView.Brokers.OrderBy(b => b.BrokerId).Select(b => b.Port));

            // DescribeConfigs names both listeners in Kafka's forms.
            var described = await admin.DescribeConfigsAsync([new ConfigResource { Type = ResourceType.Broker, Name = "1" }]);
            var entries = Assert.Single(described).Entries;
            Assert.Equal($"CLIENT://127.0.0.1:{cluster.Brokers[1].Port},INTERNAL://127.0.0.1:{internalPorts[1]}", entries["advertised.listeners"].Value);
            Assert.Equal("CLIENT:PLAINTEXT,INTERNAL:SASL_SSL", entries["listener.security.protocol.map"].Value);
        }

        // The CLIENT listener's Metadata (at every broker) names every broker at its CLIENT port.
        foreach (int id in cluster.Brokers.Keys)
        {
            var clientView = await ThreeBrokerCluster.WaitForAsync(() => cluster.MetadataAsync(id), m => m.Brokers.Count == 3);
            Assert.Equal(cluster.Brokers.OrderBy(b => b.Key).Select(b => b.Value.Port), clientView.Brokers.OrderBy(b => b.NodeId).Select(b => b.Port));
        }

        // acks=all with min.insync.replicas=3 is answered only once both followers fetched the records: over INTERNAL,
        // since CLIENT would refuse them (anonymous, no ClusterAction).
        const string topic = "over-internal";
        await ThreeBrokerCluster.WaitForAsync(async () =>
        {
            try
            {
                await cluster.CreateTopicAsync(topic, 1, 3, new Dictionary<string, string> { ["min.insync.replicas"] = "3" });
                return true;
            }
            catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == Confluent.Kafka.ErrorCode.TopicAlreadyExists))
            {
                return true;
            }
            catch (KafkaException)
            {
                return false; // the ACL has not reached every broker yet
            }
        }, created => created);
        var state = await ThreeBrokerCluster.WaitForAsync(() => cluster.PartitionStateAsync(topic, 0), s => s is { Leader: > 0, Isr.Count: 3 });
        Assert.Equal(3, state!.Isr.Count);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = cluster.Bootstrap,
            Acks = Acks.All,
            EnableIdempotence = true,
            MessageTimeoutMs = 20_000,
        }).Build())
        {
            for (var i = 0; i < 100; i++)
            {
                var result = await producer.ProduceAsync(topic, new Message<Null, string> { Value = $"r{i}" }, TestContext.Current.CancellationToken);
                Assert.Equal(PersistenceStatus.Persisted, result.Status);
                Assert.Equal(i, result.Offset.Value);
            }

            // Across several SASL session lifetimes the followers keep fetching: each reconnects before its session ends,
            // so no leader closes a follower's connection under it (which the follower would log as a failed fetch).
            for (var i = 100; i < 130; i++)
            {
                var result = await producer.ProduceAsync(topic, new Message<Null, string> { Value = $"r{i}" }, TestContext.Current.CancellationToken);
                Assert.Equal(i, result.Offset.Value);
                await Task.Delay(250, TestContext.Current.CancellationToken);
            }
        }

        foreach ((int id, BrokerProcess broker) in cluster.Brokers)
        {
            Assert.DoesNotContain(broker.RecentOutput(), line => line.Contains("Replica fetch from broker", StringComparison.Ordinal));
        }

        // An anonymous client on CLIENT posing as follower `other` is refused at the leader: its Fetch reads nothing (it
        // would read past the high watermark and move the follower's progress), its OffsetForLeaderEpoch is refused.
        int leader = state.Leader;
        int other = state.Replicas.First(r => r != leader);
        using var connection = await RawConnection.OpenAsync(cluster.Brokers[leader].Port);
        Guid topicId = (await cluster.MetadataAsync(leader, topic)).Topics[0].TopicId;
        var data = await FetchAsync(connection, topicId, other);
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.TopicAuthorizationFailed, data.ErrorCode);
        Assert.True(data.Records is null || data.Records.Value.Length == 0);

        var epochs = await connection.RequestAsync<OffsetForLeaderEpochResponse>(ApiKey.OffsetForLeaderEpoch, 4, new OffsetForLeaderEpochRequest
        {
            ReplicaId = other,
            Topics = [new OffsetForLeaderEpochRequest.OffsetForLeaderTopic { Topic = topic, Partitions = [new OffsetForLeaderEpochRequest.OffsetForLeaderPartition { Partition = 0, LeaderEpoch = 0, CurrentLeaderEpoch = -1 }] }],
        }, TimeSpan.FromSeconds(10));
        Assert.Equal((short)LogBroker.Protocol.ErrorCode.ClusterAuthorizationFailed, Assert.Single(Assert.Single(epochs.Topics).Partitions).ErrorCode);

        // The same client as a consumer (no replica id) reads the records: the refusal is the follower's, not the topic's.
        var consumed = await FetchAsync(connection, topicId, -1);
        Assert.Equal(0, consumed.ErrorCode);
        Assert.Equal(130, consumed.HighWatermark);
    }

    /// <summary>Fetch v15 of partition 0 from offset 0, as replica <paramref name="replicaId"/> (-1: a consumer).</summary>
    private static async Task<FetchResponse.PartitionData> FetchAsync(RawConnection connection, Guid topicId, int replicaId)
    {
        var fetch = await connection.RequestAsync<FetchResponse>(ApiKey.Fetch, 15, new FetchRequest
        {
            ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = replicaId, ReplicaEpoch = -1 },
            MaxWaitMs = 0,
            MaxBytes = 1 << 20,
            Topics =
            [
                new FetchRequest.FetchTopic
                {
                    TopicId = topicId,
                    Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1 << 20, CurrentLeaderEpoch = -1 }],
                },
            ],
        }, TimeSpan.FromSeconds(10));
        return Assert.Single(Assert.Single(fetch.Responses).Partitions);
    }
}
