using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LogBroker.Client;

/// <summary>Registers LogBroker clients in a service collection (singletons, disposed with the container).</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="KafkaProducer"/> built from <paramref name="options"/> and the container's logger
    /// factory, resolvable as itself and as <see cref="IKafkaProducer"/> (one instance).
    /// </summary>
    public static IServiceCollection AddLogBrokerProducer(this IServiceCollection services, ProducerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services.AddSingleton(sp => new KafkaProducer(options, sp.GetService<ILoggerFactory>()))
            .AddSingleton<IKafkaProducer>(static sp => sp.GetRequiredService<KafkaProducer>());
    }

    /// <summary>
    /// Registers a <see cref="KafkaConsumer"/> built from <paramref name="options"/> and the container's logger
    /// factory, resolvable as itself and as <see cref="IKafkaConsumer"/> (one instance).
    /// </summary>
    public static IServiceCollection AddLogBrokerConsumer(this IServiceCollection services, ConsumerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services.AddSingleton(sp => new KafkaConsumer(options, sp.GetService<ILoggerFactory>()))
            .AddSingleton<IKafkaConsumer>(static sp => sp.GetRequiredService<KafkaConsumer>());
    }

    /// <summary>
    /// Registers an <see cref="AdminClient"/> built from <paramref name="options"/> and the container's logger
    /// factory, resolvable as itself and as <see cref="IAdminClient"/> (one instance).
    /// </summary>
    public static IServiceCollection AddLogBrokerAdmin(this IServiceCollection services, AdminOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return services.AddSingleton(sp => new AdminClient(options, sp.GetService<ILoggerFactory>()))
            .AddSingleton<IAdminClient>(static sp => sp.GetRequiredService<AdminClient>());
    }
}
