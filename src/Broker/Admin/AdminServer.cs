using System.Net;
using System.Net.Security;
using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Broker.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace LogBroker.Broker.Admin;

/// <summary>
/// The HTTP admin listener: Kestrel in the broker's process on <see cref="AdminOptions.Listener"/>, serving
/// <c>/metrics</c> (Prometheus text), <c>/health/live</c>, <c>/health/ready</c> (storage opened and the
/// Kafka listener bound), the JSON API under <c>/api</c> and the console under <c>/</c>.
/// </summary>
/// <remarks>
/// Started after the Kafka listener (hosted services start in order), stopped before it. Bounds: 64 KiB
/// request bodies, 100 connections, 30 s request headers timeout. Without authentication only loopback
/// peers are served (the listener must then be a loopback address), and a request whose Host header is
/// not a loopback name is refused too (DNS rebinding). With authentication (<see cref="AdminAuthentication"/>)
/// any peer with valid credentials is served, over TLS when a Kafka listener has a certificate; a
/// rebinding page gets no credentials from the browser, which keys them by origin.
/// </remarks>
internal sealed partial class AdminServer(IServiceProvider broker, IOptions<AdminOptions> options, IOptions<MetricsOptions> metricsOptions,
    BrokerListener kafka, AdminAuthentication authentication, IHostApplicationLifetime lifetime, ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource<IPEndPoint> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger = loggers.CreateLogger<AdminServer>();
    private WebApplication? _app;
    private long _lastReload;

    /// <summary>Completes with the bound endpoint once the admin listener is up (tests bind port 0).</summary>
    public Task<IPEndPoint> Bound => _bound.Task;

    /// <summary>Ready: storage is open (it is before any listener starts) and the Kafka listener is bound, and the broker is not stopping.</summary>
    public bool Ready => kafka.Bound.IsCompletedSuccessfully && !lifetime.ApplicationStopping.IsCancellationRequested;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        IPEndPoint endpoint = IPEndPoint.Parse(options.Value.Listener);
        TlsServer? tls = authentication.TlsListener is { } listener ? new TlsServer(WithoutClientCertificates(listener), _logger) : null;
        _lastReload = Environment.TickCount64;
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(AdminServer).Assembly.GetName().Name,
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(loggers));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
            kestrel.Limits.MaxConcurrentConnections = 100;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(30);
            kestrel.Listen(endpoint, listen =>
            {
                if (tls is not null)
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = _ => ValueTask.FromResult(NextTlsOptions(tls)) });
                }
            });
        });
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.WriteIndented = false);
        WebApplication app = builder.Build();

        bool required = authentication.Required;
        app.Use(async (context, next) =>
        {
            if (!required && (!AdminApi.IsLoopback(context.Connection.RemoteIpAddress) || !IsLoopbackHost(context.Request.Host.Host)))
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }

            if (required && !AdminAuthentication.IsOpen(context.Request.Path) && !authentication.TryAuthenticate(context))
            {
                return;
            }

            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers.XFrameOptions = "DENY";
            context.Response.Headers.CacheControl = "no-store";
            await next(context).ConfigureAwait(false);
        });

        if (metricsOptions.Value.Enabled && broker.GetService<MeterProvider>() is { } meterProvider)
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(meterProvider, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        }

        app.MapGet("/health/live", () => Results.Text("live\n"));
        app.MapGet("/health/ready", () => Ready ? Results.Text("ready\n") : Results.Text("not ready\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        AdminApi.Map(app, broker);
        ConsoleAssets.Map(app);

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        string? address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        IPEndPoint bound = address is not null && Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) ? new IPEndPoint(endpoint.Address, uri.Port) : endpoint;
        Log.Listening(_logger, tls is null ? "http" : "https", bound, required);
        _bound.TrySetResult(bound);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    /// <summary>The TLS options of the next handshake; the certificate files are checked for changes at most every 30 s.</summary>
    private SslServerAuthenticationOptions NextTlsOptions(TlsServer tls)
    {
        long now = Environment.TickCount64;
        long last = Interlocked.Read(ref _lastReload);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref _lastReload, now, last) == last)
        {
            tls.Reload(force: false);
        }

        return tls.ServerOptions();
    }

    /// <summary>The Kafka listener's certificate settings, without its client-certificate mode (browsers carry none).</summary>
    private static ListenerOptions WithoutClientCertificates(ListenerOptions listener) => new()
    {
        Name = listener.Name + "-admin",
        Address = listener.Address,
        SecurityProtocol = listener.SecurityProtocol,
        CertificateFile = listener.CertificateFile,
        KeyFile = listener.KeyFile,
        KeyPassword = listener.KeyPassword,
        ClientAuth = "none",
    };

    private static bool IsLoopbackHost(string host) =>
        host is "localhost" or "[::1]" or "::1" || (IPAddress.TryParse(host, out IPAddress? address) && IPAddress.IsLoopback(address));

    /// <summary>Sends Kestrel's and ASP.NET Core's log lines (warnings and up) to the broker's loggers.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3852, Level = LogLevel.Information, Message = "Admin listener (metrics, health, console) on {Scheme}://{Endpoint}, authentication required: {Required}")]
        public static partial void Listening(ILogger logger, string scheme, IPEndPoint endpoint, bool required);
    }
}
