using LogBroker.Broker.Telemetry;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Network;

/// <summary>A request handler for one API key.</summary>
internal interface IRequestHandler
{
    ApiKey Key { get; }

    /// <summary>The versions advertised in ApiVersions: every one of them is fully handled.</summary>
    short MinVersion { get; }

    short MaxVersion { get; }

    /// <summary>Handles a decoded request; returns the response, or null to send none (acks=0).</summary>
    ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request);
}

/// <summary>
/// The table from API key to handler, built at start-up. It decodes each request with the generated
/// codec, checks the version against what is advertised, runs the handler, and answers ApiVersions
/// itself — including the v0 fallback with UNSUPPORTED_VERSION for a version it does not know (KIP-511).
/// </summary>
internal sealed partial class RequestDispatcher
{
    private readonly Dictionary<ApiKey, IRequestHandler> _handlers = [];
    private readonly ILogger _logger;
    private readonly BrokerMetrics? _metrics;

    public RequestDispatcher(IEnumerable<IRequestHandler> handlers, ILogger<RequestDispatcher> logger, BrokerMetrics? metrics = null)
    {
        _logger = logger;
        _metrics = metrics;
        foreach (IRequestHandler handler in handlers)
        {
            _handlers.Add(handler.Key, handler);
        }
    }

    /// <summary>ApiVersions is answered here; it is the only API every version of which a client may try.</summary>
    public const short ApiVersionsMax = 3;

    /// <summary>The advertised APIs, sorted by key.</summary>
    public IEnumerable<(ApiKey Key, short Min, short Max)> Advertised =>
        _handlers.Values.Select(h => (h.Key, h.MinVersion, h.MaxVersion))
            .Append((ApiKey.ApiVersions, (short)0, ApiVersionsMax))
            .OrderBy(a => a.Item1);

    /// <summary>Processes a request; never throws. The result says what to write (or to close).</summary>
    public Task<RequestContext> ProcessAsync(RequestContext context) =>
        _metrics is null ? Process(context) : _metrics.Track(context, System.Diagnostics.Stopwatch.GetTimestamp(), Process(context));

    private Task<RequestContext> Process(RequestContext context)
    {
        try
        {
            if (context.ApiKey == ApiKey.ApiVersions)
            {
                return Task.FromResult(AnswerApiVersions(context));
            }

            if (!_handlers.TryGetValue(context.ApiKey, out IRequestHandler? handler))
            {
                context.CloseReason = $"API key {context.Header.ApiKey} is not supported";
                return Task.FromResult(context);
            }

            if (context.Version < handler.MinVersion || context.Version > handler.MaxVersion)
            {
                context.CloseReason = $"{context.ApiKey} v{context.Version} is not supported ({handler.MinVersion}-{handler.MaxVersion})";
                return Task.FromResult(context);
            }

            if (!TryDecode(context, out IKafkaMessage? request))
            {
                return Task.FromResult(context);
            }

            context.ResponseVersion = context.Version;
            ValueTask<IKafkaMessage?> pending = handler.HandleAsync(context, request);
            if (pending.IsCompletedSuccessfully)
            {
                context.Response = pending.Result;
                return Task.FromResult(context);
            }

            return AwaitAsync(pending, context);
        }
        catch (Exception e)
        {
            return Task.FromResult(Failed(context, e));
        }
    }

    private async Task<RequestContext> AwaitAsync(ValueTask<IKafkaMessage?> pending, RequestContext context)
    {
        try
        {
            context.Response = await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Failed(context, e);
        }

        return context;
    }

    private RequestContext Failed(RequestContext context, Exception e)
    {
        Log.HandlerFailed(_logger, e, context.ApiKey, context.Version, context.Connection);
        context.Response = null;
        context.CloseReason = $"{context.ApiKey} failed: {e.Message}";
        return context;
    }

    private static bool TryDecode(RequestContext context, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IKafkaMessage? request)
    {
        var reader = new KafkaReader(context.Frame);
        context.ClientId = RequestHeader.Read(ref reader).ClientId;
        request = ApiMessages.CreateRequest(context.ApiKey);
        request.Read(ref reader, context.Version);
        context.Request = request;
        if (reader.Failed)
        {
            // Trailing bytes are tolerated (Java brokers ignore them; librdkafka sends some); a
            // request that cannot be decoded is not.
            context.CloseReason = $"malformed {context.ApiKey} v{context.Version} request";
            request = null;
            return false;
        }

        return true;
    }

    private RequestContext AnswerApiVersions(RequestContext context)
    {
        var response = new ApiVersionsResponse();
        foreach ((ApiKey key, short min, short max) in Advertised)
        {
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = (short)key, MinVersion = min, MaxVersion = max });
        }

        if (context.Version > ApiVersionsMax || context.Version < 0)
        {
            // KIP-511: answer in v0, which every client can parse, with the versions we do support.
            response.ErrorCode = (short)ErrorCode.UnsupportedVersion;
            context.ResponseVersion = 0;
        }
        else
        {
            if (!TryDecode(context, out _))
            {
                return context;
            }

            context.ResponseVersion = context.Version;
        }

        context.Response = response;
        return context;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "{ApiKey} v{Version} from {Connection} failed")]
        public static partial void HandlerFailed(ILogger logger, Exception exception, ApiKey apiKey, short version, string connection);
    }
}
