using System.Buffers;
using LogBroker.Protocol.Records;
using Codecs = LogBroker.Protocol.Compression.CompressionCodecs;

namespace LogBroker.Client.Compression;

/// <summary>
/// The client's name for the record batch codecs, which live in LogBroker.Protocol (the broker validates
/// compressed batches with the same decoders): see <see cref="Codecs"/>.
/// </summary>
internal static class CompressionCodecs
{
    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Compress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int level = -1) =>
        Codecs.Compress(codec, source, destination, level);

    /// <summary>Bounded decompression; false when the input is malformed, truncated or larger than <paramref name="maxOutputBytes"/>.</summary>
    public static bool TryDecompress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes, out int written) =>
        Codecs.TryDecompress(codec, source, destination, maxOutputBytes, out written);
}
