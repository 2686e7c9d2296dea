using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>IncrementalAlterConfigs (key 44) over an in-memory connection: SET, DELETE and the refusals.</summary>
public sealed class IncrementalAlterConfigsHandlerTests : HandlerTest
{
    private async Task<short> AlterAsync(string topic, params (string Name, sbyte Op, string? Value)[] configs)
    {
        IncrementalAlterConfigsResponse response = await Client.SendAsync<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, new IncrementalAlterConfigsRequest
        {
            Resources =
            [
                new IncrementalAlterConfigsRequest.AlterConfigsResource
                {
                    ResourceType = 2,
                    ResourceName = topic,
                    Configs = [.. configs.Select(c => new IncrementalAlterConfigsRequest.AlterableConfig { Name = c.Name, ConfigOperation = c.Op, Value = c.Value })],
                },
            ],
        }, cancellationToken: Token);
        return response.Responses[0].ErrorCode;
    }

    [Fact]
    public async Task Set_then_delete_goes_back_to_the_default()
    {
        await CreateTopicAsync("i");
        Assert.Equal(0, await AlterAsync("i", ("retention.ms", 0, "1000")));
        Assert.Equal("1000", await ValueAsync("i"));
        Assert.Equal(0, await AlterAsync("i", ("retention.ms", 1, null)));
        Assert.Equal("604800000", await ValueAsync("i"));
    }

    [Fact]
    public async Task Append_gets_INVALID_CONFIG_a_repeated_name_INVALID_REQUEST_and_an_unknown_topic_UNKNOWN_TOPIC_OR_PARTITION()
    {
        await CreateTopicAsync("i");
        Assert.Equal((short)ErrorCode.InvalidConfig, await AlterAsync("i", ("retention.ms", 2, "1")));
        Assert.Equal((short)ErrorCode.InvalidRequest, await AlterAsync("i", ("retention.ms", 0, "1"), ("retention.ms", 0, "2")));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, await AlterAsync("nope", ("retention.ms", 0, "1")));
        Assert.Equal("604800000", await ValueAsync("i")); // nothing changed
    }

    private async Task<string?> ValueAsync(string topic)
    {
        DescribeConfigsResponse described = await Client.SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 2, DescribeConfigsHandlerTests.Query(2, topic, "retention.ms"), cancellationToken: Token);
        return described.Results[0].Configs.Single().Value;
    }
}
