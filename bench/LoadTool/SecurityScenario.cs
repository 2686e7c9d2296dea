using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace LogBroker.LoadTool;

/// <summary>
/// What TLS and SASL cost: W1 (produce N × 100 B acks=1 with Confluent.Kafka, then consume them) over PLAINTEXT,
/// SSL and SASL_SSL with SCRAM-SHA-256, against one fresh broker per round that has all three listeners. The order
/// of the modes rotates every round; each mode has its own topic. Broker CPU per record is the broker process's
/// CPU time over the phase. The CA and server certificate are minted here with <see cref="CertificateRequest"/>
/// (no key is kept); the SCRAM user is the broker's initial user.
/// </summary>
internal static class SecurityScenario
{
    private const string User = "bench";
    private const string Password = "bench-secret";

    private static readonly string[] Modes = ["PLAINTEXT", "SSL", "SASL_SSL"];

    public static async Task RunAsync(string dir, int records, int rounds)
    {
        Directory.CreateDirectory(dir);
        (string ca, string certificate, string key) = MintCertificates(dir);
        var rows = new Dictionary<string, Dictionary<string, List<double>>>(StringComparer.Ordinal);
        void Add(string row, string mode, double value)
        {
            if (!rows.TryGetValue(row, out Dictionary<string, List<double>>? byMode))
            {
                rows[row] = byMode = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            }

            if (!byMode.TryGetValue(mode, out List<double>? values))
            {
                byMode[mode] = values = [];
            }

            values.Add(value);
        }

        for (int round = 0; round < rounds; round++)
        {
            int[] ports = [global::Broker.FreePort(), global::Broker.FreePort(), global::Broker.FreePort()];
            var settings = new List<string>();
            for (int i = 0; i < Modes.Length; i++)
            {
                settings.Add($"--Security:Listeners:{i}:Name={Modes[i].Replace("_", "", StringComparison.Ordinal)}");
                settings.Add($"--Security:Listeners:{i}:Address=127.0.0.1:{ports[i]}");
                settings.Add($"--Security:Listeners:{i}:SecurityProtocol={Modes[i]}");
                if (i > 0)
                {
                    settings.Add($"--Security:Listeners:{i}:CertificateFile={certificate}");
                    settings.Add($"--Security:Listeners:{i}:KeyFile={key}");
                }
            }

            settings.Add($"--Security:InitialUser={User}");
            settings.Add($"--Security:InitialPassword={Password}");
            settings.Add("--Security:SaslEnabledMechanisms=SCRAM-SHA-256");
            await using var broker = await global::Broker.StartOnAsync(ports[0], $"{dir}/round-{round}", [.. settings]);
            await WaitForAsync(ports[1]);
            await WaitForAsync(ports[2]);
            for (int k = 0; k < Modes.Length; k++)
            {
                int m = (k + round) % Modes.Length; // rotate the order every round
                ClientConfig config = Config(Modes[m], ports[m], ca);
                string topic = await CreateTopicAsync(config, $"w1-{Modes[m].ToLowerInvariant()}");
                Warm(config, broker, topic + "-warm");
                (TimeSpan produce, TimeSpan produceCpu) = Produce(config, broker, topic, records);
                (TimeSpan consume, TimeSpan consumeCpu) = Consume(config, broker, topic, records);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1} {Modes[m]}: produce {records / produce.TotalSeconds:F0} rec/s ({produceCpu.TotalMilliseconds * 1000 / records:F3} µs broker CPU/rec), consume {records / consume.TotalSeconds:F0} rec/s ({consumeCpu.TotalMilliseconds * 1000 / records:F3} µs/rec)"));
                Add($"W1 produce {records} x 100 B acks=1 (k rec/s)", Modes[m], records / produce.TotalSeconds / 1e3);
                Add("W1 broker CPU per produced record (µs)", Modes[m], produceCpu.TotalMilliseconds * 1000 / records);
                Add("W1 consume them (k rec/s)", Modes[m], records / consume.TotalSeconds / 1e3);
                Add("W1 broker CPU per consumed record (µs)", Modes[m], consumeCpu.TotalMilliseconds * 1000 / records);

                // W2: the issue's 1 KiB workload, 200,000 records (a fifth of W1's count, as in the peer scenario).
                int kibRecords = Math.Max(1, records / 5);
                (TimeSpan kib, TimeSpan kibCpu) = Produce(config, broker, await CreateTopicAsync(config, topic + "-kib"), kibRecords, 1024);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1} {Modes[m]}: W2 produce {kibRecords * 1024.0 / kib.TotalSeconds / 1e6:F1} MB/s ({kibCpu.TotalMilliseconds * 1000 / kibRecords:F3} µs broker CPU/rec)"));
                Add($"W2 produce {kibRecords} x 1 KiB acks=1 (MB/s)", Modes[m], kibRecords * 1024.0 / kib.TotalSeconds / 1e6);
                Add("W2 broker CPU per produced record (µs)", Modes[m], kibCpu.TotalMilliseconds * 1000 / kibRecords);
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{rounds} rounds, mode order rotating; median (min–max); ratio = median / PLAINTEXT median.");
        Console.WriteLine();
        Console.WriteLine("| workload | PLAINTEXT | SSL | SASL_SSL (SCRAM-SHA-256) | SSL / plain | SASL_SSL / plain |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach ((string row, Dictionary<string, List<double>> byMode) in rows)
        {
            double plain = RoundStats.Median(byMode["PLAINTEXT"]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {row} | {RoundStats.Cell(byMode["PLAINTEXT"])} | {RoundStats.Cell(byMode["SSL"])} | {RoundStats.Cell(byMode["SASL_SSL"])} | {RoundStats.Median(byMode["SSL"]) / plain:F2}× | {RoundStats.Median(byMode["SASL_SSL"]) / plain:F2}× |"));
        }

        Directory.Delete(dir, recursive: true);
    }

    // The broker is started once its first listener accepts; the others may open a moment later.
    private static async Task WaitForAsync(int port)
    {
        for (int i = 0; i < 300; i++)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"listener {port} did not open");
    }

    private static ClientConfig Config(string mode, int port, string ca)
    {
        var config = new ClientConfig { BootstrapServers = $"127.0.0.1:{port}" };
        if (mode != "PLAINTEXT")
        {
            config.SecurityProtocol = mode == "SSL" ? SecurityProtocol.Ssl : SecurityProtocol.SaslSsl;
            config.SslCaLocation = ca;
        }

        if (mode == "SASL_SSL")
        {
            config.SaslMechanism = SaslMechanism.ScramSha256;
            config.SaslUsername = User;
            config.SaslPassword = Password;
        }

        return config;
    }

    private static async Task<string> CreateTopicAsync(ClientConfig config, string name)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig(Copy(config))).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = 1, ReplicationFactor = 1 }]);
        return name;
    }

    // A small produce and consume first, so the connection set-up and JIT are not billed to the mode.
    private static void Warm(ClientConfig config, global::Broker broker, string topic)
    {
        Produce(config, broker, topic, 20_000);
        Consume(config, broker, topic, 20_000);
    }

    private static (TimeSpan Elapsed, TimeSpan Cpu) Produce(ClientConfig baseConfig, global::Broker broker, string topic, int count, int size = 100)
    {
        ProducerConfig config = ConfluentSender.ThroughputConfig(baseConfig.BootstrapServers, Acks.Leader, lingerMs: 5);
        foreach (KeyValuePair<string, string> setting in baseConfig)
        {
            config.Set(setting.Key, setting.Value); // the listener's security settings
        }

        byte[] value = new byte[size];
        new Random(1).NextBytes(value);
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(config).Build();
        var sender = new ConfluentSender(producer);
        TimeSpan cpu = broker.CpuTime;
        var clock = Stopwatch.StartNew();
        sender.Send(topic, new Message<Null, byte[]> { Value = value }, count);
        sender.FlushOrThrow(TimeSpan.FromMinutes(5));
        return (clock.Elapsed, broker.CpuTime - cpu);
    }

    private static (TimeSpan Elapsed, TimeSpan Cpu) Consume(ClientConfig baseConfig, global::Broker broker, string topic, int count)
    {
        using IConsumer<Ignore, byte[]> consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig(Copy(baseConfig))
        {
            GroupId = "load",
            EnableAutoCommit = false,
            FetchMaxBytes = 64 * 1024 * 1024,
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            QueuedMaxMessagesKbytes = 512 * 1024,
            QueuedMinMessages = 1_000_000, // the same consumer settings as the other W1 figures
            FetchQueueBackoffMs = 0,
        }).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        TimeSpan cpu = broker.CpuTime;
        var clock = Stopwatch.StartNew();
        _ = ConfluentSender.ReadOrThrow(consumer, count);
        return (clock.Elapsed, broker.CpuTime - cpu);
    }

    /// <summary>A throw-away CA and a server certificate for 127.0.0.1 / localhost, as PEM files in <paramref name="dir"/>.</summary>
    private static (string Ca, string Certificate, string Key) MintCertificates(string dir)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=loadtool-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        byte[] serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using X509Certificate2 server = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), serial);

        string caFile = Path.Combine(dir, "ca.pem");
        string certificateFile = Path.Combine(dir, "server.crt.pem");
        string keyFile = Path.Combine(dir, "server.key.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        File.WriteAllText(certificateFile, server.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (caFile, certificateFile, keyFile);
    }

    // Confluent's typed configs wrap the dictionary they are given: copy it, or producer settings leak into the consumer.
    private static Dictionary<string, string> Copy(ClientConfig config) => config.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
}
