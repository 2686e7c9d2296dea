using System.Buffers;
using System.Buffers.Binary;
using LogBroker.Protocol.Compression;

namespace LogBroker.Protocol.Records;

/// <summary>
/// Re-encodes a record batch v2 with another codec, as Kafka's LogValidator does for a topic whose
/// <c>compression.type</c> names a codec other than the batch's. The records are decoded (bounded by
/// the caller's limit on decompressed bytes) into a pooled buffer and compressed again into another;
/// the 61-byte batch header is kept (base offset, leader epoch, offset deltas, timestamps, producer id,
/// epoch and sequence, transactional and control flags are all unchanged: the records are the same
/// records) except for the length, the codec bits of the attributes and the CRC-32C, which are
/// rewritten. The caller must have validated the batch and its records first.
/// </summary>
public static class BatchRecompressor
{
    /// <summary>Kafka's default levels: gzip is Deflater's default (6); lz4 9 maps to its fast compressor; zstd 3.</summary>
    private static int Level(CompressionType codec) => codec switch
    {
        CompressionType.Gzip => 6,
        CompressionType.Zstd => 3,
        _ => -1,
    };

    /// <summary>
    /// The codec a topic's <c>compression.type</c> asks for: null for <c>producer</c> (batches are stored
    /// as sent, Kafka's default) and for no value; None for <c>uncompressed</c>.
    /// </summary>
    public static CompressionType? TopicCodec(string? compressionType) => compressionType switch
    {
        "uncompressed" => CompressionType.None,
        "gzip" => CompressionType.Gzip,
        "snappy" => CompressionType.Snappy,
        "lz4" => CompressionType.Lz4,
        "zstd" => CompressionType.Zstd,
        _ => null,
    };

    /// <summary>
    /// The batch re-encoded with <paramref name="target"/>, in a pooled buffer the result owns (dispose it
    /// once the bytes are stored), or null when the records do not decode within
    /// <paramref name="maxDecompressedBytes"/>. A batch already in <paramref name="target"/> is not
    /// re-encoded: the caller keeps it as it is (check <see cref="RecordBatchHeader.Compression"/> first).
    /// </summary>
    public static RecompressedBatch? Recompress(ReadOnlySpan<byte> batch, in RecordBatchHeader header, CompressionType target, int maxDecompressedBytes)
    {
        if (target > CompressionType.Zstd)
        {
            throw new ArgumentOutOfRangeException(nameof(target), target, "Not a codec.");
        }

        ReadOnlySpan<byte> body = batch[RecordBatch.HeaderSize..header.TotalSize];
        PooledBuffer? decoded = null;
        PooledBuffer? output = null;
        try
        {
            ReadOnlySpan<byte> records = body;
            if (header.Compression != CompressionType.None)
            {
                // The decoders stop past maxDecompressedBytes (they ask for at most one 64 KiB chunk more).
                decoded = new PooledBuffer(Math.Min(Math.Max(body.Length * 4, 4096), Math.Max(maxDecompressedBytes, 0) + 1));
                if (!CompressionCodecs.TryDecompress(header.Compression, body, decoded, maxDecompressedBytes, out _))
                {
                    return null;
                }

                records = decoded.Written;
            }

            // An incompressible batch can grow a little: room for the header, the records and the codecs' framing.
            output = new PooledBuffer(RecordBatch.HeaderSize + records.Length + (records.Length / 8) + 1024);
            batch[..RecordBatch.HeaderSize].CopyTo(output.GetSpan(RecordBatch.HeaderSize));
            output.Advance(RecordBatch.HeaderSize);
            CompressionCodecs.Compress(target, records, output, Level(target));

            Span<byte> result = output.WrittenMutable;
            BinaryPrimitives.WriteInt32BigEndian(result[RecordBatch.LengthOffset..], result.Length - RecordBatch.LogOverhead);
            short attributes = (short)((header.Attributes & ~0x7) | (int)target);
            BinaryPrimitives.WriteInt16BigEndian(result[RecordBatch.AttributesOffset..], attributes);
            RecordBatch.WriteCrc(result);
            if (RecordBatch.Validate(result, out RecordBatchHeader rewritten, out int size) != BatchValidation.Valid || size != result.Length)
            {
                return null; // cannot happen for a batch that validated; never store what does not
            }

            return new RecompressedBatch(output.Detach(), result.Length, rewritten);
        }
        finally
        {
            decoded?.Dispose();
            output?.Dispose();
        }
    }

    /// <summary>A growable buffer in pooled arrays (its writers bound what they write).</summary>
    private sealed class PooledBuffer(int initial) : IBufferWriter<byte>, IDisposable
    {
        private byte[]? _array = ArrayPool<byte>.Shared.Rent(Math.Max(initial, 256));
        private int _written;

        public ReadOnlySpan<byte> Written => _array.AsSpan(0, _written);

        public Span<byte> WrittenMutable => _array.AsSpan(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _array.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _array.AsSpan(_written);
        }

        /// <summary>Hands the array over (the caller returns it to the pool); the buffer no longer owns it.</summary>
        public byte[] Detach()
        {
            byte[] array = _array!;
            _array = null;
            return array;
        }

        public void Dispose()
        {
            if (_array is { } array)
            {
                _array = null;
                ArrayPool<byte>.Shared.Return(array);
            }
        }

        private void Ensure(int sizeHint)
        {
            byte[] array = _array!;
            int needed = Math.Max(sizeHint, 1);
            if (array.Length - _written >= needed)
            {
                return;
            }

            long wanted = Math.Max((long)array.Length * 2, (long)_written + needed);
            byte[] grown = ArrayPool<byte>.Shared.Rent((int)Math.Min(wanted, Array.MaxLength));
            array.AsSpan(0, _written).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(array);
            _array = grown;
        }
    }
}

/// <summary>A re-encoded batch in a pooled array; dispose it once the bytes are stored.</summary>
public sealed class RecompressedBatch : IDisposable
{
    private byte[]? _array;
    private readonly int _length;

    internal RecompressedBatch(byte[] array, int length, RecordBatchHeader header)
    {
        _array = array;
        _length = length;
        Header = header;
    }

    /// <summary>The batch's header as read back from the new bytes.</summary>
    public RecordBatchHeader Header { get; }

    /// <summary>The new batch.</summary>
    public ReadOnlySpan<byte> Batch => _array is { } array ? array.AsSpan(0, _length) : throw new ObjectDisposedException(nameof(RecompressedBatch));

    public void Dispose()
    {
        if (_array is { } array)
        {
            _array = null;
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
