namespace LogBroker.Client.Tests;

public sealed class TopicPartitionTests
{
    [Fact]
    public void Formats_as_topic_dash_partition() => Assert.Equal("t-3", new TopicPartition("t", 3).ToString());
}
