using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Playwright;

namespace LogBroker.Ops.Tests;

/// <summary>
/// The console in a real browser: Debian's Chromium driven by Playwright (no browser download) against
/// a real broker. Opens the overview, a topic, the message browser at an offset and a group page with its
/// lag chart, checks what they show against what the test produced and committed, clicks through a
/// dry-run offset reset, and saves screenshots under the test output (screenshots/).
/// </summary>
public sealed class ConsoleBrowserTests(WritableOpsBroker broker) : IClassFixture<WritableOpsBroker>
{
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Overview_topic_messages_and_group_pages_show_what_was_produced_and_committed()
    {
        string topic = OpsBroker.UniqueName("web");
        string group = OpsBroker.UniqueName("console");
        using (IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = broker.Bootstrap }).Build())
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 2, ReplicationFactor = 1 }]);
        }

        await ApiTests.ProduceAsync(broker.Bootstrap, topic, 0, 20, i => $"{{\"n\":{i},\"name\":\"record {i}\"}}", Ct);
        await ApiTests.ProduceAsync(broker.Bootstrap, topic, 1, 6, i => $"plain {i}", Ct);
        using (IConsumer<string, string> consumer = new ConsumerBuilder<string, string>(new ConsumerConfig { BootstrapServers = broker.Bootstrap, GroupId = group }).Build())
        {
            consumer.Commit([new TopicPartitionOffset(topic, 0, 12), new TopicPartitionOffset(topic, 1, 1)]);
        }

        Directory.CreateDirectory(Screenshots);
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--no-sandbox"] });
        IBrowserContext context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
        IPage page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Add(m.Text);
            }
        };

        // Overview.
        await page.GotoAsync(broker.AdminUri.ToString());
        await Assertions.Expect(page.Locator("#version")).ToHaveTextAsync(Broker.Telemetry.BrokerMetrics.Version.Split('+')[0]);
        int topics = JsonDocument.Parse(await broker.Http.GetStringAsync(new Uri("api/broker", UriKind.Relative), Ct)).RootElement.GetProperty("topics").GetInt32();
        await Assertions.Expect(page.Locator("#topic-count")).ToHaveTextAsync(topics.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assertions.Expect(page.Locator("#kafka-listener")).ToContainTextAsync($"127.0.0.1:{broker.Port}");
        await Assertions.Expect(page.Locator("figure svg.chart")).ToHaveCountAsync(2);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "overview.png"), FullPage = true });

        // Topics list → topic page.
        await page.ClickAsync("a[data-nav=topics]");
        await page.GetByRole(AriaRole.Link, new() { Name = topic, Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#topic-name")).ToHaveTextAsync(topic);
        ILocator p0 = page.Locator("#partitions-table tbody tr").Nth(0);
        await Assertions.Expect(p0.Locator("td[data-col=end]")).ToHaveTextAsync("20");
        await Assertions.Expect(page.Locator("#partitions-table tbody tr").Nth(1).Locator("td[data-col=end]")).ToHaveTextAsync("6");
        await Assertions.Expect(page.Locator("#topic-groups")).ToContainTextAsync(group);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "topic.png"), FullPage = true });

        // Message browser at offset 5, values as JSON; then one page forward.
        await page.GotoAsync(new Uri(broker.AdminUri, $"#/topics/{topic}/messages?partition=0&offset=5&limit=4&format=json").ToString());
        ILocator rows = page.Locator("#messages-table tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(4);
        Assert.Equal(["5", "6", "7", "8"], await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.offset)"));
        await Assertions.Expect(rows.Nth(0).Locator("td[data-col=key]")).ToHaveTextAsync("k5");
        await Assertions.Expect(rows.Nth(0).Locator("td[data-col=value]")).ToHaveTextAsync("{\n  \"n\": 5,\n  \"name\": \"record 5\"\n}");
        await Assertions.Expect(rows.Nth(0).Locator("td[data-col=headers]")).ToHaveTextAsync("h: 5");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "messages.png"), FullPage = true });
        await page.ClickAsync("#page-forward");
        await Assertions.Expect(rows.Nth(0)).ToHaveAttributeAsync("data-offset", "9");
        Assert.Equal(["9", "10", "11", "12"], await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.offset)"));
        await page.ClickAsync("#page-back");
        await Assertions.Expect(rows.Nth(0)).ToHaveAttributeAsync("data-offset", "5");

        // Group page: committed offsets and lag equal produced minus committed; the lag chart has samples.
        await page.GotoAsync(new Uri(broker.AdminUri, $"#/groups/{group}").ToString());
        ILocator g0 = page.Locator($"#offsets-table tbody tr[data-partition='0']");
        ILocator g1 = page.Locator($"#offsets-table tbody tr[data-partition='1']");
        await Assertions.Expect(g0.Locator("td[data-col=committed]")).ToHaveTextAsync("12");
        await Assertions.Expect(g0.Locator("td[data-col=lag]")).ToHaveTextAsync((20 - 12).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assertions.Expect(g1.Locator("td[data-col=committed]")).ToHaveTextAsync("1");
        await Assertions.Expect(g1.Locator("td[data-col=lag]")).ToHaveTextAsync((6 - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assertions.Expect(page.Locator("#group-lag")).ToHaveTextAsync("13");
        await Assertions.Expect(page.Locator("#lag-latest")).ToHaveTextAsync("13", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#lag-chart svg path.line")).ToHaveCountAsync(1);
        await page.WaitForFunctionAsync("() => Number(document.querySelector('#lag-chart path.line')?.dataset.points) >= 2", null, new() { Timeout = 15_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "group.png"), FullPage = true });

        // Dry-run reset to earliest of the topic: the table shows current → new, nothing changes.
        await page.SelectOptionAsync("#reset-form select[name=topic]", topic);
        await page.SelectOptionAsync("#reset-form select[name=to]", "earliest");
        await page.ClickAsync("#dry-run");
        ILocator plan = page.Locator("#reset-table tbody tr");
        await Assertions.Expect(plan).ToHaveCountAsync(2);
        await Assertions.Expect(plan.Nth(0).Locator("td[data-col=current]")).ToHaveTextAsync("12");
        await Assertions.Expect(plan.Nth(0).Locator("td[data-col=target]")).ToHaveTextAsync("0");
        await Assertions.Expect(plan.Nth(0).Locator("td[data-col=lag-after]")).ToHaveTextAsync("20");
        await Assertions.Expect(plan.Nth(1).Locator("td[data-col=current]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#reset-result [role=alert]")).ToHaveTextAsync("Dry run: nothing was changed.");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "group-dry-run.png"), FullPage = true });
        string after = await broker.Http.GetStringAsync(new Uri($"api/groups/{group}", UriKind.Relative), Ct);
        Assert.Equal(12, JsonDocument.Parse(after).RootElement.GetProperty("offsets")[0].GetProperty("committed").GetInt64());

        // Phone width: the page reflows, wide tables scroll inside their own box, not the page.
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync(new Uri(broker.AdminUri, $"#/topics/{topic}/messages?partition=0&offset=0&limit=5").ToString());
        await Assertions.Expect(rows).ToHaveCountAsync(5);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways at phone width");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "messages-phone.png"), FullPage = true });

        // Keyboard: in a freshly loaded page the first Tab reaches the skip link.
        await page.ReloadAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(5);
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }
}
