using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LogBroker.TestKit;

/// <summary>
/// A real etcd cluster of N members (Debian's etcd-server) on ephemeral 127.0.0.1 ports, each with its own
/// data directory; stopped by PID on dispose. <see cref="Endpoints"/> are the members' client URLs.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly List<Process> _members = [];
    private readonly TempDirectory _root = new("etcd");
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _errors = new();

    private EtcdCluster()
    {
    }

    /// <summary>The members' client URLs (http://127.0.0.1:port).</summary>
    public IReadOnlyList<string> Endpoints { get; private set; } = [];

    /// <summary>Whether etcd is installed here.</summary>
    public static bool Available => File.Exists("/usr/bin/etcd");

    /// <summary>The members' client URLs at <see cref="StartAsync"/>'s <c>alsoListenOn</c> address.</summary>
    public IReadOnlyList<string> EndpointsAt(string host) => [.. Endpoints.Select(e => e.Replace("127.0.0.1", host, StringComparison.Ordinal))];

    /// <summary>
    /// Starts <paramref name="size"/> members and waits (bounded) until each reports healthy. With
    /// <paramref name="alsoListenOn"/>, each member serves clients at that address too, on the same port (for a broker
    /// in a network namespace of its own).
    /// </summary>
    public static async Task<EtcdCluster> StartAsync(int size = 3, string? alsoListenOn = null)
    {
        // The ports are probed free and then bound by etcd, so a test running at the same time can take one in
        // between and a member exits; such a start is retried (at most three times) on fresh ports.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(size, alsoListenOn).ConfigureAwait(false);
            }
            catch (TimeoutException) when (attempt < 3)
            {
            }
        }
    }

    private static async Task<EtcdCluster> StartOnceAsync(int size, string? alsoListenOn)
    {
        var cluster = new EtcdCluster();
        try
        {
            var clientPorts = new int[size];
            var peerPorts = new int[size];
            for (var i = 0; i < size; i++)
            {
                clientPorts[i] = FreePort();
                peerPorts[i] = FreePort();
            }

            var initial = string.Join(',', Enumerable.Range(0, size).Select(i => $"m{i}=http://127.0.0.1:{peerPorts[i]}"));
            var token = "t" + Guid.NewGuid().ToString("N");
            for (var i = 0; i < size; i++)
            {
                var start = new ProcessStartInfo("/usr/bin/etcd")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                foreach (var arg in (string[])[
                    $"--name=m{i}", $"--data-dir={cluster._root.Combine($"m{i}")}",
                    $"--listen-client-urls=http://127.0.0.1:{clientPorts[i]}" + (alsoListenOn is null ? "" : $",http://{alsoListenOn}:{clientPorts[i]}"), $"--advertise-client-urls=http://127.0.0.1:{clientPorts[i]}",
                    $"--listen-peer-urls=http://127.0.0.1:{peerPorts[i]}", $"--initial-advertise-peer-urls=http://127.0.0.1:{peerPorts[i]}",
                    $"--initial-cluster={initial}", $"--initial-cluster-token={token}", "--initial-cluster-state=new",
                    "--heartbeat-interval=50", "--election-timeout=500", "--log-level=error"])
                {
                    start.ArgumentList.Add(arg);
                }

                start.Environment["ETCD_UNSUPPORTED_ARCH"] = "arm64";
                var process = Process.Start(start) ?? throw new InvalidOperationException("could not start etcd");
                process.OutputDataReceived += (_, _) => { };
                process.ErrorDataReceived += (_, e) => cluster.Remember(e.Data);
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                cluster._members.Add(process);
            }

            cluster.Endpoints = clientPorts.Select(p => $"http://127.0.0.1:{p}").ToArray();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            foreach (var endpoint in cluster.Endpoints)
            {
                await cluster.WaitHealthyAsync(http, endpoint).ConfigureAwait(false);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Kills member <paramref name="index"/> (SIGKILL).</summary>
    public void Kill(int index) => _members[index].Kill();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var member in _members)
        {
            try
            {
                if (!member.HasExited)
                {
                    member.Kill();
                    await member.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                }
            }
            catch (InvalidOperationException)
            {
            }

            member.Dispose();
        }

        _root.Dispose();
    }

    // The last lines the members wrote to stderr (bounded), for the message of a start that failed.
    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        _errors.Enqueue(line);
        while (_errors.Count > 20 && _errors.TryDequeue(out _))
        {
        }
    }

    private async Task WaitHealthyAsync(HttpClient http, string endpoint)
    {
        for (var attempt = 0; attempt < 150; attempt++)
        {
            if (_members.Exists(static m => m.HasExited))
            {
                throw new TimeoutException($"an etcd member exited before {endpoint} became healthy: {string.Join(" | ", _errors)}");
            }

            try
            {
                var body = await http.GetStringAsync(endpoint + "/health").ConfigureAwait(false);
                if (body.Contains("\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"etcd at {endpoint} did not become healthy in 15 s: {string.Join(" | ", _errors)}");
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
