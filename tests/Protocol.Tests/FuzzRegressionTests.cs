using System.Buffers.Binary;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Tests;

/// <summary>
/// Every input afl-fuzz found to break a rule (tools/fuzz.sh; the targets are in tests/Fuzz/Targets.cs),
/// kept in FuzzCrashes/TARGET/ in that target's input format and decoded here the same way: no
/// exception, and no allocation beyond the bound of <see cref="MutatedFrameTests"/>.
/// </summary>
public sealed class FuzzRegressionTests
{
    private static readonly ApiKey[] Keys = Enum.GetValues<ApiKey>();

    public static TheoryData<string, string> Crashes()
    {
        var data = new TheoryData<string, string>();
        string root = Path.Combine(AppContext.BaseDirectory, "FuzzCrashes");
        foreach (string file in Directory.EnumerateFiles(root, "*.bin", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(Path.GetDirectoryName(file)!), Path.GetFileName(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Crashes))]
    public void A_fuzz_crash_input_now_fails_only_as_the_protocol_does(string target, string name)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "FuzzCrashes", target, name));
        switch (target)
        {
            // Each runs twice and is measured the second time: the first run of a path allocates for
            // the runtime (type loading), not for the input.
            case "requests":
                Request(input, measure: false);
                Request(input, measure: true);
                break;
            case "frame":
                Frame(input, measure: false);
                Frame(input, measure: true);
                break;
            case "batch":
                Batch(input, measure: false);
                Batch(input, measure: true);
                break;
            default:
                Assert.Fail($"no replay for target {target}");
                break;
        }
    }

    /// <summary>The requests target: byte 0 the key, byte 1 the version within its schema, byte 2 request or response.</summary>
    private static void Request(byte[] input, bool measure)
    {
        ApiKey key = Keys[input[0] % Keys.Length];
        (short low, short high) = ApiMessages.SchemaVersions(key);
        short version = (short)(low + (input[1] % (high - low + 1)));
        IKafkaMessage message = (input[2] & 1) != 0 ? ApiMessages.CreateResponse(key) : ApiMessages.CreateRequest(key);
        var reader = new KafkaReader(input.AsMemory(3));
        long before = GC.GetAllocatedBytesForCurrentThread();
        message.Read(ref reader, version);
        AssertWithinBound(measure, before, reader.Position, $"{key} v{version}");
    }

    /// <summary>The frame target: size prefix, header, body, for one frame.</summary>
    private static void Frame(byte[] input, bool measure)
    {
        int size = BinaryPrimitives.ReadInt32BigEndian(input);
        var reader = new KafkaReader(input.AsMemory(4, Math.Min(size, input.Length - 4)));
        long before = GC.GetAllocatedBytesForCurrentThread();
        RequestHeader header = RequestHeader.Read(ref reader);
        if (ApiMessages.IsKnown(header.ApiKey))
        {
            (short low, short high) = ApiMessages.SchemaVersions((ApiKey)header.ApiKey);
            if (header.ApiVersion >= low && header.ApiVersion <= high)
            {
                ApiMessages.CreateRequest((ApiKey)header.ApiKey).Read(ref reader, header.ApiVersion);
            }
        }

        AssertWithinBound(measure, before, reader.Position, $"{(ApiKey)header.ApiKey} v{header.ApiVersion}");
    }

    /// <summary>The batch target: byte 0 bit 0 re-seals the CRC; validation and record iteration allocate nothing.</summary>
    private static void Batch(byte[] input, bool measure)
    {
        byte[] batch = input[1..];
        if ((input[0] & 1) != 0 && RecordBatch.TryReadSize(batch, out int total) && total <= batch.Length && batch.Length >= RecordBatch.HeaderSize)
        {
            RecordBatch.WriteCrc(batch);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        if (RecordBatch.Validate(batch, out RecordBatchHeader header, out int size) == BatchValidation.Valid &&
            header.Compression == CompressionType.None)
        {
            var records = new RecordReader(batch.AsSpan(RecordBatch.HeaderSize, size - RecordBatch.HeaderSize));
            while (records.TryRead(out _))
            {
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(!measure || allocated == 0, $"batch validation allocated {allocated} bytes");
    }

    private static void AssertWithinBound(bool measure, long before, int consumed, string what)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long bound = (MutatedFrameTests.BytesPerConsumedByte * consumed) + MutatedFrameTests.FixedAllowance;
        Assert.True(!measure || allocated <= bound, $"{what}: allocated {allocated} bytes after reading {consumed} (bound {bound})");
    }
}
