using LogBroker.Broker.Groups;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Broker.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker.Cluster;

/// <summary>Registers cluster mode when <c>Cluster:Etcd:Endpoints</c> is set; single-node mode registers nothing.</summary>
internal static class ClusterRegistration
{
    public static IServiceCollection AddLogBrokerCluster(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusterOptions>().Bind(configuration.GetSection("Cluster")).ValidateDataAnnotations().ValidateOnStart();
        var probe = new ClusterOptions();
        configuration.GetSection("Cluster").Bind(probe);
        if (!probe.Enabled)
        {
            return services;
        }

        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ClusterOptions>>().Value);
        services.AddSingleton<IControllerStore>(sp =>
        {
            var options = sp.GetRequiredService<ClusterOptions>();
            return new EtcdControllerStore(options.Etcd.Endpoints, options.Etcd.CallTimeout);
        });

        // The data plane registers the real one; until then partition states are followed, not replicated.
        services.TryAddSingleton<IReplicaManager, NoReplicaManager>();
        services.AddSingleton<ClusterMetadataCache>();
        services.AddSingleton(sp =>
        {
            var info = sp.GetRequiredService<ClusterInfo>();
            var cache = sp.GetRequiredService<ClusterMetadataCache>();
            var materializer = new TopicMaterializer(
                sp.GetRequiredService<TopicRegistry>(), sp.GetRequiredService<ProducerStates>(), cache, sp.GetRequiredService<IReplicaManager>(),
                info.NodeId, sp.GetRequiredService<ILogger<TopicMaterializer>>());
            string? interBroker = sp.GetRequiredService<ReplicationOptions>().InterBrokerListener;
            var service = new ClusterService(
                sp.GetRequiredService<IControllerStore>(), sp.GetRequiredService<ClusterOptions>(), info.NodeId,
                () => info.Listeners.Count == 0 ? new BrokerRegistration(info.NodeId, info.Host, info.Port, null) : BrokerRegistration.Of(info.NodeId, info.Endpoints(), interBroker, null),
                cache, materializer, sp.GetRequiredService<TopicRegistry>().ClusterId, sp.GetRequiredService<ILogger<ClusterService>>());
            if (sp.GetService<BrokerMetrics>() is { } metrics)
            {
                ClusterMetrics.Register(metrics.Meter, service);
            }

            return service;
        });
        services.AddHostedService(sp => sp.GetRequiredService<ClusterService>());
        services.AddSingleton(sp => new ClusterMetadataView(
            sp.GetRequiredService<ClusterService>(), sp.GetRequiredService<ClusterOptions>(), sp.GetRequiredService<BrokerOptions>(), sp.GetRequiredService<ClusterInfo>()));
        services.AddSingleton<ReplicatedOffsetStore>();
        services.AddSingleton<IReplicaRoleListener>(sp => sp.GetRequiredService<ReplicatedOffsetStore>());

        // Committed offsets are replicated through __consumer_offsets: this registration replaces the single node's.
        services.AddSingleton(sp =>
        {
            var store = sp.GetRequiredService<ReplicatedOffsetStore>();
            var manager = new OffsetManager(sp.GetRequiredService<TimeProvider>(), store, sp.GetRequiredService<BrokerOptions>().OffsetsRetention,
                sp.GetRequiredService<TopicRegistry>(), sp.GetRequiredService<ILogger<OffsetManager>>());
            store.Manager = manager;
            return manager;
        });
        services.AddSingleton(sp => new ClusterProducerIds(sp.GetRequiredService<ClusterService>())); // unique across the brokers
        services.AddSingleton<IReplicatedDocument>(sp => sp.GetRequiredService<AclStore>());
        services.AddSingleton<IReplicatedDocument>(sp => sp.GetRequiredService<Security.ScramCredentialStore>());
        services.AddSingleton<IReplicatedDocument>(sp => sp.GetRequiredService<Quotas.ClientQuotaStore>());
        services.AddSingleton(sp => new ClusterDocuments(
            sp.GetRequiredService<IControllerStore>(), sp.GetRequiredService<ClusterOptions>(), sp.GetServices<IReplicatedDocument>(),
            sp.GetRequiredService<IOptions<Security.SecurityOptions>>().Value, sp.GetRequiredService<ILogger<ClusterDocuments>>()));
        services.AddHostedService(sp => sp.GetRequiredService<ClusterDocuments>()); // ACLs, users and quotas: the cluster's
        services.AddSingleton(sp => new GroupCoordinatorMap(sp.GetRequiredService<ClusterService>(), sp.GetRequiredService<ReplicatedOffsetStore>()));
        services.AddSingleton(sp => new ClusterCoordinatorLookup(
            sp.GetRequiredService<ClusterService>(), sp.GetRequiredService<ClusterOptions>(), sp.GetRequiredService<GroupCoordinatorMap>()));
        services.AddSingleton(sp => new ClusterTopicAdmin(
            sp.GetRequiredService<ClusterService>(), sp.GetRequiredService<ClusterOptions>(), sp.GetRequiredService<BrokerOptions>(), sp.GetRequiredService<TopicRegistry>(),
            sp.GetService<Authorizer>()));
        services.AddSingleton<IBrokerDirectory>(sp => sp.GetRequiredService<ClusterService>());
        services.AddSingleton<IIsrChangeSink>(sp =>
            new StoreIsrChangeSink(
                sp.GetRequiredService<IControllerStore>(), new ClusterKeys(sp.GetRequiredService<ClusterOptions>().KeyRoot),
                sp.GetRequiredService<ClusterInfo>().NodeId));
        return services;
    }
}
