using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>OffsetForLeaderEpoch (key 23) on a single node: every batch is in epoch 0, so epoch 0 ends at the log end offset.</summary>
public sealed class OffsetForLeaderEpochHandlerTests : HandlerTest
{
    private Task<OffsetForLeaderEpochResponse> AskAsync(string topic, int partition, int epoch, short version = 4, int currentLeaderEpoch = -1) =>
        Client.SendAsync<OffsetForLeaderEpochResponse>(ApiKey.OffsetForLeaderEpoch, version, new OffsetForLeaderEpochRequest
        {
            ReplicaId = -1,
            Topics =
            [
                new OffsetForLeaderEpochRequest.OffsetForLeaderTopic
                {
                    Topic = topic,
                    Partitions = [new OffsetForLeaderEpochRequest.OffsetForLeaderPartition { Partition = partition, LeaderEpoch = epoch, CurrentLeaderEpoch = currentLeaderEpoch }],
                },
            ],
        }, cancellationToken: Token);

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Epoch_0_ends_at_the_log_end_offset_in_every_version(short version)
    {
        await CreateTopicAsync("e");
        await ProduceAsync("e", 0, 3);
        await ProduceAsync("e", 0, 4);

        OffsetForLeaderEpochResponse.EpochEndOffset result = (await AskAsync("e", 0, 0, version)).Topics[0].Partitions[0];

        Assert.Equal((short)0, result.ErrorCode);
        Assert.Equal(7, result.EndOffset);
        Assert.Equal(version >= 1 ? 0 : -1, result.LeaderEpoch); // v0 has no leader epoch in the answer
    }

    [Fact]
    public async Task An_epoch_above_every_known_one_is_undefined_and_an_unknown_partition_is_refused()
    {
        await CreateTopicAsync("e");
        await ProduceAsync("e", 0, 3);

        OffsetForLeaderEpochResponse.EpochEndOffset above = (await AskAsync("e", 0, 5)).Topics[0].Partitions[0];
        Assert.Equal(((short)0, -1, -1L), (above.ErrorCode, above.LeaderEpoch, above.EndOffset));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await AskAsync("e", 1, 0)).Topics[0].Partitions[0].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, (await AskAsync("nope", 0, 0)).Topics[0].Partitions[0].ErrorCode);
    }
}
