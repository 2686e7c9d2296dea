using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>AlterConfigs (key 33) over an in-memory connection: a topic's overrides replaced as a whole.</summary>
public sealed class AlterConfigsHandlerTests : HandlerTest
{
    private Task<AlterConfigsResponse> AlterAsync(sbyte type, string name, string key, string value) =>
        Client.SendAsync<AlterConfigsResponse>(ApiKey.AlterConfigs, 2, new AlterConfigsRequest
        {
            Resources = [new AlterConfigsRequest.AlterConfigsResource { ResourceType = type, ResourceName = name, Configs = [new AlterConfigsRequest.AlterableConfig { Name = key, Value = value }] }],
        }, cancellationToken: Token);

    [Fact]
    public async Task A_topic_override_is_set_and_described_and_a_broker_resource_gets_INVALID_REQUEST()
    {
        await CreateTopicAsync("a");
        Assert.Equal(0, (await AlterAsync(2, "a", "retention.ms", "60000")).Responses[0].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, (await AlterAsync(4, "1", "retention.ms", "60000")).Responses[0].ErrorCode);

        DescribeConfigsResponse described = await Client.SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 2, DescribeConfigsHandlerTests.Query(2, "a", "retention.ms"), cancellationToken: Token);
        Assert.Equal("60000", described.Results[0].Configs.Single().Value);
    }
}
