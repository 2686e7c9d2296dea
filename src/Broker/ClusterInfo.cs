namespace LogBroker.Broker;

/// <summary>This node as clients see it: id and the address advertised in Metadata.</summary>
internal sealed class ClusterInfo(BrokerOptions options)
{
    public int NodeId { get; } = options.NodeId;

    /// <summary>The advertised host (the listener's unless configured).</summary>
    public string Host { get; set; } = options.AdvertisedHost ?? "127.0.0.1";

    /// <summary>The advertised port, known once the listener is bound.</summary>
    public int Port { get; set; } = options.AdvertisedPort ?? 0;

    /// <summary>Leader epoch of every partition: one node that never changes leader.</summary>
    public const int LeaderEpoch = 0;
}
