using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using LogBroker.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Quotas;

/// <summary>Registers client quotas: the durable store, the rate measurement, and DescribeClientQuotas / AlterClientQuotas.</summary>
internal static class QuotaServices
{
    public static IServiceCollection AddLogBrokerQuotas(this IServiceCollection services)
    {
        services.AddSingleton(sp => new ClientQuotaStore(sp.GetRequiredService<IOptions<StorageOptions>>().Value.DataDirectory));
        services.AddSingleton<ClientQuotaManager>();
        services.AddSingleton<IRequestHandler, DescribeClientQuotasHandler>();
        services.AddSingleton<IRequestHandler, AlterClientQuotasHandler>();
        return services;
    }
}
