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

        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ReplicationOptions>>().Value);
        services.AddSingleton<ReplicaManager>();
        services.AddSingleton<IReplicaManager>(sp => sp.GetRequiredService<ReplicaManager>());
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaManager>());
        return services;
    }
}
