using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using LogBroker.Broker.Metadata;
using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LogBroker.Broker.Tests.Handlers;

/// <summary>
/// The whole broker (the services <see cref="BrokerApp.AddLogBroker"/> registers: storage, metadata,
/// coordinators, every handler and the dispatcher) without its TCP listener: clients talk to it through
/// <see cref="KafkaConnection"/>s over in-memory pipes (garnet's embedded-server shape). Its timers
/// (group rebalances, storage maintenance) run as they do in the broker.
/// </summary>
internal sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly List<IHostedService> _started = [];
    private readonly List<EmbeddedClient> _clients = [];

    private EmbeddedBroker(ServiceProvider services)
    {
        _services = services;
    }

    public IServiceProvider Services => _services;

    public RequestDispatcher Dispatcher => _services.GetRequiredService<RequestDispatcher>();

    public BrokerOptions Options => _services.GetRequiredService<BrokerOptions>();

    /// <summary>Opens a broker on <paramref name="dataDirectory"/>; <paramref name="settings"/> as in broker.json ("Broker:NumPartitions").</summary>
    public static async Task<EmbeddedBroker> StartAsync(string dataDirectory, IEnumerable<KeyValuePair<string, string?>>? settings = null,
        TimeProvider? time = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["Storage:DataDirectory"] = dataDirectory,
            ["Broker:GroupInitialRebalanceDelay"] = "00:00:00",
            ["Admin:Enabled"] = "false", // no HTTP listener: the embedded broker has no host
        };
        foreach (KeyValuePair<string, string?> setting in settings ?? [])
        {
            values[setting.Key] = setting.Value;
        }

        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddLogBroker(configuration);
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var broker = new EmbeddedBroker(services.BuildServiceProvider());
        _ = broker._services.GetRequiredService<TopicRegistry>().ClusterId; // loads metadata and partitions, as the host's start does
        foreach (IHostedService hosted in broker._services.GetServices<IHostedService>())
        {
            if (hosted is not BrokerListener)
            {
                await hosted.StartAsync(CancellationToken.None).ConfigureAwait(false);
                broker._started.Add(hosted);
            }
        }

        return broker;
    }

    /// <summary>A new client connection (its own <see cref="KafkaConnection"/>, as one socket would be).</summary>
    public EmbeddedClient Connect()
    {
        var client = new EmbeddedClient(this);
        _clients.Add(client);
        return client;
    }

    internal KafkaConnection NewConnection(Stream transport, string name) =>
        new(transport, name, Dispatcher, Options, _services.GetRequiredService<MemoryBudget>(),
            _services.GetRequiredService<TimeProvider>(), NullLogger.Instance);

    public async ValueTask DisposeAsync()
    {
        foreach (EmbeddedClient client in _clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        for (int i = _started.Count - 1; i >= 0; i--)
        {
            await _started[i].StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await _services.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>One connection to an <see cref="EmbeddedBroker"/>: frames in, frames out, in order.</summary>
internal sealed class EmbeddedClient : IAsyncDisposable
{
    private readonly Pipe _toBroker = new();
    private readonly Pipe _fromBroker = new();
    private readonly Task _running;
    private int _correlation;

    public EmbeddedClient(EmbeddedBroker broker)
    {
        var transport = new DuplexStream(_toBroker.Reader, _fromBroker.Writer);
        KafkaConnection connection = broker.NewConnection(transport, "embedded");
        _running = RunAsync(connection, transport);
    }

    /// <summary>Completes when the broker has closed this connection.</summary>
    public Task Closed => _running;

    /// <summary>The correlation id the next <see cref="SendAsync"/> uses.</summary>
    public int NextCorrelationId => _correlation + 1;

    /// <summary>
    /// Sends a request encoded in <paramref name="version"/> (its header naming <paramref name="headerVersion"/>,
    /// default the same) and decodes its response in <paramref name="responseVersion"/> (default the request's).
    /// </summary>
    public async Task<TResponse> SendAsync<TResponse>(ApiKey key, short version, IKafkaMessage request, short? responseVersion = null,
        short? headerVersion = null, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage, new()
    {
        int correlation = ++_correlation;
        await WriteAsync(Encode(key, version, correlation, request, headerVersion), cancellationToken).ConfigureAwait(false);
        byte[] frame = await ReadFrameAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"the broker closed the connection instead of answering {key} v{version}");
        return Decode<TResponse>(frame, key, responseVersion ?? version, correlation);
    }

    /// <summary>Sends a request and expects the broker to close the connection without an answer.</summary>
    public async Task<bool> IsClosedAfterAsync(ApiKey key, short version, IKafkaMessage request, CancellationToken cancellationToken = default)
    {
        await WriteAsync(Encode(key, version, ++_correlation, request), cancellationToken).ConfigureAwait(false);
        return await ReadFrameAsync(cancellationToken).ConfigureAwait(false) is null;
    }

    /// <summary>A whole request frame (size, header, body).</summary>
    public static byte[] Encode(ApiKey key, short version, int correlation, IKafkaMessage request, short? headerVersion = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new KafkaWriter(buffer);
        new RequestHeader((short)key, headerVersion ?? version, correlation, "embedded").Write(ref writer);
        request.Write(ref writer, version);
        writer.Commit();
        byte[] frame = new byte[4 + buffer.WrittenCount];
        BinaryPrimitives.WriteInt32BigEndian(frame, buffer.WrittenCount);
        buffer.WrittenSpan.CopyTo(frame.AsSpan(4));
        return frame;
    }

    /// <summary>Decodes a response frame (size prefix removed) after checking its correlation id.</summary>
    public static TResponse Decode<TResponse>(byte[] frame, ApiKey key, short version, int correlation)
        where TResponse : IKafkaMessage, new()
    {
        var reader = new KafkaReader(frame);
        int answered = reader.ReadInt32();
        if (answered != correlation)
        {
            throw new InvalidOperationException($"response to correlation id {answered}, expected {correlation}");
        }

        if (ApiMessages.ResponseHeaderHasTaggedFields(key, version))
        {
            reader.SkipTaggedFields();
        }

        var response = new TResponse();
        response.Read(ref reader, version);
        return reader.Failed ? throw new InvalidOperationException($"{key} v{version} response does not decode") : response;
    }

    /// <summary>Writes raw bytes (one or more frames, or a part of one).</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) =>
        await _toBroker.Writer.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);

    /// <summary>The next response frame without its size prefix, or null once the broker has closed the connection.</summary>
    public async ValueTask<byte[]?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        PipeReader reader = _fromBroker.Reader;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (TryTakeFrame(ref buffer, out byte[]? frame))
            {
                reader.AdvanceTo(buffer.Start);
                return frame;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> response frames (the benchmark's reader: no copy, no decode).</summary>
    public async ValueTask SkipFramesAsync(int count, CancellationToken cancellationToken = default)
    {
        PipeReader reader = _fromBroker.Reader;
        byte[] prefix = new byte[4];
        while (count > 0)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            while (count > 0 && buffer.Length >= 4)
            {
                buffer.Slice(0, 4).CopyTo(prefix);
                long size = 4L + BinaryPrimitives.ReadInt32BigEndian(prefix);
                if (buffer.Length < size)
                {
                    break;
                }

                buffer = buffer.Slice(size);
                count--;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (count > 0 && result.IsCompleted)
            {
                throw new InvalidOperationException("the broker closed the connection");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _toBroker.Writer.CompleteAsync().ConfigureAwait(false);
        await _running.ConfigureAwait(false);
        await _fromBroker.Reader.CompleteAsync().ConfigureAwait(false);
    }

    private static bool TryTakeFrame(ref ReadOnlySequence<byte> buffer, out byte[]? frame)
    {
        frame = null;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (buffer.Length < 4L + size)
        {
            return false;
        }

        frame = buffer.Slice(4, size).ToArray();
        buffer = buffer.Slice(4 + size);
        return true;
    }

    private static async Task RunAsync(KafkaConnection connection, DuplexStream transport)
    {
        try
        {
            await connection.RunAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await transport.DisposeAsync().ConfigureAwait(false); // as the listener closes the socket: the client reads the end
        }
    }
}
