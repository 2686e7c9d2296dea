using LogBroker.Broker.Groups;
using LogBroker.Protocol.Messages;
using KafkaError = LogBroker.Protocol.ErrorCode;

namespace LogBroker.Integration.Tests;

/// <summary>
/// OffsetCommit v0–1 and OffsetFetch v0 (issue 16): the last gaps to Kafka 3.9's ranges among the APIs
/// LogBroker implements. Raw requests in each version, and kafka-python 2.0.2 told it talks to Kafka
/// 0.8.1 (it commits with v0 and fetches with v0) and 0.8.2 (v1 both), on a real broker.
/// </summary>
[Collection(BrokerCollectionDefinition.Name)]
public sealed class OldOffsetVersionsTests(BrokerFixture broker)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task ApiVersions_advertises_OffsetCommit_and_OffsetFetch_from_version_0()
    {
        Dictionary<ApiKey, (short Min, short Max)> ranges = await RawConnection.AdvertisedRangesAsync(broker.Port, 3, Patience);
        Assert.Equal(((short)0, (short)9), ranges[ApiKey.OffsetCommit]);
        Assert.Equal(((short)0, (short)9), ranges[ApiKey.OffsetFetch]);
    }

    [Fact]
    public async Task A_v0_commit_is_a_standalone_commit_read_back_by_v0_and_by_v8()
    {
        string topic = await CreateTopicAsync();
        string group = "old-v0-" + Guid.NewGuid().ToString("N");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);

        OffsetCommitResponse committed = await connection.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 0,
            Commit(group, (topic, 0, 17, "v0-meta", -1), (topic, 3, 1, null, -1), ("missing-" + Guid.NewGuid().ToString("N"), 0, 1, null, -1)), Patience);
        OffsetFetchResponse v0 = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 0, new OffsetFetchRequest
        {
            GroupId = group,
            Topics = [new OffsetFetchRequest.OffsetFetchRequestTopic { Name = topic, PartitionIndexes = [0] }],
        }, Patience);
        OffsetFetchResponse v8 = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }],
        }, Patience);

        short[] errors = [.. committed.Topics.SelectMany(t => t.Partitions).Select(p => p.ErrorCode)];
        Assert.Equal(new short[] { 0, (short)KafkaError.UnknownTopicOrPartition, (short)KafkaError.UnknownTopicOrPartition }, errors);
        OffsetFetchResponse.OffsetFetchResponsePartition old = v0.Topics.Single().Partitions.Single();
        Assert.Equal((0, 17L, "v0-meta"), (old.ErrorCode, old.CommittedOffset, old.Metadata));
        OffsetFetchResponse.OffsetFetchResponsePartitions now = v8.Groups.Single().Topics.Single().Partitions.Single();
        Assert.Equal((topic, 0, 17L, "v0-meta"), (v8.Groups[0].Topics[0].Name, now.PartitionIndex, now.CommittedOffset, now.Metadata));
    }

    [Fact]
    public async Task A_v1_commit_keeps_its_commit_timestamp_and_is_checked_against_the_group()
    {
        string topic = await CreateTopicAsync();
        string group = "old-v1-" + Guid.NewGuid().ToString("N");
        long then = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds();
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);

        OffsetCommitResponse stamped = await connection.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 1,
            Commit(group, (topic, 0, 5, "a", then), (topic, 1, 6, "b", -1), (topic, 2, 7, "c", -42)), Patience);
        long after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        OffsetCommitRequest asMember = Commit(group, (topic, 0, 9, null, -1));
        asMember.GenerationIdOrMemberEpoch = 3;
        asMember.MemberId = "not-a-member";
        OffsetCommitResponse refused = await connection.RequestAsync<OffsetCommitResponse>(ApiKey.OffsetCommit, 1, asMember, Patience);

        Assert.All(stamped.Topics.Single().Partitions, p => Assert.Equal(0, p.ErrorCode));
        GroupEntry entry = broker.Service<OffsetManager>().Find(group)!;
        CommittedOffset Stored(int partition)
        {
            lock (entry.Sync)
            {
                return entry.Offsets[(topic, partition)];
            }
        }

        Assert.Equal((5L, then), (Stored(0).Offset, Stored(0).CommitTimestamp)); // the client's timestamp, as Kafka stores it
        Assert.InRange(Stored(1).CommitTimestamp, then + 1, after); // -1: the broker's time
        Assert.InRange(Stored(2).CommitTimestamp, then + 1, after); // another negative: the broker's time too
        Assert.Equal((short)KafkaError.UnknownMemberId, refused.Topics.Single().Partitions.Single().ErrorCode); // v1 carries a generation
        Assert.Equal(5L, Stored(0).Offset);
    }

    /// <summary>
    /// kafka-python picks the OffsetCommit/OffsetFetch version from <c>api_version</c> alone (0.8.1: v0,
    /// 0.8.2: v1): each commits and the other reads it back; the versions sent are recorded by the script.
    /// </summary>
    [Fact]
    public async Task Kafka_python_as_a_0_8_1_and_a_0_8_2_client_commits_and_reads_offsets()
    {
        Assert.SkipUnless(KafkaPython.Available(), KafkaPython.Missing);
        string topic = await CreateTopicAsync();
        string group = "old-python-" + Guid.NewGuid().ToString("N");
        string script = $$"""
            from kafka import KafkaConsumer, TopicPartition
            from kafka.structs import OffsetAndMetadata
            sent = set()
            def consumer(version):
                c = KafkaConsumer(bootstrap_servers='127.0.0.1:{{broker.Port}}', api_version=version,
                                  group_id='{{group}}', enable_auto_commit=False, consumer_timeout_ms=1000)
                send = c._client.send
                def recording(node, request, **kw):
                    sent.add('%d/v%d' % (request.API_KEY, request.API_VERSION))
                    return send(node, request, **kw)
                c._client.send = recording
                c.assign([TopicPartition('{{topic}}', 0)])
                return c
            tp = TopicPartition('{{topic}}', 0)
            old, newer = consumer((0, 8, 1)), consumer((0, 8, 2))
            old.commit({tp: OffsetAndMetadata(11, 'from-0.8.1')})
            first = newer.committed(tp)
            newer.commit({tp: OffsetAndMetadata(12, 'from-0.8.2')})
            reader = consumer((0, 8, 1)) # a fresh one: a consumer remembers what it committed itself
            second = reader.committed(tp)
            old.close(); newer.close(); reader.close()
            print(first, second, ' '.join(sorted(s for s in sent if s.startswith('8/') or s.startswith('9/'))))
            """;

        (int exit, string output) = await Task.Run(() => (KafkaPython.Run(script, out string text), text));

        Assert.True(exit == 0, output);
        Assert.Equal("11 12 8/v0 8/v1 9/v0 9/v1", output.Trim().Split('\n')[^1].Trim());
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        OffsetFetchResponse v9 = await connection.RequestAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 9, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, MemberId = null, MemberEpoch = -1, Topics = null }],
        }, Patience);
        OffsetFetchResponse.OffsetFetchResponsePartitions last = v9.Groups.Single().Topics.Single().Partitions.Single();
        Assert.Equal((12L, "from-0.8.2"), (last.CommittedOffset, last.Metadata));
    }

    private static OffsetCommitRequest Commit(string group, params (string Topic, int Partition, long Offset, string? Metadata, long Timestamp)[] offsets) => new()
    {
        GroupId = group,
        GenerationIdOrMemberEpoch = -1,
        MemberId = "",
        Topics = [.. offsets.GroupBy(o => o.Topic).Select(t => new OffsetCommitRequest.OffsetCommitRequestTopic
        {
            Name = t.Key,
            Partitions = [.. t.Select(o => new OffsetCommitRequest.OffsetCommitRequestPartition
            {
                PartitionIndex = o.Partition,
                CommittedOffset = o.Offset,
                CommittedMetadata = o.Metadata,
                CommitTimestamp = o.Timestamp,
            })],
        })],
    };

    private async Task<string> CreateTopicAsync()
    {
        string topic = BrokerFixture.UniqueTopic("oldoffsets");
        using RawConnection connection = await RawConnection.OpenAsync(broker.Port);
        CreateTopicsResponse created = await connection.RequestAsync<CreateTopicsResponse>(ApiKey.CreateTopics, 4, new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = 3, ReplicationFactor = 1 }],
        }, Patience);
        Assert.Equal(0, created.Topics[0].ErrorCode);
        return topic;
    }
}
