using System.ComponentModel.DataAnnotations;

namespace LogBroker.Broker;

/// <summary>The broker's own settings: identity, listener, limits. Bound from the <c>Broker</c> section of <c>broker.json</c>.</summary>
public sealed class BrokerOptions : IValidatableObject
{
    /// <summary>This node's id (Kafka's <c>node.id</c>). Default 1.</summary>
    [Range(0, int.MaxValue)]
    public int NodeId { get; set; } = 1;

    /// <summary>Address and port to listen on. Default 127.0.0.1:9092; port 0 picks a free port (tests).</summary>
    [Required]
    public string Listener { get; set; } = "127.0.0.1:9092";

    /// <summary>Host given to clients in Metadata. Default: the listener's host.</summary>
    public string? AdvertisedHost { get; set; }

    /// <summary>Port given to clients in Metadata. Default: the bound port.</summary>
    [Range(0, 65535)]
    public int? AdvertisedPort { get; set; }

    /// <summary><c>auto.create.topics.enable</c>: Metadata requests that allow it create missing topics. Default true.</summary>
    public bool AutoCreateTopics { get; set; } = true;

    /// <summary><c>num.partitions</c>: partitions of an auto-created topic. Default 1.</summary>
    [Range(1, 100_000)]
    public int NumPartitions { get; set; } = 1;

    /// <summary><c>socket.request.max.bytes</c>: a larger request frame closes the connection before it is read. Default 100 MiB.</summary>
    [Range(64, int.MaxValue)]
    public int MaxRequestBytes { get; set; } = 100 * 1024 * 1024;

    /// <summary>Connections accepted at once; more are closed at accept. Default 1000.</summary>
    [Range(1, 1_000_000)]
    public int MaxConnections { get; set; } = 1000;

    /// <summary><c>connections.max.idle.ms</c>: a connection with no request for this long is closed. Default 10 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Whether an acks=all (-1) produce is answered only after the partitions it wrote are fsynced.
    /// Default true: with one node there are no replicas to hold the data, so acks=all means "on disk".
    /// Off, acks=all means what acks=1 means (in the page cache; survives a broker crash, not power loss).
    /// </summary>
    public bool FlushOnAcksAll { get; set; } = true;

    /// <summary><c>group.initial.rebalance.delay.ms</c>: how long the first rebalance of an empty group waits for more members. Default 3 s.</summary>
    public TimeSpan GroupInitialRebalanceDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary><c>group.min.session.timeout.ms</c>: shorter session timeouts get INVALID_SESSION_TIMEOUT. Default 6 s.</summary>
    public TimeSpan GroupMinSessionTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary><c>group.max.session.timeout.ms</c>: longer session timeouts get INVALID_SESSION_TIMEOUT. Default 30 minutes.</summary>
    public TimeSpan GroupMaxSessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary><c>offsets.retention.minutes</c>: committed offsets of a group that has had no members for this long are deleted. Default 7 days.</summary>
    public TimeSpan OffsetsRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary><c>group.consumer.heartbeat.interval.ms</c>: how often server-side (KIP-848) group members heartbeat. Default 5 s.</summary>
    public TimeSpan ConsumerGroupHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary><c>group.consumer.session.timeout.ms</c>: a server-side group member silent this long is removed. Default 45 s.</summary>
    public TimeSpan ConsumerGroupSessionTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>Requests of one connection being processed at once (pipelining depth). Default 64.</summary>
    [Range(1, 10_000)]
    public int MaxInFlightRequestsPerConnection { get; set; } = 64;

    /// <summary>
    /// Connections accepted at once from one client address (Kafka's <c>max.connections.per.ip</c>); more
    /// are closed at accept, so one host cannot take every slot. Default 500.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConnectionsPerIp { get; set; } = 500;

    /// <summary>
    /// <c>fetch.max.bytes</c>: the most record bytes one Fetch response carries, whatever the request's
    /// max_bytes says (the first batch found is still returned whole, KIP-74). Default 55 MiB, as Kafka.
    /// </summary>
    [Range(1024, int.MaxValue)]
    public int FetchMaxBytes { get; set; } = 55 * 1024 * 1024;

    /// <summary>The longest a Fetch may park waiting for data, whatever its max_wait_ms. Default 30 s.</summary>
    public TimeSpan FetchMaxWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <c>queued.max.request.bytes</c>: bytes of received requests held across all connections, from the
    /// moment a frame has arrived whole until its response is sent. When it is spent, read loops stop
    /// reading (TCP back-pressure) instead of taking more; each connection then holds at most the one frame
    /// it is receiving. Default 512 MiB; a request larger than this runs alone.
    /// </summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long QueuedMaxRequestBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>
    /// Response bytes a connection encodes before sending them (its write loop then waits for the send);
    /// record batches of a Fetch are sent from the segments and count here without being copied.
    /// Default 1 MiB.
    /// </summary>
    [Range(4096, int.MaxValue)]
    public int MaxResponseBufferBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// On plaintext listeners, send the stored record batches of a Fetch with sendfile (the kernel copies
    /// them from the page cache to the socket) instead of writing them from the segments' mapped memory.
    /// TLS listeners always write from the mapping. Default false until it is shown to pay (bench/RESULTS.md, issue 15:
    /// at load 50 on the shared 2 cores it was not faster than the mapped write).
    /// </summary>
    public bool SendFile { get; set; }

    /// <summary>
    /// A send to a client that has not finished within this time closes the connection and frees what its
    /// requests held (a client that stops reading). Default 30 s.
    /// </summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A request frame, once its first byte has arrived, must arrive whole within this time, or the
    /// connection is closed (bytes trickled in do not keep it open). Default 60 s.
    /// </summary>
    public TimeSpan RequestReadTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <inheritdoc/>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        (string, TimeSpan)[] timeouts = [(nameof(IdleTimeout), IdleTimeout), (nameof(WriteTimeout), WriteTimeout), (nameof(RequestReadTimeout), RequestReadTimeout)];
        foreach ((string name, TimeSpan value) in timeouts)
        {
            if (value != Timeout.InfiniteTimeSpan && (value <= TimeSpan.Zero || value > TimeSpan.FromDays(24)))
            {
                yield return new ValidationResult($"{name} must be positive and at most 24 days, or -00:00:00.001 for none.", [name]);
            }
        }

        if (FetchMaxWait < TimeSpan.Zero || FetchMaxWait > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult("FetchMaxWait must be between 0 and 10 minutes.", [nameof(FetchMaxWait)]);
        }
    }

    /// <summary>
    /// Partitions one CreateTopics or CreatePartitions request may create in all (KRaft's limit of
    /// records per user operation); more fails the whole request with POLICY_VIOLATION. Default 10,000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxPartitionsPerRequest { get; set; } = 10_000;

    /// <summary>
    /// Partitions one topic may have; more gets INVALID_PARTITIONS. At most 100,000, so that
    /// <c>&lt;249-character topic&gt;-&lt;partition&gt;</c> fits a file name (255 bytes). Default 10,000.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxPartitionsPerTopic { get; set; } = 10_000;

    /// <summary>Partitions of all topics together on this broker; a creation past it gets POLICY_VIOLATION. Default 100,000.</summary>
    [Range(1, 10_000_000)]
    public int MaxPartitionsPerBroker { get; set; } = 100_000;

    /// <summary>
    /// Topics one Metadata request may auto-create; further missing names get LEADER_NOT_AVAILABLE (retriable,
    /// so the client asks again and the next few are created). Default 10.
    /// </summary>
    [Range(0, 10_000)]
    public int MaxAutoCreateTopicsPerRequest { get; set; } = 10;

    /// <summary>
    /// Upper bound on what one compressed produced batch may decompress to while the broker checks its
    /// records (streamed, never held); a batch past it (a decompression bomb) gets INVALID_RECORD.
    /// Default 64 MiB.
    /// </summary>
    [Range(1024 * 1024, int.MaxValue)]
    public int MaxDecompressedBatchBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>
    /// Growth of the committed-offset log (<c>__consumer_offsets-0</c>) since its last compaction that
    /// triggers the next one; its segments are an eighth of this, at most 4 MiB (the unit in which old
    /// commits are dropped). Small values make compaction frequent (crash tests). Default 32 MiB.
    /// </summary>
    [Range(64 * 1024, int.MaxValue)]
    public int OffsetsCompactionBytes { get; set; } = 32 * 1024 * 1024;
}
