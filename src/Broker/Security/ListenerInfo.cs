using System.Net;

namespace LogBroker.Broker.Security;

/// <summary>A listener as the running broker knows it: its protocol, TLS, and the endpoint it advertises.</summary>
internal sealed class ListenerInfo
{
    public ListenerInfo(ListenerOptions options, TlsServer? tls)
    {
        Options = options;
        Name = options.Name;
        Protocol = options.Protocol;
        Tls = tls;
        Mapper = PrincipalMapper.Parse(options.PrincipalMappingRules);
        AdvertisedHost = options.AdvertisedHost ?? "127.0.0.1";
        AdvertisedPort = options.AdvertisedPort ?? 0;
    }

    public ListenerOptions Options { get; }

    public string Name { get; }

    public SecurityProtocol Protocol { get; }

    /// <summary>The TLS certificate and client-auth mode; null for PLAINTEXT and SASL_PLAINTEXT.</summary>
    public TlsServer? Tls { get; }

    public PrincipalMapper Mapper { get; }

    public bool UsesSasl => Options.UsesSasl;

    /// <summary>The host clients that came in here are told (Metadata, FindCoordinator, DescribeCluster).</summary>
    public string AdvertisedHost { get; private set; }

    /// <summary>The port clients that came in here are told; set once bound.</summary>
    public int AdvertisedPort { get; private set; }

    /// <summary>Where the listener is bound (set once bound).</summary>
    public IPEndPoint? Bound { get; private set; }

    /// <summary>Kafka's name of the protocol: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.</summary>
    public string ProtocolName => Protocol switch
    {
        SecurityProtocol.Ssl => "SSL",
        SecurityProtocol.SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol.SaslSsl => "SASL_SSL",
        _ => "PLAINTEXT",
    };

    public void SetBound(IPEndPoint local)
    {
        Bound = local;
        AdvertisedHost = Options.AdvertisedHost ?? (local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : local.Address.ToString());
        AdvertisedPort = Options.AdvertisedPort ?? local.Port;
    }

    /// <summary>The listeners to run: <see cref="SecurityOptions.Listeners"/>, or one PLAINTEXT listener from the Broker section.</summary>
    public static List<ListenerOptions> Configured(BrokerOptions broker, SecurityOptions security) =>
        security.Listeners.Count > 0
            ? security.Listeners
            : [new ListenerOptions { Name = "PLAINTEXT", Address = broker.Listener, SecurityProtocol = "PLAINTEXT", AdvertisedHost = broker.AdvertisedHost, AdvertisedPort = broker.AdvertisedPort }];
}
