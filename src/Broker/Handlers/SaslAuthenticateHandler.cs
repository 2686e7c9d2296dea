using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using Microsoft.Extensions.Logging;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// SaslAuthenticate (key 36), versions 0–2: one step of the exchange chosen by SaslHandshake v1. Success
/// makes the connection authenticated (v1+ tells the session lifetime, KIP-368); a failure answers
/// SASL_AUTHENTICATION_FAILED with a message and closes the connection once it is sent. Without a
/// handshake first, or on a listener without SASL: ILLEGAL_SASL_STATE (and, on a SASL listener, a close).
/// </summary>
internal sealed partial class SaslAuthenticateHandler(ILogger<SaslAuthenticateHandler> logger) : RequestHandler<SaslAuthenticateRequest, SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, 0, 2)
{
    public override ValueTask<SaslAuthenticateResponse?> HandleAsync(RequestContext context, SaslAuthenticateRequest authenticate)
    {
        var response = new SaslAuthenticateResponse { ErrorMessage = null };
        ConnectionSession? session = context.Session;
        if (session is null || session.State == SaslState.NotRequired)
        {
            response.ErrorCode = (short)ErrorCode.IllegalSaslState;
            response.ErrorMessage = "This listener does not use SASL.";
            return ValueTask.FromResult<SaslAuthenticateResponse?>(response);
        }

        if (session.State != SaslState.Exchanging || session.Exchange is null || session.RawTokens)
        {
            response.ErrorCode = (short)ErrorCode.IllegalSaslState;
            response.ErrorMessage = "SaslAuthenticate without a SaslHandshake v1 first.";
            session.Fail("SaslAuthenticate out of order");
            return ValueTask.FromResult<SaslAuthenticateResponse?>(response);
        }

        SaslStep step = Step(session, authenticate.AuthBytes.Span, context.Connection, logger);
        response.AuthBytes = step.Response;
        if (step.Kind == SaslStepKind.Failure)
        {
            response.ErrorCode = (short)ErrorCode.SaslAuthenticationFailed;
            response.ErrorMessage = step.Error;
        }
        else if (step.Kind == SaslStepKind.Success && session.SessionLifetime is { } lifetime)
        {
            response.SessionLifetimeMs = (long)lifetime.TotalMilliseconds;
        }

        return ValueTask.FromResult<SaslAuthenticateResponse?>(response);
    }

    /// <summary>Runs one step of the session's exchange and applies the outcome (also for raw v0 tokens).</summary>
    public static SaslStep Step(ConnectionSession session, ReadOnlySpan<byte> token, string connection, ILogger logger)
    {
        ISaslServer exchange = session.Exchange!;
        SaslStep step = exchange.Evaluate(token);
        if (step.Kind == SaslStepKind.Success)
        {
            string principal = "User:" + step.User;
            if (!session.Succeed(principal))
            {
                step = SaslStep.Fail("Re-authentication must keep the same principal.");
            }
            else
            {
                Log.Authenticated(logger, connection, principal, exchange.Mechanism);
                return step;
            }
        }

        if (step.Kind == SaslStepKind.Failure)
        {
            Log.AuthenticationFailed(logger, connection, exchange.Mechanism, step.Error!);
            session.Fail("SASL authentication failed");
        }

        return step;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5201, Level = LogLevel.Debug, Message = "Connection {Connection} authenticated as {Principal} with {Mechanism}")]
        public static partial void Authenticated(ILogger logger, string connection, string principal, string mechanism);

        [LoggerMessage(EventId = 5202, Level = LogLevel.Information, Message = "Connection {Connection}: {Mechanism} authentication failed: {Reason}")]
        public static partial void AuthenticationFailed(ILogger logger, string connection, string mechanism, string reason);
    }
}
