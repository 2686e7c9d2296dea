using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace LogBroker.Storage.Internal;

/// <summary>
/// A file mapped read-write into memory, shared with the page cache (MAP_SHARED).
/// </summary>
/// <remarks>
/// <para>Lifetime: <see cref="Unmap"/> closes the mapping and the file. The owner (a
/// <see cref="LogSegment"/>) calls it only when its last lease is gone, so no reader ever touches
/// unmapped memory.</para>
/// <para>Size: the mapping is created at <see cref="Capacity"/> bytes (the file is extended, sparse,
/// if shorter). <see cref="SetFileLength"/> may shrink the file below the mapping (trim on roll and
/// close); callers must never touch bytes past the file's end afterwards (SIGBUS on Linux).</para>
/// <para>Durability: <see cref="FlushToDisk"/> is fsync(2) of the file. On Linux it also writes back
/// the pages dirtied through the shared mapping, since they are the file's page-cache pages.</para>
/// <para>Thread-safety: pointer and memory may be used from any thread under a lease. Length
/// changes and flushes are serialized by an internal lock.</para>
/// </remarks>
internal sealed unsafe class MappedFile : MemoryManager<byte>
{
    private readonly FileStream _file;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _pointer;
    private readonly Lock _ioLock = new();

    private MappedFile(string path, FileStream file, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* pointer, int capacity)
    {
        Path = path;
        _file = file;
        _map = map;
        _view = view;
        _pointer = pointer;
        Capacity = capacity;
    }

    public string Path { get; }

    /// <summary>Bytes mapped. Zero for an empty read-only file, which is not mapped at all.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Opens (or creates) <paramref name="path"/> and maps <paramref name="capacity"/> bytes of it;
    /// <c>null</c> capacity maps the file at its current length.
    /// </summary>
    public static MappedFile Open(string path, int? capacity, bool createNew)
    {
        var file = new FileStream(path, createNew ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite,
            FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.None);
        try
        {
            long length = file.Length;
            long size = capacity ?? length;
            if (size > int.MaxValue)
            {
                throw new IOException($"{path} is {size} bytes; segments and indexes are limited to 2 GiB.");
            }

            if (size == 0)
            {
                return new MappedFile(path, file, null, null, null, 0);
            }

            if (length < size)
            {
                file.SetLength(size); // sparse: blocks are allocated as pages are written
            }

            var map = MemoryMappedFile.CreateFromFile(file, null, size, MemoryMappedFileAccess.ReadWrite,
                HandleInheritability.None, leaveOpen: true);
            MemoryMappedViewAccessor view;
            try
            {
                view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
            }
            catch
            {
                map.Dispose();
                throw;
            }

            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new MappedFile(path, file, map, view, pointer + view.PointerOffset, (int)size);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The whole mapping. Valid only until <see cref="Unmap"/>.</summary>
    public override Span<byte> GetSpan() => new(_pointer, Capacity);

    /// <summary>Bytes [<paramref name="start"/>, start + length) of the mapping; bounds checked.</summary>
    public Span<byte> Slice(int start, int length) => GetSpan().Slice(start, length);

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/> with pwrite(2): one copy into the
    /// page cache, which the mapping shares (on Linux mmap and write see the same pages). Faster than
    /// a memcpy into the mapping for fresh pages: a first store into a hole of the sparse file faults,
    /// and the fault reads (zero-fills) the page and its read-ahead window before the copy overwrites
    /// it; write(2) of whole pages does neither (measured: see bench/RESULTS.md).
    /// </summary>
    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_file.SafeFileHandle, data, offset);

    /// <summary>Sets the file's length (trim on roll or close). The mapping keeps its size.</summary>
    public void SetFileLength(long length)
    {
        lock (_ioLock)
        {
            _file.SetLength(length);
        }
    }

    /// <summary>fsync(2): data and metadata of the file, including pages written through the mapping.</summary>
    public void FlushToDisk()
    {
        lock (_ioLock)
        {
            if (_view is not null && !OperatingSystem.IsLinux())
            {
                _view.Flush();
            }

            _file.Flush(flushToDisk: true);
        }
    }

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        // Lifetime belongs to the owning segment's lease count; see Unmap.
    }

    /// <summary>Unmaps and closes the file. The caller guarantees no one uses the memory any more.</summary>
    public void Unmap()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _map?.Dispose();
        lock (_ioLock)
        {
            _file.Dispose();
        }
    }
}
