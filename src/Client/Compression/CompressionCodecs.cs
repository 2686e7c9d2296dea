using System.Buffers;
using LogBroker.Protocol.Records;

namespace LogBroker.Client.Compression;

internal static class CompressionCodecs
{
    public static int Compress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int level = -1)
    {
        if (codec != CompressionType.None)
        {
            throw new NotSupportedException("temporary");
        }

        destination.Write(source);
        return source.Length;
    }

    public static bool TryDecompress(CompressionType codec, ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes, out int written)
    {
        written = 0;
        if (codec != CompressionType.None || source.Length > maxOutputBytes)
        {
            return false;
        }

        destination.Write(source);
        written = source.Length;
        return true;
    }
}
