using LogBroker.Broker.Quotas;
using LogBroker.Protocol.Messages;
using LogBroker.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>AlterClientQuotas (49) and DescribeClientQuotas (48) through the embedded broker's connection.</summary>
public sealed class ClientQuotasHandlerTests : HandlerTest
{
    protected override IReadOnlyList<(string Name, int Partitions)> Topics => [("q", 1)];

    private static AlterClientQuotasRequest.EntryData Entry(string? user, bool hasUser, string? client, bool hasClient, params (string Key, double Value, bool Remove)[] ops)
    {
        var entry = new AlterClientQuotasRequest.EntryData();
        if (hasUser)
        {
            entry.Entity.Add(new AlterClientQuotasRequest.EntityData { EntityType = "user", EntityName = user });
        }

        if (hasClient)
        {
            entry.Entity.Add(new AlterClientQuotasRequest.EntityData { EntityType = "client-id", EntityName = client });
        }

        foreach ((string key, double value, bool remove) in ops)
        {
            entry.Ops.Add(new AlterClientQuotasRequest.OpData { Key = key, Value = value, Remove = remove });
        }

        return entry;
    }

    private Task<AlterClientQuotasResponse> AlterAsync(bool validateOnly, params AlterClientQuotasRequest.EntryData[] entries) =>
        Client.SendAsync<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, 1, new AlterClientQuotasRequest { Entries = [.. entries], ValidateOnly = validateOnly }, cancellationToken: Token);

    private Task<DescribeClientQuotasResponse> DescribeAsync(bool strict, params (string Type, sbyte Match, string? Name)[] components) =>
        Client.SendAsync<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, 1, new DescribeClientQuotasRequest
        {
            Strict = strict,
            Components = [.. Array.ConvertAll(components, c => new DescribeClientQuotasRequest.ComponentData { EntityType = c.Type, MatchType = c.Match, Match = c.Name })],
        }, cancellationToken: Token);

    [Fact]
    public async Task Alter_then_describe_by_exact_default_and_any()
    {
        AlterClientQuotasResponse altered = await AlterAsync(false,
            Entry(null, false, "fast", true, ("producer_byte_rate", 1_048_576, false)),
            Entry(null, false, null, true, ("consumer_byte_rate", 2000, false)),
            Entry("alice", true, "fast", true, ("producer_byte_rate", 5000, false), ("consumer_byte_rate", 6000, false)));
        Assert.All(altered.Entries, e => Assert.Equal(0, e.ErrorCode));

        DescribeClientQuotasResponse exact = await DescribeAsync(false, ("client-id", 0, "fast"));
        Assert.Equal(0, exact.ErrorCode);
        Assert.Equal(2, exact.Entries!.Count); // client-id=fast, and user=alice/client-id=fast (not strict)

        DescribeClientQuotasResponse strict = await DescribeAsync(true, ("client-id", 0, "fast"));
        DescribeClientQuotasResponse.EntryData only = Assert.Single(strict.Entries!);
        Assert.Equal(1_048_576, Assert.Single(only.Values).Value);

        DescribeClientQuotasResponse defaults = await DescribeAsync(true, ("client-id", 1, null));
        DescribeClientQuotasResponse.EntityData entity = Assert.Single(Assert.Single(defaults.Entries!).Entity);
        Assert.Equal("client-id", entity.EntityType);
        Assert.Null(entity.EntityName);

        DescribeClientQuotasResponse users = await DescribeAsync(false, ("user", 2, null));
        Assert.Equal(2, Assert.Single(users.Entries!).Values.Count);

        Assert.Equal(3, (await DescribeAsync(false)).Entries!.Count);
    }

    [Fact]
    public async Task Validate_only_changes_nothing_and_removal_removes()
    {
        AlterClientQuotasResponse validated = await AlterAsync(true, Entry(null, false, "c", true, ("producer_byte_rate", 1000, false)));
        Assert.Equal(0, validated.Entries[0].ErrorCode);
        Assert.Empty((await DescribeAsync(false)).Entries!);

        await AlterAsync(false, Entry(null, false, "c", true, ("producer_byte_rate", 1000, false)));
        Assert.True(Broker.Services.GetRequiredService<ClientQuotaManager>().IsEnabled(QuotaType.Produce));
        await AlterAsync(false, Entry(null, false, "c", true, ("producer_byte_rate", 0, true)));
        Assert.Empty((await DescribeAsync(false)).Entries!);
        Assert.False(Broker.Services.GetRequiredService<ClientQuotaManager>().IsEnabled(QuotaType.Produce));
    }

    [Fact]
    public async Task Invalid_entries_get_INVALID_REQUEST_and_valid_ones_still_apply()
    {
        AlterClientQuotasResponse altered = await AlterAsync(false,
            Entry(null, false, "ok", true, ("producer_byte_rate", 1000, false)),
            Entry(null, false, "neg", true, ("producer_byte_rate", -5, false)),
            Entry(null, false, "frac", true, ("producer_byte_rate", 1.5, false)),
            Entry(null, false, "key", true, ("bogus_rate", 10, false)),
            Entry(null, false, "twice", true, ("producer_byte_rate", 10, false), ("producer_byte_rate", 20, false)),
            Entry(null, false, "", true, ("producer_byte_rate", 10, false)),
            Entry(null, false, null, false, ("producer_byte_rate", 10, false)),
            Entry(null, false, "cpu", true, ("request_percentage", -1, false)));
        Assert.Equal(0, altered.Entries[0].ErrorCode);
        for (int i = 1; i < altered.Entries.Count; i++)
        {
            Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, altered.Entries[i].ErrorCode);
        }

        Assert.Single((await DescribeAsync(false)).Entries!);

        Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, (await DescribeAsync(false, ("ip", 2, null))).ErrorCode);
        Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, (await DescribeAsync(false, ("user", 2, null), ("user", 1, null))).ErrorCode);
        Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, (await DescribeAsync(false, ("user", 0, null))).ErrorCode);
        Assert.Equal((short)Protocol.ErrorCode.InvalidRequest, (await DescribeAsync(false, ("user", 7, null))).ErrorCode);
    }

    [Fact]
    public async Task Produce_and_fetch_over_quota_carry_a_throttle_time()
    {
        ProduceResponse before = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("q", 0, Batches.Create(100, 200)), cancellationToken: Token);
        Assert.Equal(0, before.ThrottleTimeMs);

        // The embedded client's id is "embedded": 1,000 B/s each way; one ~11 KB batch is more than that over the 10 s window (a throttle of about 1 s, which the fetch after it waits out).
        await AlterAsync(false, Entry(null, false, "embedded", true, ("producer_byte_rate", 1000, false), ("consumer_byte_rate", 1000, false)));
        ProduceResponse produced = await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("q", 0, Batches.Create(50, 200)), cancellationToken: Token);
        Assert.Equal(0, produced.Responses[0].PartitionResponses[0].ErrorCode);
        Assert.InRange(produced.ThrottleTimeMs, 1, 11_000);

        // Over the consumer quota: the fetch is answered empty (its records are not sent and do not count) with the throttle time.
        FetchResponse throttled = await FetchAsync(0);
        Assert.Empty(throttled.Responses);
        Assert.InRange(throttled.ThrottleTimeMs, 1, 11_000);
    }

    [Fact]
    public async Task A_fetch_within_the_consumer_quota_gets_its_records_and_one_over_it_gets_none()
    {
        await Client.SendAsync<ProduceResponse>(ApiKey.Produce, 9, RequestFrames.Produce("q", 0, Batches.Create(10, 100)), cancellationToken: Token);
        await AlterAsync(false, Entry(null, false, "embedded", true, ("consumer_byte_rate", 1_000_000, false)));

        // Well within 1 MB/s: the records come back with no throttle.
        FetchResponse first = await FetchAsync(0);
        Assert.True(first.Responses[0].Partitions[0].Records is { Length: > 1000 });
        Assert.Equal(0, first.ThrottleTimeMs);

        // A quota of 100 B/s: the window allows at most 1,000 B, so the fetch asks for no more than that; the first
        // batch still comes back (KIP-74) and puts the client over: this response is empty and throttled.
        await AlterAsync(false, Entry(null, false, "embedded", true, ("consumer_byte_rate", 100, false)));
        FetchResponse over = await FetchAsync(0);
        Assert.Empty(over.Responses);
        Assert.True(over.ThrottleTimeMs > 0);
    }

    [Fact]
    public async Task A_client_over_its_request_quota_is_throttled_and_one_under_it_is_not()
    {
        // "heavy" may use a hundred-thousandth of a percent of a thread (0.1 µs a second: any request is more
        // than that over the 10 s window); "light" ten thousand percent (a hundred threads: never reached).
        AlterClientQuotasResponse altered = await AlterAsync(false,
            Entry(null, false, "heavy", true, ("request_percentage", 0.00001, false)),
            Entry(null, false, "light", true, ("request_percentage", 10_000, false)));
        Assert.All(altered.Entries, e => Assert.Equal(0, e.ErrorCode));

        EmbeddedClient heavy = Broker.Connect();
        EmbeddedClient light = Broker.Connect();
        for (int i = 1; i <= 3; i++)
        {
            MetadataResponse lit = await SendAsAsync<MetadataResponse>(light, "light", i, ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
            Assert.Equal(0, lit.ThrottleTimeMs);
        }

        MetadataResponse first = await SendAsAsync<MetadataResponse>(heavy, "heavy", 1, ApiKey.Metadata, 12, new MetadataRequest { Topics = null });
        Assert.InRange(first.ThrottleTimeMs, 1, 1000); // a request throttle is bounded by one window

        // Exempt: ApiVersions is never throttled, however far over the client is.
        ApiVersionsResponse versions = await SendAsAsync<ApiVersionsResponse>(heavy, "heavy", 2, ApiKey.ApiVersions, 3, new ApiVersionsRequest { ClientSoftwareName = "t", ClientSoftwareVersion = "1" });
        Assert.Equal(0, versions.ThrottleTimeMs);

        // The quota also applies to any other API's response (here a quota describe).
        DescribeClientQuotasResponse described = await SendAsAsync<DescribeClientQuotasResponse>(heavy, "heavy", 3, ApiKey.DescribeClientQuotas, 1, new DescribeClientQuotasRequest());
        Assert.True(described.ThrottleTimeMs > 0);
    }

    /// <summary>Sends a request whose header names <paramref name="clientId"/> (the embedded client always says "embedded").</summary>
    private static async Task<TResponse> SendAsAsync<TResponse>(EmbeddedClient client, string clientId, int correlation, ApiKey key, short version, IKafkaMessage request)
        where TResponse : IKafkaMessage, new()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new Protocol.Primitives.KafkaWriter(buffer);
        new RequestHeader((short)key, version, correlation, clientId).Write(ref writer);
        request.Write(ref writer, version);
        writer.Commit();
        byte[] frame = new byte[4 + buffer.WrittenCount];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, buffer.WrittenCount);
        buffer.WrittenSpan.CopyTo(frame.AsSpan(4));
        await client.WriteAsync(frame, Token);
        byte[] answer = await client.ReadFrameAsync(Token) ?? throw new InvalidOperationException("closed");
        return EmbeddedClient.Decode<TResponse>(answer, key, version, correlation);
    }

    private Task<FetchResponse> FetchAsync(long offset) =>
        Client.SendAsync<FetchResponse>(ApiKey.Fetch, 11, new FetchRequest
        {
            MaxWaitMs = 0,
            MaxBytes = 1 << 20,
            Topics = [new FetchRequest.FetchTopic { Topic = "q", Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
        }, cancellationToken: Token);
}
