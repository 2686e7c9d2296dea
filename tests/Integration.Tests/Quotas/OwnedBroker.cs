using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Quotas;

/// <summary>A broker process on a data directory of its own, started by the test and stopped (by its PID) with it.</summary>
internal sealed class OwnedBroker(string name) : IAsyncDisposable
{
    private readonly TempDirectory _dir = new(name);
    private BrokerProcess? _process;

    /// <summary>The started broker.</summary>
    public BrokerProcess Process => _process ?? throw new InvalidOperationException("The broker has not been started.");

    public async Task<BrokerProcess> StartAsync(int port, params string[] settings)
    {
        _process = await BrokerProcess.StartAsync(_dir.Path, port, settings);
        return _process;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        _dir.Dispose();
    }
}
