using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Confluent.Kafka;
using LogBroker.Broker;
using LogBroker.Broker.Security;
using LogBroker.Broker.Security.Authorization;
using LogBroker.Protocol.Security;
using LogBroker.TestKit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;

namespace LogBroker.Ops.Tests;

/// <summary>
/// The admin listener with authentication (issue 12): HTTP Basic against the broker's SCRAM users, the
/// console's writes checked with the broker's ACLs, on a real broker. <c>admin</c> is a super user,
/// <c>viewer</c> an ordinary user with no ACLs of its own (ACLs exist on every topic and group, for the
/// anonymous Kafka clients of the tests, so the viewer is denied every write).
/// </summary>
public sealed class AdminAuthenticationTests(AuthOpsBroker broker) : IClassFixture<AuthOpsBroker>
{
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_credentials_every_path_but_the_health_probes_is_401_with_a_Basic_challenge()
    {
        using var http = new HttpClient { BaseAddress = broker.AdminUri };
        foreach (string path in (string[])["api/broker", "api/topics", "metrics", ""])
        {
            using HttpResponseMessage response = await http.GetAsync(new Uri(path, UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        }

        using HttpResponseMessage live = await http.GetAsync(new Uri("health/live", UriKind.Relative), Ct);
        using HttpResponseMessage ready = await http.GetAsync(new Uri("health/ready", UriKind.Relative), Ct);
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (live.StatusCode, ready.StatusCode));
    }

    [Theory]
    [InlineData("admin", "wrong-password")]
    [InlineData("viewer", AuthOpsBroker.AdminPassword)]
    [InlineData("nobody", "whatever")]
    [InlineData("admin", "")]
    public async Task A_wrong_password_or_an_unknown_user_is_401(string user, string password)
    {
        using HttpResponseMessage response = await GetAsync("api/broker", Basic(user, password));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Garbage_in_the_Authorization_header_is_401()
    {
        using HttpResponseMessage notBase64 = await GetAsync("api/broker", new AuthenticationHeaderValue("Basic", "%%%"));
        using HttpResponseMessage noColon = await GetAsync("api/broker", new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin"u8.ToArray())));
        using HttpResponseMessage bearer = await GetAsync("api/broker", new AuthenticationHeaderValue("Bearer", "abc"));
        using HttpResponseMessage huge = await GetAsync("api/broker", new AuthenticationHeaderValue("Basic", new string('A', 8000)));
        Assert.All([notBase64, noColon, bearer, huge], r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
    }

    [Fact]
    public async Task The_right_password_of_either_user_is_200()
    {
        using HttpResponseMessage admin = await GetAsync("api/broker", Basic("admin", AuthOpsBroker.AdminPassword));
        using HttpResponseMessage viewer = await GetAsync("api/topics", Basic("viewer", AuthOpsBroker.ViewerPassword));
        using HttpResponseMessage metrics = await GetAsync("metrics", Basic("viewer", AuthOpsBroker.ViewerPassword));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK), (admin.StatusCode, viewer.StatusCode, metrics.StatusCode));
    }

    [Fact]
    public async Task Writes_the_ACLs_deny_are_403_and_the_super_user_may_do_them()
    {
        string topic = OpsBroker.UniqueName("auth");
        string group = OpsBroker.UniqueName("authgroup");
        await ApiTests.ProduceAsync(broker.Bootstrap, topic, 0, 5, i => $"r{i}", Ct);
        using (IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = group }).Build())
        {
            consumer.Commit([new TopicPartitionOffset(topic, 0, 3)]);
        }

        const string Reset = """{"to":"earliest","dryRun":false}""";
        using HttpResponseMessage viewerReset = await SendAsync(HttpMethod.Post, $"api/groups/{group}/reset-offsets", Basic("viewer", AuthOpsBroker.ViewerPassword), Reset);
        using HttpResponseMessage viewerDelete = await SendAsync(HttpMethod.Delete, $"api/groups/{group}", Basic("viewer", AuthOpsBroker.ViewerPassword));
        using HttpResponseMessage viewerDryRun = await SendAsync(HttpMethod.Post, $"api/groups/{group}/reset-offsets", Basic("viewer", AuthOpsBroker.ViewerPassword), """{"to":"earliest","dryRun":true}""");
        Assert.Equal(HttpStatusCode.Forbidden, viewerReset.StatusCode);
        Assert.Contains("User:viewer may not Read Group", await viewerReset.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, viewerDelete.StatusCode);
        Assert.Contains("User:viewer may not Delete Group", await viewerDelete.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, viewerDryRun.StatusCode); // a dry run writes nothing

        // An ACL granting Read on the group but not on the topic still refuses the reset (Kafka's OffsetCommit needs both).
        broker.Service<AclStore>().Add([new AclBinding(AclResourceType.Group, group, AclPatternType.Literal, "User:viewer", "*", AclOperation.Read, AclPermissionType.Allow)]);
        using HttpResponseMessage topicDenied = await SendAsync(HttpMethod.Post, $"api/groups/{group}/reset-offsets", Basic("viewer", AuthOpsBroker.ViewerPassword), Reset);
        Assert.Equal(HttpStatusCode.Forbidden, topicDenied.StatusCode);
        Assert.Contains("User:viewer may not Read Topic", await topicDenied.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        using HttpResponseMessage adminReset = await SendAsync(HttpMethod.Post, $"api/groups/{group}/reset-offsets", Basic("admin", AuthOpsBroker.AdminPassword), Reset);
        using HttpResponseMessage adminDelete = await SendAsync(HttpMethod.Delete, $"api/groups/{group}", Basic("admin", AuthOpsBroker.AdminPassword));
        Assert.Equal(HttpStatusCode.OK, adminReset.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, adminDelete.StatusCode);
    }

    [Fact]
    public async Task A_browser_with_HTTP_credentials_opens_the_overview()
    {
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--no-sandbox"] });
        IBrowserContext anonymous = await browser.NewContextAsync();
        IPage refusedPage = await anonymous.NewPageAsync();
        PlaywrightException refused = await Assert.ThrowsAsync<PlaywrightException>(() => refusedPage.GotoAsync(broker.AdminUri.ToString()));
        Assert.Contains("ERR_INVALID_AUTH_CREDENTIALS", refused.Message, StringComparison.Ordinal); // Chromium's answer to a 401 it has no credentials for

        IBrowserContext context = await browser.NewContextAsync(new()
        {
            ViewportSize = new() { Width = 1280, Height = 800 },
            HttpCredentials = new() { Username = "viewer", Password = AuthOpsBroker.ViewerPassword },
        });
        IPage page = await context.NewPageAsync();
        IResponse? opened = await page.GotoAsync(broker.AdminUri.ToString());
        Assert.Equal(200, opened!.Status);
        await Assertions.Expect(page.Locator("#version")).ToHaveTextAsync(Broker.Telemetry.BrokerMetrics.Version.Split('+')[0]);
        await Assertions.Expect(page.Locator("#kafka-listener")).ToContainTextAsync($"127.0.0.1:{broker.Port}");
        string screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(screenshots, "overview-authenticated.png"), FullPage = true });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_non_loopback_admin_listener_without_a_certificate_stops_the_broker_at_start(bool authentication)
    {
        using var data = new TempDirectory("ops-refuse");
        using IHost host = BrokerApp.CreateBuilder(
        [
            "--Broker:Listener=127.0.0.1:0",
            "--Admin:Listener=0.0.0.0:0",
            $"--Admin:RequireAuthentication={authentication}",
            $"--Storage:DataDirectory={data.Path}",
            "--Logging:LogLevel:Default=Warning",
        ]).Build();

        OptionsValidationException error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("Admin:Listener", error.Message, StringComparison.Ordinal);
    }

    internal static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));

    private Task<HttpResponseMessage> GetAsync(string path, AuthenticationHeaderValue? authorization) =>
        SendAsync(HttpMethod.Get, path, authorization);

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, AuthenticationHeaderValue? authorization, string? json = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Headers = { Authorization = authorization } };
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var http = new HttpClient { BaseAddress = broker.AdminUri, Timeout = TimeSpan.FromSeconds(30) };
        return await http.SendAsync(request, Ct);
    }
}

/// <summary>A broker whose admin listener requires authentication, with ACLs on and writes allowed; users admin (super user) and viewer.</summary>
public sealed class AuthOpsBroker : OpsBroker, IAsyncLifetime
{
    public const string AdminPassword = "admin-secret-1";
    public const string ViewerPassword = "viewer-secret-2";

    protected override IEnumerable<string> Settings =>
    [
        "--Admin:RequireAuthentication=true",
        "--Console:AllowWrites=true",
        "--Security:InitialUser=admin",
        $"--Security:InitialPassword={AdminPassword}",
        "--Security:AuthorizationEnabled=true",
        "--Security:SuperUsers=User:admin",
    ];

    async ValueTask IAsyncLifetime.InitializeAsync()
    {
        await InitializeAsync();
        // The test's own Kafka clients are anonymous (plaintext listener): let them use any topic and group.
        Service<AclStore>().Add(
        [
            new AclBinding(AclResourceType.Topic, "*", AclPatternType.Literal, ConnectionSession.Anonymous, "*", AclOperation.All, AclPermissionType.Allow),
            new AclBinding(AclResourceType.Group, "*", AclPatternType.Literal, ConnectionSession.Anonymous, "*", AclOperation.All, AclPermissionType.Allow),
        ]);
        Service<ScramCredentialStore>().Apply([], [("viewer", ScramMechanism.Sha256, ScramMechanism.Sha256.Create(ViewerPassword, 4096))], new List<(string, ScramMechanism)>());
    }
}
