using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DescribeLogDirs (key 35) over an in-memory connection.</summary>
public sealed class DescribeLogDirsHandlerTests : HandlerTest
{
    [Fact]
    public async Task The_data_directory_lists_each_partition_with_its_size()
    {
        await CreateTopicAsync("s", partitions: 2);
        await ProduceAsync("s", 1, 20);

        DescribeLogDirsResponse response = await Client.SendAsync<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, 4, new DescribeLogDirsRequest { Topics = null }, cancellationToken: Token);

        DescribeLogDirsResponse.DescribeLogDirsResult dir = Assert.Single(response.Results);
        Assert.Equal(0, dir.ErrorCode);
        DescribeLogDirsResponse.DescribeLogDirsTopic topic = dir.Topics.Single(t => t.Name == "s");
        Assert.Equal([0, 1], topic.Partitions.Select(p => p.PartitionIndex).Order());
        Assert.Equal(0, topic.Partitions.Single(p => p.PartitionIndex == 0).PartitionSize);
        Assert.True(topic.Partitions.Single(p => p.PartitionIndex == 1).PartitionSize > 20 * 16);
    }
}
