using System.Globalization;
using System.Net;
using LogBroker.Broker;
using LogBroker.Broker.Admin;
using LogBroker.Broker.Network;
using LogBroker.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LogBroker.Ops.Tests;

/// <summary>
/// A real broker host in process on 127.0.0.1 ephemeral ports (Kafka and admin) over a fresh data
/// directory, with an HTTP client for its admin listener.
/// </summary>
public class OpsBroker : IAsyncLifetime
{
    private readonly TempDirectory _data = new("ops");
    private IHost? _host;

    public string Bootstrap { get; private set; } = "";

    public int Port { get; private set; }

    public Uri AdminUri { get; private set; } = new("http://127.0.0.1/");

    public HttpClient Http { get; private set; } = new();

    public string DataDirectory => _data.Path;

    /// <summary>Extra settings (subclasses).</summary>
    protected virtual IEnumerable<string> Settings => [];

    /// <summary>http, or https for a subclass whose admin listener serves TLS.</summary>
    protected virtual string AdminScheme => "http";

    /// <summary>The handler of <see cref="Http"/> (subclasses: TLS trust, credentials).</summary>
    protected virtual HttpMessageHandler CreateHandler() => new HttpClientHandler();

    public async ValueTask InitializeAsync()
    {
        string[] args =
        [
            "--Broker:Listener=127.0.0.1:0",
            "--Admin:Listener=127.0.0.1:0",
            $"--Storage:DataDirectory={_data.Path}",
            "--Broker:GroupInitialRebalanceDelay=00:00:00.100",
            "--Console:LagSampleInterval=00:00:00.200",
            "--Logging:LogLevel:Default=Warning",
            .. Settings,
        ];
        _host = BrokerApp.CreateBuilder(args).Build();
        await _host.StartAsync(TestContext.Current.CancellationToken);
        IPEndPoint kafka = await _host.Services.GetRequiredService<BrokerListener>().Bound.WaitAsync(TimeSpan.FromSeconds(30));
        IPEndPoint admin = await _host.Services.GetRequiredService<AdminServer>().Bound.WaitAsync(TimeSpan.FromSeconds(30));
        Port = kafka.Port;
        Bootstrap = $"127.0.0.1:{kafka.Port}";
        AdminUri = new Uri($"{AdminScheme}://127.0.0.1:{admin.Port}/");
        Http = new HttpClient(CreateHandler()) { BaseAddress = AdminUri, Timeout = TimeSpan.FromSeconds(30) };
    }

    public T Service<T>() where T : notnull => _host!.Services.GetRequiredService<T>();

    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_host is not null)
        {
            await _host.StopAsync(CancellationToken.None);
            _host.Dispose();
        }

        _data.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Scrapes /metrics and parses the Prometheus text format.</summary>
    public async Task<Scrape> ScrapeAsync()
    {
        string text = await Http.GetStringAsync(new Uri("metrics", UriKind.Relative), TestContext.Current.CancellationToken);
        return Scrape.Parse(text);
    }
}

/// <summary>A broker whose console allows writes.</summary>
public sealed class WritableOpsBroker : OpsBroker
{
    protected override IEnumerable<string> Settings => ["--Console:AllowWrites=true", "--Console:MaxBrowseRecords=10"];
}

/// <summary>One scrape: series name → (labels, value).</summary>
public sealed class Scrape
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _series = [];

    public string Text { get; private set; } = "";

    public static Scrape Parse(string text)
    {
        var scrape = new Scrape { Text = text };
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int brace = line.IndexOf('{', StringComparison.Ordinal);
            int space = line.LastIndexOf(' ');
            string name = brace >= 0 && brace < space ? line[..brace] : line[..line.IndexOf(' ', StringComparison.Ordinal)];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (brace >= 0 && brace < space)
            {
                string body = line[(brace + 1)..line.LastIndexOf('}')];
                foreach (string pair in SplitLabels(body))
                {
                    int eq = pair.IndexOf('=', StringComparison.Ordinal);
                    labels[pair[..eq]] = pair[(eq + 2)..^1];
                }
            }

            string value = line[(space + 1)..];
            scrape._series.Add((name, labels, value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, CultureInfo.InvariantCulture),
            }));
        }

        return scrape;
    }

    /// <summary>The value of the one series named <paramref name="name"/> with these labels (others ignored); 0 when absent.</summary>
    public double Value(string name, params (string Key, string Value)[] labels)
    {
        var matches = Find(name, labels);
        Assert.True(matches.Count <= 1, $"{matches.Count} series match {name} {string.Join(",", labels)}");
        return matches.Count == 0 ? 0 : matches[0];
    }

    public bool Has(string name, params (string Key, string Value)[] labels) => Find(name, labels).Count > 0;

    private List<double> Find(string name, (string Key, string Value)[] labels)
    {
        var found = new List<double>();
        foreach ((string n, Dictionary<string, string> l, double v) in _series)
        {
            if (n == name && labels.All(p => l.TryGetValue(p.Key, out string? x) && x == p.Value))
            {
                found.Add(v);
            }
        }

        return found;
    }

    private static IEnumerable<string> SplitLabels(string body)
    {
        int start = 0;
        bool quoted = false;
        for (int i = 0; i < body.Length; i++)
        {
            if (body[i] == '"' && (i == 0 || body[i - 1] != '\\'))
            {
                quoted = !quoted;
            }
            else if (body[i] == ',' && !quoted)
            {
                yield return body[start..i];
                start = i + 1;
            }
        }

        if (start < body.Length)
        {
            yield return body[start..];
        }
    }
}
