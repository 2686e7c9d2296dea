using LogBroker.Broker.Handlers;
using LogBroker.Broker.Network;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LogBroker.Broker.Cluster;

/// <summary>
/// Registers the operator APIs of the control plane (ElectLeaders, partition reassignment). Their handlers
/// serve both modes (a single node answers from its own topics); in cluster mode they act through the
/// controller this broker runs.
/// </summary>
internal static class ClusterAdminRegistration
{
    public static IServiceCollection AddLogBrokerClusterAdmin(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IRequestHandler, ElectLeadersHandler>();
        services.AddSingleton<IRequestHandler, AlterPartitionReassignmentsHandler>();
        services.AddSingleton<IRequestHandler, ListPartitionReassignmentsHandler>();
        var probe = new ClusterOptions();
        configuration.GetSection("Cluster").Bind(probe);
        if (probe.Enabled)
        {
            services.AddSingleton<ReassignmentReactor>();
            services.AddHostedService(sp => sp.GetRequiredService<ReassignmentReactor>());
        }

        return services;
    }
}
