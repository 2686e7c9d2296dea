using LogBroker.Protocol.Records;

namespace LogBroker.TestKit;

/// <summary>Request frames captured from real Kafka clients, shipped with the tests (see GoldenFrames/README.md).</summary>
public static class GoldenFrame
{
    /// <summary>The frames holding a Produce request with one record batch: (client folder, stem, codec, idempotent).</summary>
    public static ProduceFrame[] ProduceFrames { get; } =
    [
        new("librdkafka-2.16", "008-Produce-v9", CompressionType.None, false),
        new("librdkafka-2.16", "014-Produce-v9", CompressionType.Gzip, false),
        new("librdkafka-2.16", "015-Produce-v9", CompressionType.Snappy, false),
        new("librdkafka-2.16", "016-Produce-v9", CompressionType.Lz4, false),
        new("librdkafka-2.16", "017-Produce-v9", CompressionType.Zstd, false),
        new("librdkafka-2.16", "019-Produce-v9", CompressionType.None, true),
        new("kcat", "016-Produce-v7", CompressionType.Zstd, false),
        new("kafka-python-2.0.2", "008-Produce-v7", CompressionType.None, false),
        new("kafka-python-2.0.2", "019-Produce-v7", CompressionType.Gzip, false),
        new("kafkajs-2.2.4", "006-Produce-v7", CompressionType.None, false),
        new("kafkajs-2.2.4", "014-Produce-v7", CompressionType.Gzip, false),
    ];

    /// <summary>The bytes of a captured request frame.</summary>
    public static byte[] Request(string client, string stem) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "GoldenFrames", client, stem + ".request.bin"));

    /// <summary>
    /// The record batch inside a captured Produce request: the one position where a whole batch
    /// validates (length, magic, CRC-32C over the rest). Until the Produce codec exists this finds it
    /// by trying each position; a CRC match by chance elsewhere is not a practical risk.
    /// </summary>
    public static byte[] RecordBatchIn(byte[] produceRequest)
    {
        for (int position = 0; position + RecordBatch.HeaderSize <= produceRequest.Length; position++)
        {
            if (RecordBatch.Validate(produceRequest.AsSpan(position), out _, out int size) == BatchValidation.Valid)
            {
                return produceRequest.AsSpan(position, size).ToArray();
            }
        }

        throw new InvalidDataException("No valid record batch in the frame.");
    }
}

/// <summary>One golden Produce frame: where it is and what its batch holds.</summary>
public sealed record ProduceFrame(string Client, string Stem, CompressionType Codec, bool Idempotent)
{
    public override string ToString() => $"{Client}/{Stem}";
}

/// <summary>One request/response pair from GoldenFrames/index.tsv.</summary>
public sealed record GoldenPair(string Client, string Stem, short ApiKey, string ApiName, short Version, string Note)
{
    /// <summary>Every pair listed in the index.</summary>
    public static IReadOnlyList<GoldenPair> All { get; } = Load();

    public byte[] Request() => GoldenFrame.Request(Client, Stem);

    /// <summary>The response bytes, or null when the client got none (acks=0).</summary>
    public byte[]? Response()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "GoldenFrames", Client, Stem + ".response.bin");
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    public override string ToString() => $"{Client}/{Stem}";

    private static List<GoldenPair> Load()
    {
        var pairs = new List<GoldenPair>();
        string[] lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "GoldenFrames", "index.tsv"));
        foreach (string line in lines.Skip(1))
        {
            string[] f = line.Split('\t');
            pairs.Add(new GoldenPair(f[0], f[1], short.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture), f[3],
                short.Parse(f[4], System.Globalization.CultureInfo.InvariantCulture), f[^1]));
        }

        return pairs;
    }
}
