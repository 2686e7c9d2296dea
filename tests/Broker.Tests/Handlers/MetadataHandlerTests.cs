using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>Metadata (key 3) over an in-memory connection: this node, topics, unknown topics.</summary>
public sealed class MetadataHandlerTests : HandlerTest
{
    protected override IEnumerable<KeyValuePair<string, string?>> Settings => [new("Broker:AutoCreateTopics", "false")];

    [Fact]
    public async Task A_topic_is_listed_with_each_partition_led_by_this_node()
    {
        await CreateTopicAsync("m", partitions: 3);
        MetadataResponse response = await Client.SendAsync<MetadataResponse>(ApiKey.Metadata, 12,
            new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "m" }] }, cancellationToken: Token);

        MetadataResponse.MetadataResponseBroker broker = Assert.Single(response.Brokers);
        MetadataResponse.MetadataResponseTopic topic = Assert.Single(response.Topics);
        Assert.Equal((0, "m"), (topic.ErrorCode, topic.Name));
        Assert.Equal([0, 1, 2], topic.Partitions.Select(p => p.PartitionIndex).Order());
        Assert.All(topic.Partitions, p => Assert.Equal(broker.NodeId, p.LeaderId));
        Assert.Equal(broker.NodeId, response.ControllerId);
    }

    [Fact]
    public async Task An_unknown_topic_gets_UNKNOWN_TOPIC_OR_PARTITION_when_auto_creation_is_off()
    {
        MetadataResponse response = await Client.SendAsync<MetadataResponse>(ApiKey.Metadata, 12,
            new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "nope" }], AllowAutoTopicCreation = true }, cancellationToken: Token);

        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, Assert.Single(response.Topics).ErrorCode);
    }
}
