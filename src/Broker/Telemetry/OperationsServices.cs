using LogBroker.Broker.Admin;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace LogBroker.Broker.Telemetry;

/// <summary>Registers metrics, the admin listener, the console's lag sampler and the log format (one call each from <see cref="BrokerApp"/>).</summary>
internal static class OperationsServices
{
    /// <summary>Metrics (the LogBroker meter, OpenTelemetry with Prometheus and optionally OTLP), lag history and the admin listener.</summary>
    public static IServiceCollection AddLogBrokerOperations(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MetricsOptions>().Bind(configuration.GetSection("Metrics")).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AdminOptions>().Bind(configuration.GetSection("Admin")).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<AdminOptions>, AdminListenerValidation>();
        services.AddSingleton<AdminAuthentication>();
        services.AddOptions<ConsoleOptions>().Bind(configuration.GetSection("Console")).ValidateDataAnnotations().ValidateOnStart();
        services.AddMetrics();
        services.AddSingleton<BrokerMetrics>();
        services.AddSingleton<BrokerState>();
        services.AddSingleton<StateMetrics>();
        services.AddSingleton<LagHistory>();
        services.AddHostedService(sp => sp.GetRequiredService<LagHistory>());

        MetricsOptions metrics = configuration.GetSection("Metrics").Get<MetricsOptions>() ?? new MetricsOptions();
        AdminOptions admin = configuration.GetSection("Admin").Get<AdminOptions>() ?? new AdminOptions();
        if (metrics.Enabled)
        {
            services.AddOpenTelemetry()
                .ConfigureResource(resource => resource.AddService("logbroker", serviceVersion: BrokerMetrics.Version))
                .WithMetrics(builder =>
                {
                    builder.AddMeter(BrokerMetrics.MeterName);
                    if (metrics.Runtime)
                    {
                        builder.AddRuntimeInstrumentation();
                    }

                    if (admin.Enabled)
                    {
                        // Every scrape collects afresh (the default caches a scrape for 300 ms).
                        builder.AddPrometheusExporter(prometheus =>
                        {
                            prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                            prometheus.ScopeInfoEnabled = false;
                        });
                    }

                    if (metrics.OtlpEndpoint is { } endpoint)
                    {
                        builder.AddOtlpExporter((exporter, reader) =>
                        {
                            exporter.Endpoint = new Uri(endpoint);
                            exporter.Protocol = OtlpExportProtocol.Grpc;
                            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)metrics.OtlpInterval.TotalMilliseconds;
                        });
                    }
                });
        }

        // The observable instruments exist from start, whoever scrapes first.
        services.AddHostedService(sp => new StartInstruments(sp.GetRequiredService<StateMetrics>()));
        services.AddSingleton<AdminServer>();
        if (admin.Enabled)
        {
            services.AddHostedService(sp => sp.GetRequiredService<AdminServer>());
        }

        return services;
    }

    /// <summary><c>Logging:Format</c>: <c>simple</c> (default) or <c>json</c> (one JSON object per line, for log shippers).</summary>
    public static ILoggingBuilder AddLogBrokerFormat(this ILoggingBuilder logging, IConfiguration configuration)
    {
        string format = configuration["Logging:Format"] ?? "simple";
        if (format.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            logging.Services.PostConfigure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Json);
        }
        else if (!format.Equals("simple", StringComparison.OrdinalIgnoreCase))
        {
            throw new OptionsValidationException("Logging:Format", typeof(string), [$"Logging:Format must be simple or json, not {format}."]);
        }

        return logging;
    }

    private sealed class StartInstruments(StateMetrics instruments) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(instruments);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
