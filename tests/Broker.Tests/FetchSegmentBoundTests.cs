using LogBroker.Broker.Handlers;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Storage;
using LogBroker.TestKit;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests;

/// <summary>
/// A Fetch of more partitions than <c>Storage:MaxOpenSegments</c> can hold open at once: the response
/// holds at most that many partitions' data (each keeps its segment open until it is sent), and the
/// rest are left for the next fetch without an error, as when the byte budget is spent.
/// </summary>
public sealed class FetchSegmentBoundTests : IDisposable
{
    private const int Bound = 16; // the smallest MaxOpenSegments allowed
    private const int Partitions = Bound + 8;
    private const string Topic = "wide";
    private static readonly LogConfig Config = LogConfig.Default with { SegmentBytes = 1024 * 1024, SegmentIndexBytes = 4096 };
    private readonly TempDirectory _dir = new("fetch-bound");
    private readonly LogManager _logs;
    private readonly TopicRegistry _topics;

    public FetchSegmentBoundTests()
    {
        _logs = LogManager.Open(new StorageOptions { DataDirectory = _dir.Path, Log = Config, MaxOpenSegments = Bound });
        _topics = new TopicRegistry(_logs, Config, NullLogger<TopicRegistry>.Instance);
        Assert.Equal(ErrorCode.None, _topics.Create(Topic, Partitions, new Dictionary<string, string?>(), validateOnly: false, out _));
    }

    public void Dispose()
    {
        _topics.Dispose();
        _logs.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Partitions_past_the_open_segment_bound_come_back_empty_without_an_error_and_are_served_by_the_next_fetch()
    {
        var produce = new ProduceHandler(_topics, new ProducerStates(), new BrokerOptions(), TimeProvider.System);
        for (int p = 0; p < Partitions; p++)
        {
            using RequestContext context = new(new byte[16], 16, new RequestHeader((short)ApiKey.Produce, 7, 1, null), "test");
            var produced = (ProduceResponse)(await produce.HandleAsync(context, new ProduceRequest
            {
                Acks = 1,
                TimeoutMs = 1000,
                TopicData = [new ProduceRequest.TopicProduceData { Name = Topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = p, Records = Batches.Create(1) }] }],
            }))!;
            Assert.Equal(0, produced.Responses.Single().PartitionResponses.Single().ErrorCode);
        }

        var fetch = new FetchHandler(_topics, new BrokerOptions(), TimeProvider.System);
        var unread = new HashSet<int>(Enumerable.Range(0, Partitions));
        for (int round = 0; round < 2; round++)
        {
            var topic = new FetchRequest.FetchTopic { Topic = Topic };
            foreach (int p in unread.Order())
            {
                topic.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = 0, PartitionMaxBytes = 1 << 16 });
            }

            // The response (and the segments it holds) is disposed with its context, before the next round.
            using RequestContext context = new(new byte[16], 16, new RequestHeader((short)ApiKey.Fetch, 11, 1, null), "test");
            var response = (FetchResponse)(await fetch.HandleAsync(context, new FetchRequest { MaxWaitMs = 0, MinBytes = 0, MaxBytes = 64 << 20, Topics = [topic] }))!;
            int served = 0;
            foreach (FetchResponse.PartitionData partition in response.Responses.Single().Partitions)
            {
                Assert.Equal(0, partition.ErrorCode);
                Assert.Equal(1, partition.HighWatermark);
                if (!partition.Records.GetValueOrDefault().IsEmpty)
                {
                    served++;
                    unread.Remove(partition.PartitionIndex);
                }
            }

            Assert.True(served <= Bound, $"one fetch held {served} partitions' segments open, over the bound of {Bound}");
            Assert.True(served > 0);
        }

        Assert.Empty(unread);
    }
}
