using System.Buffers.Binary;
using System.Text;
using LogBroker.Protocol;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Security;
using LogBroker.TestKit;

namespace LogBroker.Integration.Tests.Security;

/// <summary>
/// SASL on the wire, with raw frames: gating before authentication, the error codes and closes Kafka
/// specifies, SaslHandshake v0 raw tokens, the user APIs, and hostile input (truncated, oversized, out
/// of order, wrong nonce, empty user, huge iterations) that must end in an error or a close, never a hang.
/// </summary>
public sealed class SaslProtocolTests(SecureBroker broker) : IClassFixture<SecureBroker>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private Task<RawConnection> SaslAsync() => RawConnection.OpenAsync(broker.SaslPlaintextPort);

    private static async Task<SaslHandshakeResponse> HandshakeAsync(RawConnection raw, string mechanism, short version = 1) =>
        await raw.RequestAsync<SaslHandshakeResponse>(ApiKey.SaslHandshake, version, new SaslHandshakeRequest { Mechanism = mechanism }, Wait);

    private static async Task<SaslAuthenticateResponse> AuthenticateAsync(RawConnection raw, byte[] token, short version = 2) =>
        await raw.RequestAsync<SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, version, new SaslAuthenticateRequest { AuthBytes = token }, Wait);

    /// <summary>A full SCRAM exchange as the admin; returns the last response.</summary>
    internal static async Task<SaslAuthenticateResponse> ScramAsync(RawConnection raw, string mechanism, string user, string password, bool handshake = true)
    {
        if (handshake)
        {
            Assert.Equal(0, (await HandshakeAsync(raw, mechanism)).ErrorCode);
        }

        var client = new ScramClient(mechanism, user, password);
        SaslAuthenticateResponse first = await AuthenticateAsync(raw, client.First());
        if (first.ErrorCode != 0)
        {
            return first;
        }

        byte[]? final = client.Next(first.AuthBytes.Span, out string? error);
        Assert.Null(error);
        SaslAuthenticateResponse last = await AuthenticateAsync(raw, final!);
        if (last.ErrorCode == 0)
        {
            Assert.Null(client.Next(last.AuthBytes.Span, out error));
            Assert.Null(error); // the broker's signature checks out: it knows the credential
        }

        return last;
    }

    /// <summary>
    /// Closed within 3 s: well before the 5 s authentication timeout that would close any of these
    /// connections anyway, so a close seen here is the one under test.
    /// </summary>
    private static Task<bool> ClosedSoonAsync(RawConnection raw) => raw.IsClosedByPeerAsync(TimeSpan.FromSeconds(3));

    /// <summary>Closed within 3 s with no response frame before the close.</summary>
    private static async Task<bool> ClosedWithoutAnswerAsync(RawConnection raw)
    {
        try
        {
            await raw.ReceiveAsync(TimeSpan.FromSeconds(3));
            return false; // an answer came
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false; // still open
        }
    }

    private static Task<MetadataResponse> MetadataAsync(RawConnection raw) =>
        raw.RequestAsync<MetadataResponse>(ApiKey.Metadata, 12, new MetadataRequest { Topics = [] }, Wait);

    [Fact]
    public async Task Before_authentication_only_ApiVersions_and_SASL_run_anything_else_closes()
    {
        using RawConnection raw = await SaslAsync();
        ApiVersionsResponse versions = await raw.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Wait);
        Assert.Contains(versions.ApiKeys, k => k.ApiKey == (short)ApiKey.SaslHandshake && k.MaxVersion == 1);
        Assert.Contains(versions.ApiKeys, k => k.ApiKey == (short)ApiKey.SaslAuthenticate && k.MaxVersion == 2);
        await raw.SendRequestAsync(ApiKey.Metadata, 12, 9, new MetadataRequest { Topics = [] });
        Assert.True(await ClosedWithoutAnswerAsync(raw), "Metadata before authentication must close the connection unanswered");
    }

    [Fact]
    public async Task Authenticated_connection_works_and_sees_its_listener_endpoint()
    {
        using RawConnection raw = await SaslAsync();
        SaslAuthenticateResponse done = await ScramAsync(raw, "SCRAM-SHA-512", SecureBroker.AdminUser, SecureBroker.AdminPassword);
        Assert.Equal(0, done.ErrorCode);
        Assert.Equal(0, done.SessionLifetimeMs); // no MaxReauthentication configured
        MetadataResponse metadata = await MetadataAsync(raw);
        Assert.Equal(broker.SaslPlaintextPort, metadata.Brokers.Single().Port);

        using RawConnection plain = await RawConnection.OpenAsync(broker.PlaintextPort);
        Assert.Equal(broker.PlaintextPort, (await MetadataAsync(plain)).Brokers.Single().Port);
    }

    [Fact]
    public async Task SASL_on_a_PLAINTEXT_listener_is_ILLEGAL_SASL_STATE()
    {
        using RawConnection raw = await RawConnection.OpenAsync(broker.PlaintextPort);
        Assert.Equal((short)ErrorCode.IllegalSaslState, (await HandshakeAsync(raw, "PLAIN")).ErrorCode);
        Assert.Equal((short)ErrorCode.IllegalSaslState, (await AuthenticateAsync(raw, "\0a\0b"u8.ToArray())).ErrorCode);
        await MetadataAsync(raw); // the connection stays usable
    }

    [Fact]
    public async Task Wrong_password_is_SASL_AUTHENTICATION_FAILED_with_a_message_then_close()
    {
        using RawConnection raw = await SaslAsync();
        SaslAuthenticateResponse failed = await ScramAsync(raw, "SCRAM-SHA-256", SecureBroker.AdminUser, "wrong");
        Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, failed.ErrorCode);
        Assert.Contains("invalid credentials", failed.ErrorMessage, StringComparison.Ordinal);
        Assert.True(await ClosedSoonAsync(raw));

        using RawConnection plain = await SaslAsync();
        Assert.Equal(0, (await HandshakeAsync(plain, "PLAIN")).ErrorCode);
        SaslAuthenticateResponse plainFailed = await AuthenticateAsync(plain, Encoding.UTF8.GetBytes("\0admin\0wrong"), version: 0);
        Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, plainFailed.ErrorCode);
        Assert.False(string.IsNullOrEmpty(plainFailed.ErrorMessage));
        Assert.True(await ClosedSoonAsync(plain));
    }

    [Fact]
    public async Task Unknown_mechanism_and_out_of_order_requests_are_refused_and_close()
    {
        using (RawConnection raw = await SaslAsync())
        {
            SaslHandshakeResponse handshake = await HandshakeAsync(raw, "GSSAPI");
            Assert.Equal((short)ErrorCode.UnsupportedSaslMechanism, handshake.ErrorCode);
            Assert.Equal(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], handshake.Mechanisms);
            Assert.True(await ClosedSoonAsync(raw));
        }

        using (RawConnection raw = await SaslAsync())
        {
            // SaslAuthenticate with no handshake
            Assert.Equal((short)ErrorCode.IllegalSaslState, (await AuthenticateAsync(raw, "n,,n=admin,r=abc"u8.ToArray())).ErrorCode);
            Assert.True(await ClosedSoonAsync(raw));
        }

        using (RawConnection raw = await SaslAsync())
        {
            // a second handshake in the middle of the exchange
            Assert.Equal(0, (await HandshakeAsync(raw, "SCRAM-SHA-256")).ErrorCode);
            Assert.Equal((short)ErrorCode.IllegalSaslState, (await HandshakeAsync(raw, "SCRAM-SHA-256")).ErrorCode);
            Assert.True(await ClosedSoonAsync(raw));
        }

        using (RawConnection raw = await SaslAsync())
        {
            // the client-final message first
            Assert.Equal(0, (await HandshakeAsync(raw, "SCRAM-SHA-256")).ErrorCode);
            Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, (await AuthenticateAsync(raw, "c=biws,r=abc,p=AAAA"u8.ToArray())).ErrorCode);
            Assert.True(await ClosedSoonAsync(raw));
        }
    }

    public static TheoryData<string, string> HostileFirstMessages => new()
    {
        { "empty", "" },
        { "truncated gs2 header", "n," },
        { "no nonce", "n,,n=admin" },
        { "empty user", "n,,n=,r=abcdef" },
        { "bad escape", "n,,n=ad=min,r=abcdef" },
        { "channel binding", "p=tls-unique,,n=admin,r=abcdef" },
        { "mandatory extension", "n,,m=ext,n=admin,r=abcdef" },
        { "nonce with a control character", "n,,n=admin,r=ab\u0001cd" },
        { "delegation token", "n,,n=admin,r=abcdef,tokenauth=true" },
    };

    [Theory]
    [MemberData(nameof(HostileFirstMessages))]
    public async Task Hostile_SCRAM_first_messages_fail_and_close(string what, string message)
    {
        using RawConnection raw = await SaslAsync();
        Assert.Equal(0, (await HandshakeAsync(raw, "SCRAM-SHA-512")).ErrorCode);
        SaslAuthenticateResponse response = await AuthenticateAsync(raw, Encoding.UTF8.GetBytes(message));
        Assert.True(response.ErrorCode == (short)ErrorCode.SaslAuthenticationFailed, what);
        Assert.True(await ClosedSoonAsync(raw), what);
    }

    [Fact]
    public async Task Extensions_are_tolerated_and_escaped_names_are_unescaped()
    {
        using RawConnection raw = await SaslAsync();
        Assert.Equal(0, (await HandshakeAsync(raw, "SCRAM-SHA-256")).ErrorCode);
        SaslAuthenticateResponse first = await AuthenticateAsync(raw, "n,,n=admin,r=clientnonce,ext=1,tokenauth=false"u8.ToArray());
        Assert.Equal(0, first.ErrorCode);
        Assert.StartsWith("r=clientnonce", Encoding.UTF8.GetString(first.AuthBytes.Span), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_nonce_or_channel_binding_in_the_final_message_fails()
    {
        foreach ((Func<string, string> tamper, string reason) in new (Func<string, string>, string)[]
        {
            (final => final.Replace(",p=", "X,p=", StringComparison.Ordinal), "nonce"),  // a nonce that does not end with the combined one
            (final => final.Replace("c=biws", "c=eSws", StringComparison.Ordinal), "channel binding"), // gs2 header "y,," though "n,," was sent
            (final => final[..(final.IndexOf(",p=", StringComparison.Ordinal) + 3)] + "AAAA", "invalid credentials"), // truncated proof
        })
        {
            using RawConnection raw = await SaslAsync();
            Assert.Equal(0, (await HandshakeAsync(raw, "SCRAM-SHA-256")).ErrorCode);
            var client = new ScramClient("SCRAM-SHA-256", SecureBroker.AdminUser, SecureBroker.AdminPassword);
            SaslAuthenticateResponse first = await AuthenticateAsync(raw, client.First());
            string final = Encoding.UTF8.GetString(client.Next(first.AuthBytes.Span, out _)!);
            SaslAuthenticateResponse last = await AuthenticateAsync(raw, Encoding.UTF8.GetBytes(tamper(final)));
            Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, last.ErrorCode);
            Assert.Contains(reason, last.ErrorMessage, StringComparison.Ordinal); // refused for that reason, before the proof is even checked
            Assert.True(await ClosedSoonAsync(raw));
        }
    }

    [Fact]
    public async Task Oversized_tokens_and_frames_before_authentication_close()
    {
        using (RawConnection raw = await SaslAsync())
        {
            Assert.Equal(0, (await HandshakeAsync(raw, "PLAIN")).ErrorCode);
            SaslAuthenticateResponse response = await AuthenticateAsync(raw, new byte[SaslLimits() + 1]);
            Assert.Equal((short)ErrorCode.SaslAuthenticationFailed, response.ErrorCode);
            Assert.True(await ClosedSoonAsync(raw));
        }

        using (RawConnection raw = await SaslAsync())
        {
            // A 1 MiB frame before authentication: closed on the size prefix (Kafka's sasl.server.max.receive.size).
            byte[] prefix = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(prefix, 1024 * 1024);
            await raw.SendRawAsync(prefix);
            Assert.True(await raw.IsClosedByPeerAsync(TimeSpan.FromSeconds(3))); // at once, not at the 5 s authentication timeout
        }

        using (RawConnection raw = await SaslAsync())
        {
            // A frame cut short, then silence: the authentication timeout (5 s here) closes it.
            byte[] frame = RequestFrames.Encode(ApiKey.SaslHandshake, 1, 1, new SaslHandshakeRequest { Mechanism = "PLAIN" });
            await raw.SendRawAsync(frame[..(frame.Length - 3)]);
            Assert.True(await raw.IsClosedByPeerAsync(TimeSpan.FromSeconds(15)));
        }
    }

    private static int SaslLimits() => LogBroker.Broker.Security.SaslLimits.MaxTokenBytes;

    [Fact]
    public async Task A_connection_that_never_authenticates_is_closed_after_the_timeout()
    {
        using RawConnection raw = await SaslAsync();
        await raw.RequestAsync<ApiVersionsResponse>(ApiKey.ApiVersions, 3, new ApiVersionsRequest(), Wait);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await raw.IsClosedByPeerAsync(TimeSpan.FromSeconds(20)));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(15)); // 5 s configured; the idle timeout is 10 min
    }

    [Fact]
    public async Task SaslHandshake_v0_exchanges_raw_tokens()
    {
        using RawConnection raw = await SaslAsync();
        Assert.Equal(0, (await HandshakeAsync(raw, "PLAIN", version: 0)).ErrorCode);
        byte[] token = Encoding.UTF8.GetBytes($"\0{SecureBroker.AdminUser}\0{SecureBroker.AdminPassword}");
        byte[] frame = new byte[4 + token.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, token.Length);
        token.CopyTo(frame, 4);
        await raw.SendRawAsync(frame);
        Assert.Empty(await raw.ReceiveAsync(Wait)); // PLAIN's empty server token
        Assert.Single((await MetadataAsync(raw)).Brokers);

        using RawConnection wrong = await SaslAsync();
        Assert.Equal(0, (await HandshakeAsync(wrong, "PLAIN", version: 0)).ErrorCode);
        token = Encoding.UTF8.GetBytes($"\0{SecureBroker.AdminUser}\0nope");
        frame = new byte[4 + token.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, token.Length);
        token.CopyTo(frame, 4);
        await wrong.SendRawAsync(frame);
        Assert.True(await ClosedSoonAsync(wrong)); // v0 has no error frame: the connection closes
    }

    [Fact]
    public async Task User_APIs_describe_and_refuse_bad_credentials()
    {
        using RawConnection raw = await SaslAsync();
        Assert.Equal(0, (await ScramAsync(raw, "SCRAM-SHA-512", SecureBroker.AdminUser, SecureBroker.AdminPassword)).ErrorCode);
        DescribeUserScramCredentialsResponse described = await raw.RequestAsync<DescribeUserScramCredentialsResponse>(ApiKey.DescribeUserScramCredentials, 0,
            new DescribeUserScramCredentialsRequest { Users = [new() { Name = SecureBroker.AdminUser }, new() { Name = "ghost" }] }, Wait);
        Assert.Equal(0, described.ErrorCode);
        DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult admin = described.Results.Single(r => r.User == SecureBroker.AdminUser);
        Assert.Equal([1, 2], admin.CredentialInfos.Select(c => (int)c.Mechanism));
        Assert.All(admin.CredentialInfos, c => Assert.Equal(8192, c.Iterations));
        Assert.Equal((short)ErrorCode.ResourceNotFound, described.Results.Single(r => r.User == "ghost").ErrorCode);

        var alter = new AlterUserScramCredentialsRequest
        {
            Upsertions =
            [
                new() { Name = "huge", Mechanism = 1, Iterations = 1_000_000_000, Salt = new byte[16], SaltedPassword = new byte[32] },
                new() { Name = "few", Mechanism = 2, Iterations = 100, Salt = new byte[16], SaltedPassword = new byte[64] },
                new() { Name = "", Mechanism = 1, Iterations = 4096, Salt = new byte[16], SaltedPassword = new byte[32] },
                new() { Name = "twice", Mechanism = 1, Iterations = 4096, Salt = new byte[16], SaltedPassword = new byte[32] },
                new() { Name = "twice", Mechanism = 2, Iterations = 4096, Salt = new byte[16], SaltedPassword = new byte[64] },
                new() { Name = "badmech", Mechanism = 7, Iterations = 4096, Salt = new byte[16], SaltedPassword = new byte[32] },
                new() { Name = "shortkey", Mechanism = 2, Iterations = 4096, Salt = new byte[16], SaltedPassword = new byte[3] },
            ],
            Deletions = [new() { Name = "ghost", Mechanism = 1 }],
        };
        AlterUserScramCredentialsResponse altered = await raw.RequestAsync<AlterUserScramCredentialsResponse>(ApiKey.AlterUserScramCredentials, 0, alter, Wait);
        short Code(string user) => altered.Results.Single(r => r.User == user).ErrorCode;
        Assert.Equal((short)ErrorCode.UnacceptableCredential, Code("huge"));
        Assert.Equal((short)ErrorCode.UnacceptableCredential, Code("few"));
        Assert.Equal((short)ErrorCode.UnacceptableCredential, Code(""));
        Assert.Equal((short)ErrorCode.DuplicateResource, Code("twice"));
        Assert.Equal((short)ErrorCode.UnsupportedSaslMechanism, Code("badmech"));
        Assert.Equal((short)ErrorCode.UnacceptableCredential, Code("shortkey"));
        Assert.Equal((short)ErrorCode.ResourceNotFound, Code("ghost"));
        await MetadataAsync(raw); // and the connection is fine
    }
}
