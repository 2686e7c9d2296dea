using System.Diagnostics;

namespace LogBroker.Integration.Tests.Cluster;

/// <summary>
/// A network namespace of its own for one broker, joined to this (the test's) namespace by two veth pairs: a client
/// link (<see cref="ClientAddress"/>, where the test's clients reach the broker) and a cluster link
/// (<see cref="ClusterAddress"/>, the broker's side; <see cref="PeerAddress"/>, this side, where the other brokers'
/// inter-broker listeners listen, and <see cref="EtcdAddress"/>, this side too, where the etcd members listen).
/// <see cref="CutAsync"/> takes the cluster link down: the broker can no longer reach etcd or its peers, nor they it,
/// while clients still can — a network partition of one node, packets dropped rather than refused.
/// <see cref="CutEtcdAsync"/> cuts etcd alone: the peers still reach the broker and it them. Needs root and iproute2's
/// <c>ip</c>; removed (namespace, links and the rule of an etcd cut) on dispose.
/// </summary>
public sealed class IsolatedHost : IAsyncDisposable
{
    private readonly string _clientLink;
    private readonly string _clusterLink;

    private IsolatedHost(int subnet)
    {
        Namespace = $"lbpart{subnet}";
        _clientLink = $"lbc{subnet}";
        _clusterLink = $"lbr{subnet}";
        ClientAddress = $"10.231.{subnet}.2";
        ClusterAddress = $"10.232.{subnet}.2";
        PeerAddress = $"10.232.{subnet}.1";
        EtcdAddress = $"10.232.{subnet}.3";
    }

    public string Namespace { get; }

    /// <summary>The broker's address on the client link.</summary>
    public string ClientAddress { get; }

    /// <summary>The broker's address on the cluster link.</summary>
    public string ClusterAddress { get; }

    /// <summary>This namespace's address on the cluster link: what the isolated broker dials for etcd and its peers.</summary>
    public string PeerAddress { get; }

    /// <summary>This namespace's second address on the cluster link: where the isolated broker dials etcd.</summary>
    public string EtcdAddress { get; }

    /// <summary>The command that runs a program inside the namespace (it execs the program: the PID is the program's).</summary>
    public IReadOnlyList<string> Launcher => ["ip", "netns", "exec", Namespace];

    /// <summary>Creates the namespace and both links on a pair of /29s (10.231.N.0 and 10.232.N.0) no other host here uses.</summary>
    public static async Task<IsolatedHost> CreateAsync()
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var host = new IsolatedHost(Random.Shared.Next(1, 255));
            if (await host.TryCreateAsync())
            {
                return host;
            }

            await host.DisposeAsync();
        }

        throw new InvalidOperationException("could not create a network namespace (five subnets taken, or not root, or no iproute2)");
    }

    private async Task<bool> TryCreateAsync()
    {
        string subnet = ClientAddress[..ClientAddress.LastIndexOf('.')];
        string clusterSubnet = ClusterAddress[..ClusterAddress.LastIndexOf('.')];
        string addresses = (await IpAsync("-4", "addr", "show")).Output;
        if (addresses.Contains(subnet + ".", StringComparison.Ordinal) || addresses.Contains(clusterSubnet + ".", StringComparison.Ordinal)
            || (await IpAsync("netns", "add", Namespace)).Status != 0)
        {
            return false;
        }

        string[][] steps =
        [
            ["link", "add", _clientLink, "type", "veth", "peer", "name", _clientLink + "i", "netns", Namespace],
            ["link", "add", _clusterLink, "type", "veth", "peer", "name", _clusterLink + "i", "netns", Namespace],
            ["addr", "add", subnet + ".1/29", "dev", _clientLink],
            ["addr", "add", PeerAddress + "/29", "dev", _clusterLink],
            ["addr", "add", EtcdAddress + "/29", "dev", _clusterLink],
            ["link", "set", _clientLink, "up"],
            ["link", "set", _clusterLink, "up"],
            ["-n", Namespace, "addr", "add", ClientAddress + "/29", "dev", _clientLink + "i"],
            ["-n", Namespace, "addr", "add", ClusterAddress + "/29", "dev", _clusterLink + "i"],
            ["-n", Namespace, "link", "set", "lo", "up"],
            ["-n", Namespace, "link", "set", _clientLink + "i", "up"],
            ["-n", Namespace, "link", "set", _clusterLink + "i", "up"],
        ];
        await RunAsync(steps);
        return true;
    }

    private static async Task RunAsync(string[][] steps)
    {
        foreach (string[] step in steps)
        {
            var (status, output) = await IpAsync(step);
            if (status != 0)
            {
                throw new InvalidOperationException($"ip {string.Join(' ', step)}: {output}");
            }
        }
    }

    /// <summary>Takes the cluster link down (this side): a partition, not a refusal — packets go nowhere.</summary>
    public Task CutAsync() => SetClusterLinkAsync("down");

    /// <summary>Brings the cluster link back up.</summary>
    public Task HealAsync() => SetClusterLinkAsync("up");

    private Task SetClusterLinkAsync(string state) => RunAsync([["link", "set", _clusterLink, state]]);

    /// <summary>
    /// Cuts the broker off from etcd alone, both ways, with blackhole routing (the broker's route to
    /// <see cref="EtcdAddress"/>, and a rule here for etcd's packets to it): established connections go silent and new
    /// ones fail at once (EINVAL), while replication with its peers on <see cref="PeerAddress"/> carries on.
    /// </summary>
    public Task CutEtcdAsync() => RunAsync([EtcdRoute("add"), EtcdRule("add")]);

    /// <summary>Undoes <see cref="CutEtcdAsync"/>.</summary>
    public Task HealEtcdAsync() => RunAsync([EtcdRoute("del"), EtcdRule("del")]);

    private string[] EtcdRoute(string verb) => ["-n", Namespace, "route", verb, "blackhole", EtcdAddress + "/32"];

    private string[] EtcdRule(string verb) => ["rule", verb, "from", EtcdAddress, "to", ClusterAddress, "blackhole"];

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // Deleting the namespace deletes the inner ends, and a veth pair goes with either end; the outer ends are
        // deleted too in case the namespace was never made. The rule of an etcd cut is this namespace's, not the link's.
        await IpAsync(EtcdRule("del"));
        await IpAsync("netns", "delete", Namespace);
        await IpAsync("link", "delete", _clientLink);
        await IpAsync("link", "delete", _clusterLink);
    }

    private static async Task<(int Status, string Output)> IpAsync(params string[] args)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process ip = Process.Start(start) ?? throw new InvalidOperationException("could not run ip");
        Task<string> output = ip.StandardOutput.ReadToEndAsync();
        Task<string> error = ip.StandardError.ReadToEndAsync();
        await ip.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        return (ip.ExitCode, await output + await error);
    }
}
