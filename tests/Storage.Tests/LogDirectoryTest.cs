using LogBroker.TestKit;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Storage.Tests;

/// <summary>
/// A storage fixture's own data directory, deleted after each test, and a fake clock at
/// <see cref="StorageTestDefaults.StartMs"/> that moves only when the test advances it.
/// </summary>
public abstract class LogDirectoryTest(string name) : IDisposable
{
    /// <summary>A fresh directory per test, named after the fixture.</summary>
    protected TempDirectory Dir { get; } = new(name);

    /// <summary>The clock every log opened by the test reads.</summary>
    protected FakeTimeProvider Time { get; } = StorageTestDefaults.Clock();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Dir.Dispose();
        }
    }
}
