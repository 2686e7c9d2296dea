namespace LogBroker.Broker;

/// <summary>This node as clients see it: id and the address advertised in Metadata.</summary>
internal sealed class ClusterInfo(BrokerOptions options)
{
    public int NodeId { get; } = options.NodeId;

    /// <summary>The advertised host (the listener's unless configured).</summary>
    public string Host { get; set; } = options.AdvertisedHost ?? "127.0.0.1";

    /// <summary>The advertised port, known once the listener is bound.</summary>
    public int Port { get; set; } = options.AdvertisedPort ?? 0;

    /// <summary>The host advertised to the client of <paramref name="context"/>: its listener's (Metadata, FindCoordinator, DescribeCluster).</summary>
    public string HostFor(Network.RequestContext context) => context.Listener?.AdvertisedHost ?? Host;

    /// <summary>The port advertised to the client of <paramref name="context"/>: its listener's.</summary>
    public int PortFor(Network.RequestContext context) => context.Listener?.AdvertisedPort ?? Port;

    /// <summary>The bound listeners, in configuration order (set once bound; empty before).</summary>
    public IReadOnlyList<Security.ListenerInfo> Listeners { get; set; } = [];

    /// <summary>The bound listeners' advertised endpoints, as the cluster registers them.</summary>
    public List<Replication.BrokerEndpoint> Endpoints()
    {
        var endpoints = new List<Replication.BrokerEndpoint>(Listeners.Count);
        foreach (Security.ListenerInfo listener in Listeners)
        {
            endpoints.Add(new Replication.BrokerEndpoint(listener.Name, listener.AdvertisedHost, listener.AdvertisedPort, listener.ProtocolName));
        }

        return endpoints;
    }

    /// <summary>Leader epoch of every partition: one node that never changes leader.</summary>
    public const int LeaderEpoch = 0;
}
