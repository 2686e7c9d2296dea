using System.Net;
using LogBroker.Broker;
using LogBroker.Broker.Network;
using LogBroker.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LogBroker.Integration.Tests;

/// <summary>
/// A real broker host, in process, on 127.0.0.1 with an ephemeral port and a fresh data directory.
/// Shared by a test collection; each test uses its own topic names (<see cref="UniqueTopic"/>).
/// </summary>
public sealed class BrokerFixture : IAsyncLifetime
{
    private static int _next;
    private readonly TempDirectory _data = new("broker");
    private IHost? _host;

    public string DataDirectory => _data.Path;

    /// <summary>host:port for client bootstrap.</summary>
    public string Bootstrap { get; private set; } = "";

    public int Port { get; private set; }

    /// <summary>Extra command-line settings for the host (override per fixture subclass or test).</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    public static string UniqueTopic(string prefix = "t") => $"{prefix}-{Interlocked.Increment(ref _next)}-{Guid.NewGuid():N}";

    public async ValueTask InitializeAsync() => await StartAsync(port: 0);

    /// <summary>Starts the host (again) on <paramref name="port"/> over the same data directory.</summary>
    public async Task StartAsync(int port)
    {
        string[] args =
        [
            $"--Broker:Listener=127.0.0.1:{port}",
            $"--Storage:DataDirectory={_data.Path}",
            "--Admin:Enabled=false",
            "--Logging:LogLevel:Default=Warning",
            .. Settings,
        ];
        _host = BrokerApp.CreateBuilder(args).Build();
        await _host.StartAsync(TestContext.Current.CancellationToken);
        IPEndPoint bound = await _host.Services.GetRequiredService<BrokerListener>().Bound.WaitAsync(TimeSpan.FromSeconds(30));
        Port = bound.Port;
        Bootstrap = $"127.0.0.1:{Port}";
    }

    /// <summary>Graceful stop (SIGTERM path): in-flight requests finish, storage flushes and marks a clean shutdown.</summary>
    public async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync(CancellationToken.None);
            _host.Dispose();
            _host = null;
        }
    }

    public T Service<T>() where T : notnull => _host!.Services.GetRequiredService<T>();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _data.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class BrokerCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "broker";
}
