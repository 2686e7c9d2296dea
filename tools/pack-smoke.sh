#!/usr/bin/env bash
# Packs LogBroker.Client (and LogBroker.Protocol), then builds a fresh console app that references the
# package from a local folder only and uses it to create a topic, produce 1,000 records and consume them
# back, against a broker started here on 127.0.0.1 (an ephemeral port, a temporary data directory).
# Opt-in (not part of `dotnet test`): it needs the package registry for the packages' dependencies.
#
#   bash tools/pack-smoke.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
broker_pid=""
cleanup() { if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

dotnet pack "$root/LogBroker.sln" -c Release -o "$work/packages" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dotnet build -c Release "$root/src/Broker" >/dev/null
dotnet "$root/src/Broker/bin/Release/net10.0/logbroker-broker.dll" --Broker:Listener=127.0.0.1:$port \
  --Storage:DataDirectory="$work/data" --Logging:LogLevel:Default=Warning &
broker_pid=$!

mkdir "$work/app" && cd "$work/app"
dotnet new console -n FreshApp -o . >/dev/null
cat > nuget.config <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local" value="$work/packages" />
    <add key="nuget" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="LogBroker.*" /></packageSource>
    <packageSource key="nuget"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
dotnet add package LogBroker.Client --version 0.1.0 >/dev/null
cat > Program.cs <<'CS'
using System.Text;
using LogBroker.Client.Admin;
using LogBroker.Client.Consumer;
using LogBroker.Client.Producer;

string bootstrap = args[0];
string topic = "fresh-" + Guid.NewGuid().ToString("N")[..8];
await using (var admin = new AdminClient(new AdminOptions { BootstrapServers = bootstrap }))
{
    await admin.CreateTopicsAsync([new NewTopic(topic, 3)]);
}

await using (var producer = new KafkaProducer(new ProducerOptions { BootstrapServers = bootstrap, CompressionType = LogBroker.Protocol.Records.CompressionType.Zstd }))
{
    var batch = new List<ProducerRecord>();
    for (int i = 0; i < 1000; i++)
    {
        batch.Add(new ProducerRecord(Encoding.UTF8.GetBytes("k" + i), Encoding.UTF8.GetBytes("hello " + i)));
    }

    await producer.ProduceBatchAsync(topic, batch);
}

await using var consumer = new KafkaConsumer(new ConsumerOptions { BootstrapServers = bootstrap, GroupId = "fresh", AutoOffsetReset = AutoOffsetReset.Earliest });
consumer.Subscribe([topic]);
int count = 0;
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
await foreach (ConsumeBatch b in consumer.ConsumeBatchesAsync(cts.Token))
{
    count += b.Count;
    if (count >= 1000) break;
}

Console.WriteLine($"produced 1000, consumed {count}");
return count == 1000 ? 0 : 1;
CS
dotnet run -- "127.0.0.1:$port"
