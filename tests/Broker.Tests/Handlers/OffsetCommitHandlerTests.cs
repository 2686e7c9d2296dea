using LogBroker.Protocol;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>OffsetCommit (key 8) over an in-memory connection: standalone commits and the per-partition refusals.</summary>
public sealed class OffsetCommitHandlerTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("t", 2)];

    [Fact]
    public async Task A_standalone_commit_is_stored_and_fetched_back()
    {
        Assert.Equal(new short[] { (short)0 }, await CommitAsync("oc", "t", 42, "meta"));

        (long offset, string? metadata) = await OffsetFetchHandlerTests.CommittedAsync(Client, "oc", "t", 0, Token);
        Assert.Equal((42L, "meta"), (offset, metadata));
    }

    [Fact]
    public async Task Metadata_over_4096_bytes_gets_OFFSET_METADATA_TOO_LARGE_and_an_impossible_topic_UNKNOWN_TOPIC_OR_PARTITION()
    {
        Assert.Equal(new short[] { (short)ErrorCode.OffsetMetadataTooLarge }, await CommitAsync("oc", "t", 1, new string('m', 4097)));
        Assert.Equal(new short[] { (short)ErrorCode.UnknownTopicOrPartition }, await CommitAsync("oc", new string('t', 250), 1));
        Assert.Equal(new short[] { (short)0 }, await CommitAsync("oc", "t", 1, new string('m', 4096)));
    }

    [Fact]
    public async Task A_topic_or_partition_that_does_not_exist_gets_UNKNOWN_TOPIC_OR_PARTITION()
    {
        Assert.Equal(new short[] { (short)ErrorCode.UnknownTopicOrPartition }, await CommitAsync("oc", "t", 1, partition: 2));
        Assert.Equal(new short[] { (short)ErrorCode.UnknownTopicOrPartition }, await CommitAsync("oc", "missing", 1));
    }
}
