using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>OffsetFetch (key 9) over an in-memory connection: v8+ (groups) and before.</summary>
public sealed class OffsetFetchHandlerTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("t", 2)];

    internal static async Task<(long Offset, string? Metadata)> CommittedAsync(EmbeddedClient client, string group, string topic, int partition, CancellationToken token)
    {
        OffsetFetchResponse response = await client.SendAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = topic, PartitionIndexes = [partition] }] }],
        }, cancellationToken: token);
        OffsetFetchResponse.OffsetFetchResponsePartitions p = response.Groups.Single().Topics.Single().Partitions.Single();
        return (p.CommittedOffset, p.Metadata);
    }

    [Fact]
    public async Task A_partition_without_a_commit_answers_minus_1_and_null_topics_mean_every_committed_partition()
    {
        await CommitAsync("of", "t", 5, partition: 1);

        Assert.Equal(-1, (await CommittedAsync(Client, "of", "t", 0, Token)).Offset);
        OffsetFetchResponse all = await Client.SendAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 7, new OffsetFetchRequest { GroupId = "of", Topics = null }, cancellationToken: Token);
        OffsetFetchResponse.OffsetFetchResponseTopic topic = Assert.Single(all.Topics);
        Assert.Equal([(1, 5L)], topic.Partitions.Select(p => (p.PartitionIndex, p.CommittedOffset)));
    }

    [Fact]
    public async Task A_group_asked_for_twice_is_answered_once()
    {
        await CommitAsync("of", "t", 5);
        OffsetFetchResponse response = await Client.SendAsync<OffsetFetchResponse>(ApiKey.OffsetFetch, 8, new OffsetFetchRequest
        {
            Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = "of", Topics = null }, new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = "of", Topics = null }],
        }, cancellationToken: Token);

        Assert.Single(response.Groups);
    }
}
