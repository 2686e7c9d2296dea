using System.Diagnostics;
using LogBroker.Broker.Handlers;
using LogBroker.Broker.Quotas;
using LogBroker.Broker.Telemetry;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Network;

/// <summary>A request handler for one API key (implemented through <see cref="Handlers.RequestHandler{TRequest, TResponse}"/>).</summary>
internal interface IRequestHandler
{
    ApiKey Key { get; }

    /// <summary>The versions advertised in ApiVersions: every one of them is fully handled.</summary>
    short MinVersion { get; }

    short MaxVersion { get; }

    /// <summary>A new, empty request of this handler's type, for the dispatcher to decode into.</summary>
    IKafkaMessage CreateRequest();

    /// <summary>The answer to a version outside the range, or null to close the connection.</summary>
    IKafkaMessage? AnswerUnsupportedVersion(RequestContext context);

    /// <summary>Handles a decoded request; returns the response, or null to send none (acks=0).</summary>
    ValueTask<IKafkaMessage?> HandleAsync(RequestContext context, IKafkaMessage request);
}

/// <summary>
/// The table from API key to handler, built at start-up. It checks the version against what the
/// handler advertises, decodes the request into the handler's own request type, and runs the handler.
/// ApiVersions has its handler too (<see cref="ApiVersionsHandler"/>); the dispatcher creates it from
/// the table, since its answer is the table.
/// </summary>
/// <remarks>
/// A version outside a handler's range closes the connection (as Kafka does), except that the
/// handler may answer it instead: ApiVersions does, in v0, with UNSUPPORTED_VERSION (KIP-511). A
/// request that cannot be decoded closes the connection; so does a handler's exception, where Kafka
/// would answer UNKNOWN_SERVER_ERROR for that request alone (stricter, and never a wrong answer).
/// </remarks>
internal sealed partial class RequestDispatcher
{
    private readonly Dictionary<ApiKey, IRequestHandler> _handlers = [];
    private readonly ILogger _logger;
    private readonly BrokerMetrics? _metrics;
    private readonly RequestQuota? _requestQuota;

    public RequestDispatcher(IEnumerable<IRequestHandler> handlers, ILogger<RequestDispatcher> logger, BrokerMetrics? metrics = null, ClientQuotaManager? quotas = null)
    {
        _logger = logger;
        _metrics = metrics;
        _requestQuota = quotas is null ? null : new RequestQuota(quotas);
        foreach (IRequestHandler handler in handlers)
        {
            _handlers.Add(handler.Key, handler);
        }

        _apiVersions = new ApiVersionsHandler(_handlers.Values);
        _handlers.Add(_apiVersions.Key, _apiVersions);
    }

    private readonly ApiVersionsHandler _apiVersions;

    /// <summary>The advertised APIs, sorted by key (ApiVersions included).</summary>
    public IReadOnlyList<(ApiKey Key, short Min, short Max)> Advertised => _apiVersions.Advertised;

    /// <summary>Processes a request; never throws. The result says what to write (or to close).</summary>
    public Task<RequestContext> ProcessAsync(RequestContext context) =>
        _metrics is null ? Process(context) : _metrics.Track(context, System.Diagnostics.Stopwatch.GetTimestamp(), Process(context));

    private Task<RequestContext> Process(RequestContext context)
    {
        try
        {
            if (!_handlers.TryGetValue(context.ApiKey, out IRequestHandler? handler))
            {
                context.CloseReason = $"API key {context.Header.ApiKey} is not supported";
                return Task.FromResult(context);
            }

            if (context.Version < handler.MinVersion || context.Version > handler.MaxVersion)
            {
                if (handler.AnswerUnsupportedVersion(context) is { } answer)
                {
                    context.Response = answer;
                    return Task.FromResult(context);
                }

                context.CloseReason = $"{context.ApiKey} v{context.Version} is not supported ({handler.MinVersion}-{handler.MaxVersion})";
                return Task.FromResult(context);
            }

            long started = _requestQuota is { Enabled: true } ? Stopwatch.GetTimestamp() : 0;
            if (!TryDecode(context, handler, out IKafkaMessage? request))
            {
                return Task.FromResult(context);
            }

            context.ResponseVersion = context.Version;
            ValueTask<IKafkaMessage?> pending = handler.HandleAsync(context, request);
            int requestThrottle = started == 0 ? 0 : _requestQuota!.Record(context, request, started);
            if (pending.IsCompletedSuccessfully)
            {
                context.Response = pending.Result;
                RequestQuota.Apply(context, requestThrottle);
                return Task.FromResult(context);
            }

            return AwaitAsync(pending, context, requestThrottle);
        }
        catch (Exception e)
        {
            return Task.FromResult(Failed(context, e));
        }
    }

    private async Task<RequestContext> AwaitAsync(ValueTask<IKafkaMessage?> pending, RequestContext context, int requestThrottle)
    {
        try
        {
            context.Response = await pending.ConfigureAwait(false);
            RequestQuota.Apply(context, requestThrottle);
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

    private static bool TryDecode(RequestContext context, IRequestHandler handler, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IKafkaMessage? request)
    {
        var reader = new KafkaReader(context.Frame);
        context.ClientId = RequestHeader.Read(ref reader).ClientId;
        request = handler.CreateRequest();
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

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Error, Message = "{ApiKey} v{Version} from {Connection} failed")]
        public static partial void HandlerFailed(ILogger logger, Exception exception, ApiKey apiKey, short version, string connection);
    }
}
