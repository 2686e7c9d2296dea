using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Replication;

/// <summary>
/// Registers OffsetForLeaderEpoch (always: a single node answers it from its own epoch cache) and, in cluster mode
/// (<c>Cluster:Etcd:Endpoints</c> set), the <see cref="ReplicaManager"/> as the broker's <see cref="IReplicaManager"/>.
/// Call before the cluster's own registration, whose stand-in is added only when none is registered.
/// </summary>
internal static class ReplicationRegistration
{
    public static IServiceCollection AddLogBrokerReplication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IRequestHandler, OffsetForLeaderEpochHandler>();
        services.AddOptions<ReplicationOptions>().Bind(configuration.GetSection("Replication")).ValidateDataAnnotations().ValidateOnStart();
        var cluster = new Cluster.ClusterOptions();
        configuration.GetSection("Cluster").Bind(cluster);
        if (!cluster.Enabled)
        {
            return services;
        }

        services.AddSingleton<IValidateOptions<ReplicationOptions>>(sp => new InterBrokerValidation(
            sp.GetRequiredService<IOptions<BrokerOptions>>(), sp.GetRequiredService<IOptions<Security.SecurityOptions>>()));
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ReplicationOptions>>().Value);
        services.AddSingleton<ReplicaManager>();
        services.AddSingleton<IReplicaManager>(sp => sp.GetRequiredService<ReplicaManager>());
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaManager>());
        return services;
    }

    /// <summary>Cluster mode only: the inter-broker listener must be one of the listeners, and a SASL one needs the broker's credentials.</summary>
    private sealed class InterBrokerValidation(IOptions<BrokerOptions> broker, IOptions<Security.SecurityOptions> security) : IValidateOptions<ReplicationOptions>
    {
        public ValidateOptionsResult Validate(string? name, ReplicationOptions options) =>
            InterBrokerListenerError(options, broker.Value, security.Value) is { } error ? ValidateOptionsResult.Fail($"Replication:InterBrokerListener: {error}.") : ValidateOptionsResult.Success;
    }

    /// <summary>Why the inter-broker listener cannot be used, or null.</summary>
    internal static string? InterBrokerListenerError(ReplicationOptions replication, BrokerOptions broker, Security.SecurityOptions security)
    {
        List<Security.ListenerOptions> listeners = Security.ListenerInfo.Configured(broker, security);
        Security.ListenerOptions? inter = replication.InterBrokerListener is null
            ? listeners[0]
            : listeners.Find(l => string.Equals(l.Name, replication.InterBrokerListener, StringComparison.Ordinal));
        if (inter is null)
        {
            return $"no listener is named '{replication.InterBrokerListener}'";
        }

        return inter.UsesSasl && (replication.InterBroker.Username is null || replication.InterBroker.Password is null)
            ? $"the listener '{inter.Name}' uses SASL and Replication:InterBroker has no Username and Password"
            : null;
    }
}
