using LogBroker.Broker.Network;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// ApiVersions (key 18), versions 0–3: the key and version range of every handler, this one included,
/// sorted by key. A version it does not know (a newer client) is answered in v0, which every client can
/// parse, with UNSUPPORTED_VERSION and the same list, so that the client can retry with a version it
/// shares (KIP-511); every other API closes the connection instead. The dispatcher creates this handler
/// from its table (<see cref="RequestDispatcher"/>).
/// </summary>
internal sealed class ApiVersionsHandler : RequestHandler<ApiVersionsRequest, ApiVersionsResponse>
{
    private readonly (ApiKey Key, short Min, short Max)[] _advertised;

    /// <param name="others">Every other handler.</param>
    public ApiVersionsHandler(IEnumerable<IRequestHandler> others)
        : base(ApiKey.ApiVersions, Min, Max)
    {
        var advertised = new List<(ApiKey Key, short Min, short Max)>();
        foreach (IRequestHandler handler in others)
        {
            advertised.Add((handler.Key, handler.MinVersion, handler.MaxVersion));
        }

        advertised.Add((ApiKey.ApiVersions, Min, Max));
        advertised.Sort((a, b) => a.Key.CompareTo(b.Key));
        _advertised = [.. advertised];
    }

    private const short Min = 0;
    private const short Max = 4;

    /// <summary>The advertised APIs, sorted by key.</summary>
    public IReadOnlyList<(ApiKey Key, short Min, short Max)> Advertised => _advertised;

    public override ValueTask<ApiVersionsResponse?> HandleAsync(RequestContext context, ApiVersionsRequest request) =>
        ValueTask.FromResult<ApiVersionsResponse?>(Answer());

    public override IKafkaMessage? AnswerUnsupportedVersion(RequestContext context)
    {
        ApiVersionsResponse response = Answer();
        response.ErrorCode = (short)ErrorCode.UnsupportedVersion;
        context.ResponseVersion = 0;
        return response;
    }

    private ApiVersionsResponse Answer()
    {
        var response = new ApiVersionsResponse();
        foreach ((ApiKey key, short min, short max) in _advertised)
        {
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = (short)key, MinVersion = min, MaxVersion = max });
        }

        return response;
    }
}
