using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LogBroker.Protocol.Records;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record batch v2.
/// </summary>
/// <remarks>
/// Uses <see cref="BitOperations.Crc32C(uint, ulong)"/>, which the JIT turns into the SSE4.2 / ARMv8
/// <c>crc32</c> instruction (and a table fallback elsewhere), eight bytes per step. Measured against
/// the alternatives in <c>bench/Protocol.Benchmarks</c> (see <c>bench/RESULTS.md</c>).
/// </remarks>
public static class Crc32C
{
    /// <summary>Computes the CRC-32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFFFFFFu, data);

    /// <summary>
    /// Continues a running CRC. <paramref name="crc"/> is the raw register (start with 0xFFFFFFFF);
    /// the final checksum is the bitwise complement of the last returned value.
    /// </summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int i = 0;

        // Four independent-looking loads per iteration keep the loop overhead low; the crc32
        // instruction's latency (3 cycles) is the bound, about 8 bytes every 3 cycles.
        for (; i <= length - 32; i += 32)
        {
            crc = BitOperations.Crc32C(crc, ReadUInt64(ref start, i));
            crc = BitOperations.Crc32C(crc, ReadUInt64(ref start, i + 8));
            crc = BitOperations.Crc32C(crc, ReadUInt64(ref start, i + 16));
            crc = BitOperations.Crc32C(crc, ReadUInt64(ref start, i + 24));
        }

        for (; i <= length - 8; i += 8)
        {
            crc = BitOperations.Crc32C(crc, ReadUInt64(ref start, i));
        }

        for (; i < length; i++)
        {
            crc = BitOperations.Crc32C(crc, Unsafe.Add(ref start, i));
        }

        return crc;
    }

    private static ulong ReadUInt64(ref byte start, int offset)
    {
        ulong value = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
        // The CRC is defined over the byte stream; the crc32 instruction consumes little-endian words.
        return BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    }
}
