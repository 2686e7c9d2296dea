using LogBroker.Broker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace LogBroker.Ops.Tests;

/// <summary><c>Logging:Format</c>: json selects the JSON console formatter (one object per line); anything but simple/json is refused.</summary>
public sealed class LoggingFormatTests
{
    [Fact]
    public void Json_format_selects_the_json_console_formatter_and_simple_keeps_the_default()
    {
        using IHost json = BrokerApp.CreateBuilder(["--Logging:Format=json"]).Build();
        Assert.Equal(ConsoleFormatterNames.Json, json.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName);
        using IHost simple = BrokerApp.CreateBuilder(["--Logging:Format=simple"]).Build();
        Assert.NotEqual(ConsoleFormatterNames.Json, simple.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName);
    }

    [Fact]
    public void An_unknown_format_is_refused_at_start()
    {
        OptionsValidationException refused = Assert.Throws<OptionsValidationException>(() => BrokerApp.CreateBuilder(["--Logging:Format=xml"]));
        Assert.Contains("simple or json", refused.Message, StringComparison.Ordinal);
    }
}
