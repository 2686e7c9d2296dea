using System.Buffers;
using System.Buffers.Binary;
using System.Reflection;
using LogBroker.Protocol.Messages;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Fuzz;

/// <summary>
/// The fuzz targets. Each takes one input and throws only when the code under test breaks a rule: an
/// exception from a decoder (they report malformed input through <see cref="KafkaReader.Failed"/>,
/// <see cref="BatchValidation"/>, <see cref="RecordReader.IsMalformed"/> or a false return), or an
/// allocation beyond the bound the protocol tests assert (tests/Protocol.Tests/MutatedFrameTests.cs).
/// afl-fuzz records every such input as a crash.
/// </summary>
internal static class Targets
{
    /// <summary>The broker's default <c>socket.request.max.bytes</c> (BrokerOptions.MaxRequestBytes).</summary>
    private const int MaxRequestBytes = 100 * 1024 * 1024;

    /// <summary>Per consumed byte and fixed; the same bound as MutatedFrameTests.</summary>
    private const long BytesPerConsumedByte = 48;
    private const long FixedAllowance = 1024;

    /// <summary>The decompression limit the codecs target passes (the client passes its fetch size).</summary>
    private const int MaxDecompressedBytes = 1024 * 1024;

    private static readonly ApiKey[] Keys = Enum.GetValues<ApiKey>();

    public static Dictionary<string, Action<byte[]>> All { get; } = new(StringComparer.Ordinal)
    {
        ["frame"] = MeasuredTwice(Frame),
        ["requests"] = MeasuredTwice(Requests),
        ["batch"] = MeasuredTwice(Batch),
        ["codecs"] = Codecs,
    };

    /// <summary>
    /// The first run of a code path allocates for the runtime (type loading, stubs), which is not the
    /// decoder's doing; an input over the bound is run once more and fails only if it is over again.
    /// </summary>
    private static Action<byte[]> MeasuredTwice(Action<byte[]> target) => input =>
    {
        try
        {
            target(input);
        }
        catch (AllocationBoundException)
        {
            target(input);
        }
    };

    /// <summary>First-call costs (static constructors, pools) outside the allocation measurement.</summary>
    public static void Warm()
    {
        foreach (ApiKey key in Keys)
        {
            (short low, short high) = ApiMessages.SchemaVersions(key);
            for (short v = low; v <= high; v++)
            {
                var reader = new KafkaReader(new byte[] { 0, 0, 0, 0, 1, 0x41, 0, 0 }.AsMemory());
                ApiMessages.CreateRequest(key).Read(ref reader, v);
                reader = new KafkaReader(new byte[] { 0, 0, 0, 0, 1, 0x41, 0, 0 }.AsMemory());
                ApiMessages.CreateResponse(key).Read(ref reader, v);
            }
        }

        _ = RecordBatch.Validate(new byte[RecordBatch.HeaderSize], out _, out _);
    }

    /// <summary>
    /// The broker's read path (KafkaConnection.TryReadFrame, RequestDispatcher.TryDecode): size
    /// prefix, bounds, header, then the body with the codec of the header's key and version, for as
    /// many frames as the input holds back to back.
    /// </summary>
    public static void Frame(byte[] input)
    {
        ReadOnlySpan<byte> buffer = input;
        while (buffer.Length >= 4)
        {
            int size = BinaryPrimitives.ReadInt32BigEndian(buffer);
            if (size < 8 || size > MaxRequestBytes || buffer.Length - 4 < size)
            {
                return; // the connection closes, or waits for more bytes
            }

            byte[] frame = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                buffer.Slice(4, size).CopyTo(frame);
                buffer = buffer[(4 + size)..];
                ReadOnlyMemory<byte> memory = frame.AsMemory(0, size);
                var prefixReader = new KafkaReader(memory.Span);
                RequestHeader prefix = RequestHeader.ReadPrefix(ref prefixReader);
                if (!ApiMessages.IsKnown(prefix.ApiKey))
                {
                    continue; // answered with a close, not decoded
                }

                (short low, short high) = ApiMessages.SchemaVersions((ApiKey)prefix.ApiKey);
                if (prefix.ApiVersion < low || prefix.ApiVersion > high)
                {
                    continue; // unsupported version: not decoded
                }

                long before = GC.GetAllocatedBytesForCurrentThread();
                var reader = new KafkaReader(memory);
                RequestHeader header = RequestHeader.Read(ref reader);
                ApiMessages.CreateRequest((ApiKey)header.ApiKey).Read(ref reader, header.ApiVersion);
                CheckAllocation(before, reader.Position, $"{(ApiKey)header.ApiKey} v{header.ApiVersion} frame");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
    }

    /// <summary>
    /// Every request and response decoder in every version: byte 0 picks the API key, byte 1 the
    /// version within its schema, byte 2 request (even) or response (odd); the rest is the body.
    /// </summary>
    public static void Requests(byte[] input)
    {
        if (input.Length < 3)
        {
            return;
        }

        ApiKey key = Keys[input[0] % Keys.Length];
        (short low, short high) = ApiMessages.SchemaVersions(key);
        short version = (short)(low + (input[1] % (high - low + 1)));
        bool response = (input[2] & 1) != 0;
        IKafkaMessage message = response ? ApiMessages.CreateResponse(key) : ApiMessages.CreateRequest(key);

        long before = GC.GetAllocatedBytesForCurrentThread();
        var reader = new KafkaReader(input.AsMemory(3));
        message.Read(ref reader, version);
        CheckAllocation(before, reader.Position, $"{key} v{version} {(response ? "response" : "request")}");
    }

    /// <summary>
    /// <see cref="RecordBatch.Validate"/> and, for a valid uncompressed batch, record iteration. Byte 0
    /// bit 0 set re-seals the CRC first, so that mutations get past the checksum to the records.
    /// </summary>
    public static void Batch(byte[] input)
    {
        if (input.Length < 1)
        {
            return;
        }

        byte[] batch = input[1..];
        if ((input[0] & 1) != 0 && RecordBatch.TryReadSize(batch, out int total) && total <= batch.Length && batch.Length >= RecordBatch.HeaderSize)
        {
            RecordBatch.WriteCrc(batch);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        if (RecordBatch.Validate(batch, out RecordBatchHeader header, out int size) == BatchValidation.Valid)
        {
            if (size < RecordBatch.HeaderSize || size > batch.Length || header.TotalSize != size)
            {
                throw new InvalidOperationException($"valid batch with size {size} of {batch.Length}, header says {header.TotalSize}");
            }

            if (header.Compression == CompressionType.None)
            {
                var records = new RecordReader(batch.AsSpan(RecordBatch.HeaderSize, size - RecordBatch.HeaderSize));
                int count = 0;
                while (records.TryRead(out RecordView record))
                {
                    count++;
                    _ = record.Key.Length + record.Value.Length + record.Headers.Length;
                }
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated != 0)
        {
            throw new AllocationBoundException($"batch validation allocated {allocated} bytes");
        }
    }

    /// <summary>
    /// The record batch decompressors (CompressionCodecs.TryDecompress): byte 0 picks the codec, the
    /// rest is the compressed payload. They may refuse input but not throw, and never write more than
    /// the limit.
    /// </summary>
    public static void Codecs(byte[] input)
    {
        if (input.Length < 1)
        {
            return;
        }

        var codec = (CompressionType)(input[0] % 5);
        var output = new ArrayBufferWriter<byte>();
        bool ok = TryDecompress(codec, input.AsSpan(1), output, MaxDecompressedBytes, out int written);
        if (ok && (written > MaxDecompressedBytes || written != output.WrittenCount))
        {
            throw new InvalidOperationException($"{codec}: wrote {written} (buffer {output.WrittenCount}) with a limit of {MaxDecompressedBytes}");
        }
    }

    private static void CheckAllocation(long before, int consumed, string what)
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long bound = (BytesPerConsumedByte * consumed) + FixedAllowance;
        if (allocated > bound)
        {
            throw new AllocationBoundException($"{what}: allocated {allocated} bytes after reading {consumed} (bound {bound})");
        }
    }

    private delegate bool TryDecompressFunc(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes, out int written);

    /// <summary>
    /// The codecs are internal to whichever library holds them (LogBroker.Client now; perhaps
    /// LogBroker.Protocol later), so they are bound by name once, without a friend-assembly entry.
    /// </summary>
    private static readonly TryDecompressFunc TryDecompress = BindDecompressor();

    private static TryDecompressFunc BindDecompressor()
    {
        string[] candidates =
        [
            "LogBroker.Protocol.Compression.CompressionCodecs, LogBroker.Protocol",
            "LogBroker.Client.Compression.CompressionCodecs, LogBroker.Client",
        ];
        foreach (string name in candidates)
        {
            MethodInfo? method = Type.GetType(name)?.GetMethod("TryDecompress", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static);
            if (method is not null)
            {
                return method.CreateDelegate<TryDecompressFunc>();
            }
        }

        throw new InvalidOperationException("CompressionCodecs.TryDecompress not found");
    }
}

/// <summary>A decode allocated more than the bound.</summary>
internal sealed class AllocationBoundException(string message) : Exception(message);
