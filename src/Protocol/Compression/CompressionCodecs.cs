using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using LogBroker.Protocol.Records;
using Snappier;
using ZstdSharp;

namespace LogBroker.Protocol.Compression;

/// <summary>
/// The record batch codecs in the framings the Java client and librdkafka write and read: gzip (RFC 1952),
/// snappy in snappy-java's "xerial" framing (raw snappy blocks are read too), LZ4 frames (independent
/// 64 KiB blocks, as KafkaLZ4BlockOutputStream) and zstd frames. Decompression is bounded: it stops and
/// fails beyond a given output size, whatever the input claims.
/// </summary>
internal static class CompressionCodecs
{
    internal static ReadOnlySpan<byte> XerialMagic => [0x82, (byte)'S', (byte)'N', (byte)'A', (byte)'P', (byte)'P', (byte)'Y', 0];

    internal const int XerialHeaderSize = 16;
    private const int XerialBlockSize = 32 * 1024;
    private const int ChunkSize = 64 * 1024;

    [ThreadStatic]
    private static Compressor? _zstd;

    [ThreadStatic]
    private static int _zstdLevel;

    [ThreadStatic]
    private static Decompressor? _zstdDecoder;

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Compress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int level = -1)
    {
        switch (codec)
        {
            case CompressionType.None:
                destination.Write(source);
                return source.Length;
            case CompressionType.Gzip:
                return WithStream(source, destination, level, static (s, l) => new GZipStream(s, l switch
                {
                    < 0 => CompressionLevel.Fastest,
                    0 => CompressionLevel.NoCompression,
                    >= 9 => CompressionLevel.SmallestSize,
                    _ => CompressionLevel.Optimal,
                }, leaveOpen: true));
            case CompressionType.Snappy:
                return CompressXerial(source, destination);
            case CompressionType.Lz4:
                return WithStream(source, destination, level, static (s, l) => LZ4Stream.Encode(s, new LZ4EncoderSettings
                {
                    BlockSize = 64 * 1024,
                    ChainBlocks = false,
                    ContentChecksum = false,
                    BlockChecksum = false,
                    CompressionLevel = l <= 0 ? LZ4Level.L00_FAST : (LZ4Level)Math.Min(l, (int)LZ4Level.L12_MAX),
                }, leaveOpen: true));
            case CompressionType.Zstd:
                return CompressZstd(source, destination, level);
            default:
                throw new ArgumentOutOfRangeException(nameof(codec), codec, "Unknown compression type.");
        }
    }

    /// <summary>
    /// Decompresses <paramref name="source"/> into <paramref name="destination"/>. False, without throwing,
    /// when the input is malformed or truncated or would decompress to more than <paramref name="maxOutputBytes"/>.
    /// </summary>
    public static bool TryDecompress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes, out int written)
    {
        written = 0;
        try
        {
            return codec switch
            {
                CompressionType.None => Copy(source, destination, maxOutputBytes, out written),
                CompressionType.Gzip => FromStream(source, destination, maxOutputBytes, static s => new GZipStream(s, CompressionMode.Decompress), out written) && GzipLengthMatches(source, written),
                CompressionType.Snappy => DecompressSnappy(source, destination, maxOutputBytes, out written),
                CompressionType.Lz4 => FromStream(source, destination, maxOutputBytes, static s => LZ4Stream.Decode(s, 0, leaveOpen: true), out written),
                CompressionType.Zstd => FromStream(source, destination, maxOutputBytes, static s => new DecompressionStream(s, leaveOpen: true), out written),
                _ => false,
            };
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            return false;
        }
    }

    /// <summary>
    /// A stream that decodes <paramref name="length"/> compressed bytes at <paramref name="source"/> (kept
    /// pinned by the caller while the stream is used), for readers that walk the output without holding
    /// it. Malformed input makes <see cref="Stream.Read(Span{byte})"/> throw one of the exceptions
    /// <see cref="IsDecodeFailure"/> accepts; the caller bounds the output it reads. Gzip readers must
    /// also check <see cref="GzipLengthMatches"/> at the end.
    /// </summary>
    internal static unsafe Stream OpenDecoder(CompressionType codec, byte* source, int length, long maxOutputBytes)
    {
        if (codec == CompressionType.Snappy)
        {
            return new SnappyDecodeStream(source, length, maxOutputBytes);
        }

        var input = new UnmanagedMemoryStream(source, length);
        return codec switch
        {
            CompressionType.Gzip => new GZipStream(input, CompressionMode.Decompress),
            CompressionType.Lz4 => LZ4Stream.Decode(input, 0, leaveOpen: false),
            CompressionType.Zstd => new DecompressionStream(input, ZstdDecoder(), checkEndOfStream: true, preserveDecompressor: true, leaveOpen: false),
            _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "Not a compression codec."),
        };
    }

    /// <summary>
    /// This thread's zstd decompression context, reset for a new frame: creating one per batch costs more
    /// than decoding a 16 KiB batch. Safe because a decoder from <see cref="OpenDecoder"/> is used and
    /// disposed on the thread that opened it, before the next one is opened.
    /// </summary>
    private static Decompressor ZstdDecoder()
    {
        Decompressor decoder = _zstdDecoder ??= new Decompressor();
        decoder.ResetStream();
        return decoder;
    }

    /// <summary>The exceptions a decoder throws for malformed or truncated input.</summary>
    internal static bool IsDecodeFailure(Exception e) =>
        e is InvalidDataException or InvalidOperationException or ArgumentException or IOException or ZstdException
            or EndOfStreamException or NotSupportedException or IndexOutOfRangeException
            or NotImplementedException; // K4os: an LZ4 frame asking for a predefined dictionary (found by fuzzing)

    /// <summary>
    /// GZipStream returns what it could decode from a stream cut short (even inside its trailer) without an
    /// error; the trailer's ISIZE (the output length mod 2^32) catches that. Kafka producers write a single
    /// gzip member, so the last 4 bytes are that member's ISIZE.
    /// </summary>
    internal static bool GzipLengthMatches(ReadOnlySpan<byte> source, long written) =>
        source.Length >= 18 && BinaryPrimitives.ReadUInt32LittleEndian(source[^4..]) == (uint)written;

    private static bool Copy(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int max, out int written)
    {
        written = 0;
        if (source.Length > max)
        {
            return false;
        }

        destination.Write(source);
        written = source.Length;
        return true;
    }

    private static int WithStream(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int level, Func<Stream, int, Stream> open)
    {
        var sink = new BufferWriterStream(destination);
        using (Stream compressor = open(sink, level))
        {
            compressor.Write(source);
        }

        return (int)sink.Written;
    }

    private static unsafe bool FromStream(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int max, Func<Stream, Stream> open, out int written)
    {
        written = 0;
        fixed (byte* p = source)
        {
            using var input = new UnmanagedMemoryStream(p, source.Length);
            using Stream decoder = open(input);
            while (true)
            {
                Span<byte> span = destination.GetSpan(ChunkSize);
                int room = (int)Math.Min(span.Length, (long)max - written + 1); // long: max may be int.MaxValue
                int n = decoder.Read(span[..room]);
                if (n == 0)
                {
                    return true;
                }

                destination.Advance(n);
                written += n;
                if (written > max)
                {
                    return false;
                }
            }
        }
    }

    private static int CompressZstd(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int level)
    {
        int effective = level <= 0 ? 3 : Math.Min(level, 22);
        if (_zstd is null || _zstdLevel != effective)
        {
            _zstd?.Dispose();
            _zstd = new Compressor(effective);
            _zstdLevel = effective;
        }

        int bound = Compressor.GetCompressBound(source.Length);
        Span<byte> span = destination.GetSpan(bound);
        int n = _zstd.Wrap(source, span);
        destination.Advance(n);
        return n;
    }

    private static int CompressXerial(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        Span<byte> header = destination.GetSpan(XerialHeaderSize);
        XerialMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32BigEndian(header[8..], 1); // version
        BinaryPrimitives.WriteInt32BigEndian(header[12..], 1); // minimum compatible version
        destination.Advance(XerialHeaderSize);
        int total = XerialHeaderSize;
        for (int offset = 0; offset < source.Length; offset += XerialBlockSize)
        {
            ReadOnlySpan<byte> block = source.Slice(offset, Math.Min(XerialBlockSize, source.Length - offset));
            Span<byte> span = destination.GetSpan(4 + Snappy.GetMaxCompressedLength(block.Length));
            int n = Snappy.Compress(block, span[4..]);
            BinaryPrimitives.WriteInt32BigEndian(span, n);
            destination.Advance(4 + n);
            total += 4 + n;
        }

        return total;
    }

    private static bool DecompressSnappy(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int max, out int written)
    {
        written = 0;
        if (!source.StartsWith(XerialMagic))
        {
            return DecompressRawSnappy(source, destination, max, ref written);
        }

        if (source.Length < XerialHeaderSize)
        {
            return false;
        }

        ReadOnlySpan<byte> rest = source[XerialHeaderSize..];
        while (!rest.IsEmpty)
        {
            if (rest.Length < 4)
            {
                return false;
            }

            int length = BinaryPrimitives.ReadInt32BigEndian(rest);
            if (length < 0 || length > rest.Length - 4)
            {
                return false;
            }

            if (!DecompressRawSnappy(rest.Slice(4, length), destination, max, ref written))
            {
                return false;
            }

            rest = rest[(4 + length)..];
        }

        return true;
    }

    private static bool DecompressRawSnappy(ReadOnlySpan<byte> block, IBufferWriter<byte> destination, int max, ref int written)
    {
        int length = Snappy.GetUncompressedLength(block);
        if (length < 0 || length > max - written)
        {
            return false;
        }

        Span<byte> span = destination.GetSpan(Math.Max(length, 1));
        if (!Snappy.TryDecompress(block, span[..length], out int n) || n != length)
        {
            return false;
        }

        destination.Advance(n);
        written += n;
        return true;
    }

    /// <summary>A write-only stream appending to an <see cref="IBufferWriter{T}"/>.</summary>
    private sealed class BufferWriterStream(IBufferWriter<byte> destination) : Stream
    {
        public long Written { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Written;

        public override long Position { get => Written; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            destination.Write(buffer);
            Written += buffer.Length;
        }

        public override void WriteByte(byte value) => Write([value]);
    }
}
