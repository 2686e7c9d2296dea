using LogBroker.Broker.Network;
using LogBroker.Broker.Security;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;

namespace LogBroker.Broker.Handlers;

/// <summary>
/// SaslHandshake (key 17), versions 0–1: picks the mechanism of the exchange that follows (v1: in
/// SaslAuthenticate requests; v0: as raw size-prefixed tokens). On a listener without SASL the answer is
/// ILLEGAL_SASL_STATE; an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM with the enabled list and the
/// connection closes; a handshake in the middle of an exchange, or a re-authentication (KIP-368) with
/// another mechanism, gets ILLEGAL_SASL_STATE and closes.
/// </summary>
internal sealed class SaslHandshakeHandler(SaslAuthenticator authenticator) : RequestHandler<SaslHandshakeRequest, SaslHandshakeResponse>(ApiKey.SaslHandshake, 0, 1)
{
    public override ValueTask<SaslHandshakeResponse?> HandleAsync(RequestContext context, SaslHandshakeRequest handshake)
    {
        var response = new SaslHandshakeResponse { Mechanisms = [.. authenticator.Mechanisms] };
        ConnectionSession? session = context.Session;
        if (session is null || session.State == SaslState.NotRequired)
        {
            response.ErrorCode = (short)ErrorCode.IllegalSaslState;
            return ValueTask.FromResult<SaslHandshakeResponse?>(response);
        }

        if (session.State is SaslState.Exchanging or SaslState.Failed
            || (session.HasAuthenticated && (context.Version == 0 || handshake.Mechanism != session.Mechanism)))
        {
            response.ErrorCode = (short)ErrorCode.IllegalSaslState;
            session.Fail(session.HasAuthenticated ? "re-authentication must use SaslHandshake v1 and the same mechanism" : "SaslHandshake during a SASL exchange");
            return ValueTask.FromResult<SaslHandshakeResponse?>(response);
        }

        ISaslServer? exchange = authenticator.Create(handshake.Mechanism);
        if (exchange is null)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedSaslMechanism;
            session.Fail($"unsupported SASL mechanism '{Truncate(handshake.Mechanism)}'");
            return ValueTask.FromResult<SaslHandshakeResponse?>(response);
        }

        session.BeginExchange(exchange, rawTokens: context.Version == 0);
        return ValueTask.FromResult<SaslHandshakeResponse?>(response);
    }

    private static string Truncate(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
