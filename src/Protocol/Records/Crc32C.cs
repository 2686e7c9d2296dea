using System.IO.Hashing;

namespace LogBroker.Protocol.Records;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record batch v2.
/// </summary>
/// <remarks>
/// Delegates to System.IO.Hashing's Crc32C parameter set, which folds with carry-less multiplication
/// (PCLMULQDQ). Measured on this 2-core machine against a loop over the crc32 instruction
/// (BitOperations.Crc32C): 16.9 GB/s against 11.2 GB/s on 1 MiB, 16.8 against 11.8 on 16 KiB, and
/// 62 against 54 ns on 1 KiB (bench/Protocol.Benchmarks, Crc32CBenchmarks; bench/RESULTS.md).
/// Batches are kilobytes to megabytes, so the library wins where it matters.
/// </remarks>
public static class Crc32C
{
    /// <summary>Computes the CRC-32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, data);
}
