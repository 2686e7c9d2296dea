using LogBroker.Broker.Cluster;
using LogBroker.Broker.Groups;
using LogBroker.Broker.Handlers;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Broker.Producers;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Replication;
using LogBroker.Broker.Security;
using LogBroker.Broker.Telemetry;
using LogBroker.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LogBroker.Broker;

/// <summary>
/// Builds the broker host: configuration layered as broker.json, then <c>LOGBROKER__</c> environment
/// variables, then command-line arguments (<c>--Broker:Listener=127.0.0.1:0</c>); options validated at
/// start; storage, metadata, handlers and the listener registered.
/// </summary>
public static class BrokerApp
{
    /// <summary>Creates the host builder. <c>--config PATH</c> picks another file than ./broker.json.</summary>
    public static HostApplicationBuilder CreateBuilder(string[] args)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
        string configPath = ConfigPath(args);
        builder.Configuration.AddJsonFile(Path.GetFullPath(configPath), optional: configPath == "broker.json", reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables("LOGBROKER__");
        builder.Configuration.AddCommandLine(args);
        builder.Services.AddSystemd();
        builder.Logging.AddLogBrokerFormat(builder.Configuration);
        builder.Services.AddLogBroker(builder.Configuration);
        return builder;
    }

    /// <summary>Registers the broker's services and options.</summary>
    public static IServiceCollection AddLogBroker(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BrokerOptions>().Bind(configuration.GetSection("Broker")).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection("Storage")).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, StorageOptionsValidator>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<BrokerOptions>>().Value);
        services.AddSingleton(sp => LogManager.Open(sp.GetRequiredService<IOptions<StorageOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => new TopicRegistry(sp.GetRequiredService<LogManager>(),
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.Log, sp.GetRequiredService<ILogger<TopicRegistry>>(),
            TopicLimits.From(sp.GetRequiredService<BrokerOptions>())));
        services.AddSingleton<ClusterInfo>();
        services.AddSingleton<ProducerStates>();
        AddHandlers(services,
        [
            typeof(MetadataHandler), typeof(ProduceHandler), typeof(FetchHandler), typeof(ListOffsetsHandler),
            typeof(CreateTopicsHandler), typeof(DeleteTopicsHandler), typeof(CreatePartitionsHandler), typeof(DeleteRecordsHandler),
            typeof(DescribeLogDirsHandler), typeof(InitProducerIdHandler), typeof(DescribeClusterHandler), typeof(DescribeConfigsHandler),
            typeof(AlterConfigsHandler), typeof(IncrementalAlterConfigsHandler),
        ]);
        services.AddSingleton(sp =>
        {
            int compactAfter = sp.GetRequiredService<BrokerOptions>().OffsetsCompactionBytes;
            var log = new OffsetLog(sp.GetRequiredService<LogManager>(), compactAfter, Math.Min(4 * 1024 * 1024, compactAfter / 8),
                logger: sp.GetRequiredService<ILogger<OffsetLog>>());
            TopicRegistry registry = sp.GetRequiredService<TopicRegistry>();
            registry.InternalTopic = log.AsTopic(registry.ClusterId); // readable by clients, as Kafka's
            return log;
        });
        services.AddSingleton(sp => new OffsetManager(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<OffsetLog>(),
            sp.GetRequiredService<BrokerOptions>().OffsetsRetention, sp.GetRequiredService<TopicRegistry>(), sp.GetRequiredService<ILogger<OffsetManager>>()));
        services.AddSingleton(sp =>
        {
            BrokerOptions broker = sp.GetRequiredService<BrokerOptions>();
            return new GroupCoordinator(sp.GetRequiredService<TimeProvider>(),
                new GroupOptions(broker.GroupInitialRebalanceDelay, broker.GroupMinSessionTimeout, broker.GroupMaxSessionTimeout, broker.OffsetsRetention),
                sp.GetRequiredService<OffsetManager>());
        });
        services.AddSingleton(sp =>
        {
            BrokerOptions broker = sp.GetRequiredService<BrokerOptions>();
            return new ConsumerGroupCoordinator(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<TopicRegistry>(),
                sp.GetRequiredService<OffsetManager>(), new ConsumerGroupOptions(broker.ConsumerGroupHeartbeatInterval, broker.ConsumerGroupSessionTimeout));
        });
        AddHandlers(services,
        [
            typeof(ConsumerGroupHeartbeatHandler), typeof(ConsumerGroupDescribeHandler), typeof(FindCoordinatorHandler), typeof(JoinGroupHandler),
            typeof(SyncGroupHandler), typeof(HeartbeatHandler), typeof(LeaveGroupHandler), typeof(OffsetCommitHandler),
            typeof(OffsetFetchHandler), typeof(ListGroupsHandler), typeof(DescribeGroupsHandler), typeof(DeleteGroupsHandler),
            typeof(OffsetDeleteHandler),
        ]);
        services.AddHostedService<GroupTimers>();
        services.AddLogBrokerSecurity(configuration);
        services.AddLogBrokerQuotas();
        services.AddSingleton<RequestDispatcher>();
        services.AddSingleton(sp => new MemoryBudget(sp.GetRequiredService<BrokerOptions>().QueuedMaxRequestBytes));
        services.AddHostedService<StorageMaintenance>();
        services.AddSingleton<BrokerListener>();
        services.AddHostedService(sp => sp.GetRequiredService<BrokerListener>());
        services.AddLogBrokerOperations(configuration);
        services.AddLogBrokerReplication(configuration); // before the cluster's: its stand-in replica manager is TryAdd
        services.AddLogBrokerCluster(configuration);
        services.AddLogBrokerClusterAdmin(configuration);
        return services;
    }

    /// <summary>Registers each of <paramref name="handlers"/> as one more <see cref="IRequestHandler"/> singleton, in order.</summary>
    private static void AddHandlers(IServiceCollection services, Type[] handlers)
    {
        foreach (Type handler in handlers)
        {
            services.AddSingleton(typeof(IRequestHandler), handler);
        }
    }

    private static string ConfigPath(string[] args)
    {
        int i = Array.IndexOf(args, "--config");
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : "broker.json";
    }

    private sealed class StorageOptionsValidator : IValidateOptions<StorageOptions>
    {
        public ValidateOptionsResult Validate(string? name, StorageOptions options)
        {
            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException e)
            {
                return ValidateOptionsResult.Fail($"Storage: {e.Message}");
            }
        }
    }
}

/// <summary>
/// Opens the storage before the listener starts and runs retention, timed flushes and checkpoints. An
/// unexpected failure of a maintenance pass is logged and the loop starts again after a pause: it never
/// stops the broker (retention must keep running, for one, so that a full disk can get space back).
/// </summary>
internal sealed partial class StorageMaintenance(LogManager logs, TopicRegistry topics, TimeProvider time, ILogger<StorageMaintenance> logger) : BackgroundService
{
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _ = topics.ClusterId; // resolving it loads the metadata and every partition before clients connect
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await logs.RunMaintenanceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                MaintenanceFailed(logger, e);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Error, Message = "Storage maintenance failed; restarting it")]
    private static partial void MaintenanceFailed(ILogger logger, Exception exception);
}

/// <summary>
/// Runs the group coordinator's timers (join deadlines, session expiry, offset expiry) every 100 ms.
/// A failing tick is logged and the loop goes on: it never faults the host.
/// </summary>
internal sealed partial class GroupTimers(GroupCoordinator groups, ConsumerGroupCoordinator consumerGroups, TimeProvider time, ILogger<GroupTimers> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Run(groups.Tick, "classic");
                Run(consumerGroups.Tick, "consumer");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Run(Action tick, string coordinator)
    {
        try
        {
            tick();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            TickFailed(logger, e, coordinator);
        }
    }

    [LoggerMessage(EventId = 3502, Level = LogLevel.Error, Message = "A {Coordinator} group coordinator tick failed; the timers go on")]
    private static partial void TickFailed(ILogger logger, Exception exception, string coordinator);
}
