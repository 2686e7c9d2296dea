using System.IO.Hashing;
using BenchmarkDotNet.Attributes;
using LogBroker.Protocol.Records;

namespace LogBroker.Protocol.Benchmarks;

/// <summary>
/// CRC-32C over a record batch's bytes: a loop over the crc32 instruction (BitOperations.Crc32C, what
/// LogBroker used first) against System.IO.Hashing's Crc32C parameter set (what Crc32C.Compute uses
/// now), with a memory copy of the same bytes as the baseline.
/// </summary>
[MemoryDiagnoser]
public class Crc32CBenchmarks
{
    private byte[] _data = [];
    private byte[] _target = [];

    [Params(1024, 16 * 1024, 1024 * 1024)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        _target = new byte[Size];
        new Random(1).NextBytes(_data);
        if (Crc32InstructionLoop(_data) != Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data) ||
            Crc32C.Compute(_data) != Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data))
        {
            throw new InvalidOperationException("the two CRC-32C implementations disagree");
        }
    }

    [Benchmark(Baseline = true)]
    public void MemoryCopy() => _data.AsSpan().CopyTo(_target);

    [Benchmark]
    public uint Crc32Instruction() => Crc32InstructionLoop(_data);

    [Benchmark]
    public uint SystemIOHashingCrc32C() => Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, _data);

    private static uint Crc32InstructionLoop(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        int i = 0;
        for (; i <= data.Length - 8; i += 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (; i < data.Length; i++)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, data[i]);
        }

        return ~crc;
    }
}
