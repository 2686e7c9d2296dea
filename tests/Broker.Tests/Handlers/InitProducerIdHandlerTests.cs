using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>InitProducerId (key 22) over an in-memory connection: idempotent producers only.</summary>
public sealed class InitProducerIdHandlerTests : HandlerTest
{
    [Fact]
    public async Task Each_idempotent_producer_gets_a_new_id_at_epoch_0()
    {
        var request = new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 };
        InitProducerIdResponse first = await Client.SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, request, cancellationToken: Token);
        InitProducerIdResponse second = await Client.SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, request, cancellationToken: Token);

        Assert.Equal((0, (short)0), (first.ErrorCode, first.ProducerEpoch));
        Assert.True(first.ProducerId >= 0);
        Assert.NotEqual(first.ProducerId, second.ProducerId);
    }

    [Fact]
    public async Task A_transactional_id_is_refused()
    {
        var request = new InitProducerIdRequest { TransactionalId = "tx", TransactionTimeoutMs = 60_000, ProducerId = -1, ProducerEpoch = -1 };
        InitProducerIdResponse response = await Client.SendAsync<InitProducerIdResponse>(ApiKey.InitProducerId, 4, request, cancellationToken: Token);

        Assert.NotEqual(0, response.ErrorCode);
        Assert.Equal(-1, response.ProducerId);
    }
}
