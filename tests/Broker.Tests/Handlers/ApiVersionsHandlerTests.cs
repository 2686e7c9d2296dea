using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>ApiVersions (key 18) over an in-memory connection: the table, and the KIP-511 v0 fallback.</summary>
public sealed class ApiVersionsHandlerTests : HandlerTest
{
    [Fact]
    public async Task Every_version_it_serves_lists_every_handler_once_sorted_by_key_with_its_range()
    {
        var expected = Broker.Dispatcher.Advertised;
        for (short version = 0; version <= 4; version++)
        {
            ApiVersionsResponse response = await Client.SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, version,
                new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" }, cancellationToken: Token);

            Assert.Equal(0, response.ErrorCode);
            Assert.Equal(expected.Select(a => ((short)a.Key, a.Min, a.Max)), response.ApiKeys.Select(k => (k.ApiKey, k.MinVersion, k.MaxVersion)));
        }

        Assert.Equal(Broker.Services.GetServices<IRequestHandler>().Count() + 1, expected.Count); // every registered handler, plus ApiVersions
        Assert.Contains((ApiKey.ApiVersions, (short)0, (short)4), expected);
        Assert.True(expected.Zip(expected.Skip(1)).All(p => p.First.Key < p.Second.Key));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(99)]
    [InlineData(-1)]
    public async Task A_version_it_does_not_know_is_answered_in_v0_with_UNSUPPORTED_VERSION_and_the_table(short version)
    {
        // The body of an unknown version cannot be decoded; the broker must not try.
        ApiVersionsResponse response = await Client.SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3,
            new ApiVersionsRequest(), responseVersion: 0, headerVersion: version, cancellationToken: Token);

        Assert.Equal((short)ErrorCode.UnsupportedVersion, response.ErrorCode);
        Assert.Equal(Broker.Dispatcher.Advertised.Count, response.ApiKeys.Count);

        // The connection stays open: the client retries with a version both know.
        ApiVersionsResponse retried = await Client.SendAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), cancellationToken: Token);
        Assert.Equal(0, retried.ErrorCode);
    }
}
