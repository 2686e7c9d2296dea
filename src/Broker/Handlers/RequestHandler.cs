using LogBroker.Broker.Network;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// The base of every handler: one API key, the versions it serves, and a typed
/// <see cref="HandleAsync(RequestContext, TRequest)"/>. The dispatcher checks the version and decodes
/// the request into a new <typeparamref name="TRequest"/> before calling it, so a handler never casts.
/// </summary>
/// <typeparam name="TRequest">The generated request class of <see cref="Key"/>.</typeparam>
/// <typeparam name="TResponse">The generated response class of <see cref="Key"/>.</typeparam>
/// <param name="key">The API key served.</param>
/// <param name="minVersion">The lowest version served.</param>
/// <param name="maxVersion">The highest version served.</param>
internal abstract class RequestHandler<TRequest, TResponse>(ApiKey key, short minVersion, short maxVersion) : IRequestHandler
    where TRequest : class, IKafkaMessage, new()
    where TResponse : class, IKafkaMessage
{
    public ApiKey Key => key;

    public short MinVersion => minVersion;

    public short MaxVersion => maxVersion;

    public IKafkaMessage CreateRequest() => new TRequest();

    /// <summary>Handles a decoded request; returns the response, or null to send none (acks=0).</summary>
    public abstract ValueTask<TResponse?> HandleAsync(RequestContext context, TRequest request);

    /// <summary>
    /// The answer to a version outside <see cref="MinVersion"/>–<see cref="MaxVersion"/>, or null (the
    /// default) to close the connection, as Kafka does for every API but ApiVersions.
    /// </summary>
    public virtual IKafkaMessage? AnswerUnsupportedVersion(RequestContext context) => null;

    ValueTask<IKafkaMessage?> IRequestHandler.HandleAsync(RequestContext context, IKafkaMessage request)
    {
        ValueTask<TResponse?> pending = HandleAsync(context, (TRequest)request);
        return pending.IsCompletedSuccessfully ? ValueTask.FromResult<IKafkaMessage?>(pending.Result) : AwaitAsync(pending);
    }

    private static async ValueTask<IKafkaMessage?> AwaitAsync(ValueTask<TResponse?> pending) => await pending.ConfigureAwait(false);
}
