using System.Buffers.Binary;
using System.Globalization;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Fuzz;

/// <summary>
/// Writes the checked-in seed corpus (tests/Fuzz/corpus/TARGET/) from the golden frames in
/// tests/TestKit/GoldenFrames: the first request and response captured for each API key and version,
/// in each target's input format, and every record batch of the golden Produce frames.
/// </summary>
internal static class SeedCorpus
{
    public static void Write(string goldenDirectory, string outputDirectory)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var written = new Dictionary<string, int>(StringComparer.Ordinal);
        ApiKey[] keys = Enum.GetValues<ApiKey>();
        foreach (string line in File.ReadLines(Path.Combine(goldenDirectory, "index.tsv")).Skip(1))
        {
            string[] f = line.Split('\t');
            string client = f[0], stem = f[1];
            var key = (ApiKey)short.Parse(f[2], CultureInfo.InvariantCulture);
            short version = short.Parse(f[4], CultureInfo.InvariantCulture);
            string name = $"{key}-v{version}";
            byte[] request = File.ReadAllBytes(Path.Combine(goldenDirectory, client, stem + ".request.bin"));
            string responsePath = Path.Combine(goldenDirectory, client, stem + ".response.bin");
            byte keyIndex = (byte)Array.IndexOf(keys, key);
            byte versionOffset = (byte)(version - ApiMessages.SchemaVersions(key).Lowest);

            if (key == ApiKey.Produce)
            {
                foreach (byte[] batch in BatchesIn(request))
                {
                    var header = RecordBatchHeader.Read(batch);
                    string batchName = $"{client}-{stem}-{header.Compression}";
                    if (!seen.Add($"batch {client} {header.Compression} {header.IsTransactional} {header.ProducerId >= 0}"))
                    {
                        continue; // one batch per client, codec and producer kind
                    }

                    Add(written, seen, outputDirectory, "batch", batchName, [0, .. batch]);
                    if (header.Compression != CompressionType.None)
                    {
                        Add(written, seen, outputDirectory, "codecs", batchName, [(byte)header.Compression, .. batch.AsSpan(RecordBatch.HeaderSize)]);
                    }
                }
            }

            if (!seen.Add("request " + name))
            {
                continue; // one seed per key and version keeps the corpus small
            }

            byte[] sized = new byte[4 + request.Length];
            BinaryPrimitives.WriteInt32BigEndian(sized, request.Length);
            request.CopyTo(sized, 4);
            Add(written, seen, outputDirectory, "frame", name, sized);

            var reader = new KafkaReader(request);
            RequestHeader.Read(ref reader);
            Add(written, seen, outputDirectory, "requests", name + "-request", [keyIndex, versionOffset, 0, .. request.AsSpan(reader.Position)]);

            if (File.Exists(responsePath))
            {
                byte[] response = File.ReadAllBytes(responsePath);
                int headerSize = ApiMessages.ResponseHeaderHasTaggedFields(key, version) ? 5 : 4;
                Add(written, seen, outputDirectory, "requests", name + "-response", [keyIndex, versionOffset, 1, .. response.AsSpan(headerSize)]);
            }
        }

        foreach ((string target, int count) in written.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Console.WriteLine($"{target}: {count} seeds");
        }
    }

    private static void Add(Dictionary<string, int> written, HashSet<string> seen, string root, string target, string name, byte[] bytes)
    {
        if (!seen.Add(target + " " + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes))))
        {
            return; // identical content
        }

        string directory = Path.Combine(root, target);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, name + ".bin"), bytes);
        written[target] = written.GetValueOrDefault(target) + 1;
    }

    /// <summary>Every position in a Produce frame where a whole batch validates.</summary>
    private static List<byte[]> BatchesIn(byte[] frame)
    {
        var batches = new List<byte[]>();
        for (int position = 0; position + RecordBatch.HeaderSize <= frame.Length; position++)
        {
            if (RecordBatch.Validate(frame.AsSpan(position), out _, out int size) == BatchValidation.Valid)
            {
                batches.Add(frame.AsSpan(position, size).ToArray());
                position += size - 1;
            }
        }

        return batches;
    }
}
