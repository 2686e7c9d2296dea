using System.IO.MemoryMappedFiles;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace LogBroker.Storage.Benchmarks;

/// <summary>
/// Appending 256 MiB of 100-byte records in 16 KiB or 1 MiB batches to a fresh partition, against
/// two baselines on the same bytes and disk in the same run: a plain sequential FileStream write
/// (the target: append ≥ 80% of it) and a memcpy into a preallocated memory-mapped file.
/// One operation = 256 MiB; MB/s = 268.4 / mean seconds. Page cache only: no fsync in any of them.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class AppendBenchmarks
{
    private const long TotalBytes = 256L * 1024 * 1024;
    private byte[] _batch = [];
    private string _directory = "";
    private int _batches;
    private PartitionLog? _log;

    [Params(16 * 1024, 1024 * 1024)]
    public int BatchBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = Data.Batch(BatchBytes);
        _batches = (int)(TotalBytes / _batch.Length);
        _directory = Path.Combine(Data.Root, "append-" + Guid.NewGuid().ToString("N"));
    }

    [IterationSetup(Targets = [nameof(FileStreamWrite), nameof(MappedMemoryCopy)])]
    public void Clean()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        Directory.CreateDirectory(_directory);
    }

    /// <summary>A fresh, empty partition; opening it (segment creation) is not part of the measurement.</summary>
    [IterationSetup(Target = nameof(PartitionAppend))]
    public void OpenPartition()
    {
        Clean();
        _log = PartitionLog.Open(Path.Combine(_directory, "partition"), Data.Config, cleanShutdown: true);
    }

    /// <summary>The clean close fsyncs; the baselines do not, so neither is measured.</summary>
    [IterationCleanup(Target = nameof(PartitionAppend))]
    public void ClosePartition() => _log?.Dispose();

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Baseline = true)]
    public void FileStreamWrite()
    {
        using var file = new FileStream(Path.Combine(_directory, "baseline.bin"), FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        for (int i = 0; i < _batches; i++)
        {
            file.Write(_batch);
        }
    }

    [Benchmark]
    public unsafe void MappedMemoryCopy()
    {
        long length = (long)_batches * _batch.Length;
        using var file = new FileStream(Path.Combine(_directory, "mapped.bin"), FileMode.Create, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        file.SetLength(length);
        using var map = MemoryMappedFile.CreateFromFile(file, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
        using MemoryMappedViewAccessor view = map.CreateViewAccessor(0, length);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        try
        {
            for (int i = 0; i < _batches; i++)
            {
                _batch.AsSpan().CopyTo(new Span<byte>(pointer + ((long)i * _batch.Length), _batch.Length));
            }
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>Append validates each batch (CRC-32C included) before writing it, as the broker's path does once.</summary>
    [Benchmark]
    public void PartitionAppend()
    {
        PartitionLog log = _log!;
        for (int i = 0; i < _batches; i++)
        {
            if (log.Append(_batch).Status != AppendStatus.Success)
            {
                throw new InvalidOperationException("append failed");
            }
        }
    }
}
