using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>DescribeConfigs (key 32) over an in-memory connection.</summary>
public sealed class DescribeConfigsHandlerTests : HandlerTest
{
    internal static DescribeConfigsRequest Query(sbyte type, string name, params string[] keys) => new()
    {
        Resources = [new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = type, ResourceName = name, ConfigurationKeys = keys.Length == 0 ? null : [.. keys] }],
    };

    [Fact]
    public async Task A_topic_shows_the_asked_configs_and_an_unknown_topic_gets_UNKNOWN_TOPIC_OR_PARTITION()
    {
        await CreateTopicAsync("c");
        DescribeConfigsResponse known = await Client.SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 2, Query(2, "c", "retention.ms"), cancellationToken: Token);
        DescribeConfigsResponse unknown = await Client.SendAsync<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 2, Query(2, "nope"), cancellationToken: Token);

        DescribeConfigsResponse.DescribeConfigsResult result = Assert.Single(known.Results);
        Assert.Equal(0, result.ErrorCode);
        Assert.Equal((7L * 24 * 3600 * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(result.Configs, c => c.Name == "retention.ms").Value);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, unknown.Results[0].ErrorCode);
    }
}
