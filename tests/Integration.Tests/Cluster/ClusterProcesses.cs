namespace LogBroker.Integration.Tests.Cluster;

/// <summary>The multi-process cluster tests run one class at a time: each class starts 3 etcd members and 3 brokers.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterProcesses
{
    public const string Name = "cluster processes";
}
