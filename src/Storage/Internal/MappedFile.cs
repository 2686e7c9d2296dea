using System.Buffers;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;

namespace LogBroker.Storage.Internal;

/// <summary>
/// One file of a segment while its segment is open: a descriptor opened on first use and a
/// read-only shared mapping made on first read. Written only with pwrite(2), never through memory.
/// </summary>
/// <remarks>
/// <para>Descriptors and mappings are separate costs (issue 10): the descriptor exists only for
/// writes (the writer's <see cref="Open"/>), a mapping only for reads. A mapping is made through
/// the writer's descriptor when there is one, else through a descriptor opened for the mmap(2) call
/// and closed right after it (a mapping does not need its descriptor), so a segment only read, or a
/// sealed one, holds no descriptor. The writer may give an index's descriptor back between writes
/// (<see cref="CloseDescriptor"/>) so that thousands of active partitions hold one descriptor each.</para>
/// <para>Writes: <see cref="Write(long, ReadOnlySpan{byte})"/> is pwrite(2). A full disk or an I/O error is an
/// <see cref="IOException"/> from the call, never a fault: nothing is ever stored into a mapping
/// (on Linux the mapping is PROT_READ), so the SIGBUS that a store into an unallocated page of a
/// sparse file raises on ENOSPC cannot happen.</para>
/// <para>Mapping: made at <see cref="MapLength"/> bytes on the first <see cref="GetSpan"/>, which
/// may be more than the file holds (the active segment is mapped at its capacity and grows into
/// the mapping by pwrite). Callers read only bytes the file already holds: a page wholly past the
/// end of the file raises SIGBUS. The owning segment therefore never shrinks a file below a byte a
/// reader may still hold (see <see cref="LogSegment"/>).</para>
/// <para>Lifetime: <see cref="Close"/> unmaps and closes; the owner (<see cref="SegmentFiles"/>)
/// calls it only when its last lease is gone, so no reader ever touches unmapped memory.</para>
/// <para>Thread-safety: any thread may read the mapping; opening and mapping are serialized by an
/// internal lock; writes come from the partition's single writer.</para>
/// </remarks>
internal sealed unsafe class MappedFile : MemoryManager<byte>
{
    private static long _openFiles;
    private static long _mappings;
    private readonly bool _isIndex;

    /// <summary>
    /// Loads the assemblies this class may need later, now (called when a data directory opens):
    /// loading an assembly takes a descriptor, and the first use may come exactly when the process
    /// has none left.
    /// </summary>
    public static void LoadDependencies() => GC.KeepAlive(typeof(MemoryMappedFile).Assembly);

    private readonly Lock _lock = new();
    private readonly SegmentCache? _relief;
    private SafeFileHandle? _handle;
    private nint _address;
    private MemoryMappedFile? _fallbackMap;
    private MemoryMappedViewAccessor? _fallbackView;
    private bool _closed;

    /// <param name="path">The file.</param>
    /// <param name="mapLength">Bytes the mapping covers once made.</param>
    /// <param name="relief">Closes idle segments when an open or mapping hits the process's limit; null: none.</param>
    /// <param name="isIndex">An index file: its descriptor is counted against the cache's index-descriptor budget.</param>
    public MappedFile(string path, int mapLength, SegmentCache? relief = null, bool isIndex = false)
    {
        Path = path;
        MapLength = mapLength;
        _relief = relief;
        _isIndex = isIndex;
    }

    /// <summary>Descriptors open in this process for segment files (for tests and metrics).</summary>
    public static long OpenFiles => Volatile.Read(ref _openFiles);

    /// <summary>Mappings of segment files in this process (for tests and metrics).</summary>
    public static long Mappings => Volatile.Read(ref _mappings);

    public string Path { get; }

    /// <summary>Bytes the mapping covers once made.</summary>
    public int MapLength { get; }

    /// <summary>
    /// Opens the descriptor if not yet open; <paramref name="create"/> creates a missing file (only
    /// the partition's writer passes true). Returns true when this call created the file.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist and <paramref name="create"/> is false
    /// (the segment was deleted meanwhile).</exception>
    /// <exception cref="StorageLimitException">The process's descriptor limit is reached (EMFILE,
    /// ENFILE) and closing idle segments did not help: a transient refusal of this one use.</exception>
    public bool Open(bool create)
    {
        try
        {
            return OpenOnce(create);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            RelieveOrThrow(e, "opened");
        }

        try
        {
            return OpenOnce(create);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            throw Limit(e, "opened");
        }
    }

    private void RelieveOrThrow(IOException e, string what)
    {
        if (_relief is null || _relief.Relieve() == 0)
        {
            throw Limit(e, what);
        }
    }

    private StorageLimitException Limit(IOException e, string what) =>
        new($"{Path} cannot be {what} now: the process's limit of open files or mappings is reached ({e.Message}).", e);

    private bool OpenOnce(bool create)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_handle is not null)
            {
                return false;
            }

            _relief?.Faults.Check(StorageOperation.Open, Path);
            _handle = Posix.OpenFile(Path, create, out bool created);
            Interlocked.Increment(ref _openFiles);
            if (_isIndex)
            {
                _relief?.IndexDescriptorOpened();
            }

            return created;
        }
    }

    /// <summary>True when the descriptor is open (the writer's).</summary>
    public bool HasDescriptor => Volatile.Read(ref _handle) is not null;

    /// <summary>
    /// Closes the descriptor and keeps the mapping. Only the file's writer calls it, between its
    /// writes (it is the only user of the descriptor apart from <see cref="FlushToDisk"/>, which
    /// holds its own reference).
    /// </summary>
    public void CloseDescriptor()
    {
        lock (_lock)
        {
            CloseHandleLocked();
        }
    }

    private void CloseHandleLocked()
    {
        if (_handle is not null)
        {
            _handle.Dispose();
            _handle = null;
            Interlocked.Decrement(ref _openFiles);
            if (_isIndex)
            {
                _relief?.IndexDescriptorClosed();
            }
        }
    }

    /// <summary>pwrite(2) of <paramref name="data"/> at <paramref name="offset"/>; the file must be open.</summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        _relief?.Faults.Check(StorageOperation.Write, Path);
        RandomAccess.Write(Handle, data, offset);
    }

    /// <summary>One pwritev(2) of <paramref name="first"/> then <paramref name="second"/> at <paramref name="offset"/>; the file must be open.</summary>
    public void Write(long offset, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        _relief?.Faults.Check(StorageOperation.Write, Path);
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.Write(Handle, first, offset);
            RandomAccess.Write(Handle, second, offset + first.Length);
            return;
        }

        Posix.WriteGather(Handle, first, second, offset, Path);
    }

    /// <summary>Writes <paramref name="count"/> zero bytes at <paramref name="offset"/> (pwrite, in 64 KiB pieces).</summary>
    public void WriteZeros(long offset, long count)
    {
        _relief?.Faults.Check(StorageOperation.Write, Path);
        Span<byte> zeros = stackalloc byte[4096];
        zeros.Clear();
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, zeros.Length);
            RandomAccess.Write(Handle, zeros[..chunk], offset);
            offset += chunk;
            count -= chunk;
        }
    }

    /// <summary>The file's current length (fstat).</summary>
    public long FileLength => RandomAccess.GetLength(Handle);

    /// <summary>ftruncate(2). Callers never cut below a byte a reader may hold.</summary>
    public void SetFileLength(long length) => RandomAccess.SetLength(Handle, length);

    /// <summary>
    /// fsync(2) of the file (data and metadata), through the writer's descriptor when it is open,
    /// else through one opened for the call (fsync covers every write to the file, whichever
    /// descriptor made it).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public void FlushToDisk()
    {
        _relief?.Faults.Check(StorageOperation.Flush, Path);
        SafeFileHandle? handle;
        bool added = false;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            handle = _handle;
            handle?.DangerousAddRef(ref added); // a CloseDescriptor meanwhile defers the close(2)
        }

        if (handle is not null)
        {
            try
            {
                Posix.FsyncFile(handle, Path);
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }

            return;
        }

        using SafeFileHandle transient = OpenTransient();
        Posix.FsyncFile(transient, Path);
    }

    /// <summary>A descriptor for one call (mmap, fsync), with the same relief on a reached limit as <see cref="Open"/>.</summary>
    private SafeFileHandle OpenTransient()
    {
        try
        {
            _relief?.Faults.Check(StorageOperation.Open, Path);
            return Posix.OpenFile(Path, create: false, out _);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            RelieveOrThrow(e, "opened");
        }

        try
        {
            return Posix.OpenFile(Path, create: false, out _);
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            throw Limit(e, "opened");
        }
    }

    private SafeFileHandle Handle => Volatile.Read(ref _handle) ?? throw new InvalidOperationException($"{Path} is not open.");

    /// <summary>The open file behind the mapping (null once closed), for sendfile of bytes a lease holds.</summary>
    internal SafeFileHandle? OpenHandle => Volatile.Read(ref _handle);

    /// <summary>The whole mapping (made now if not yet). Valid until <see cref="Close"/>. Read only.</summary>
    /// <exception cref="StorageLimitException">The process's descriptor or mapping limit is reached and
    /// closing idle segments did not help.</exception>
    /// <exception cref="IOException">mmap failed otherwise.</exception>
    public override Span<byte> GetSpan()
    {
        byte* pointer = (byte*)Volatile.Read(ref _address);
        if (pointer == null && MapLength > 0)
        {
            pointer = Map();
        }

        return new Span<byte>(pointer, MapLength);
    }

    /// <summary>Bytes [<paramref name="start"/>, start + length) of the mapping; bounds checked.</summary>
    public ReadOnlySpan<byte> Slice(int start, int length) => GetSpan().Slice(start, length);

    private byte* Map()
    {
        try
        {
            return MapOnce();
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            RelieveOrThrow(e, "mapped");
        }

        try
        {
            return MapOnce();
        }
        catch (IOException e) when (e is not StorageLimitException && Posix.IsResourceExhaustion(e))
        {
            throw Limit(e, "mapped");
        }
    }

    private byte* MapOnce()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_address != 0)
            {
                return (byte*)_address;
            }

            _relief?.Faults.Check(StorageOperation.Map, Path);
            byte* pointer;
            if (OperatingSystem.IsLinux())
            {
                if (_handle is not null)
                {
                    pointer = Posix.MapReadOnly(_handle, MapLength, Path);
                }
                else
                {
                    // No writer's descriptor: one just for the mmap(2) call; the mapping outlives it.
                    _relief?.Faults.Check(StorageOperation.Open, Path);
                    using SafeFileHandle transient = Posix.OpenFile(Path, create: false, out _);
                    pointer = Posix.MapReadOnly(transient, MapLength, Path);
                }
            }
            else
            {
                if (_handle is null)
                {
                    _ = OpenOnce(create: false);
                }

                // Elsewhere .NET's mapping extends the file to the mapped length (a zero tail recovery ignores).
                _fallbackMap = MemoryMappedFile.CreateFromFile(_handle!, null, MapLength, MemoryMappedFileAccess.ReadWrite,
                    HandleInheritability.None, leaveOpen: true);
                _fallbackView = _fallbackMap.CreateViewAccessor(0, MapLength, MemoryMappedFileAccess.Read);
                pointer = null;
                _fallbackView.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
                pointer += _fallbackView.PointerOffset;
            }

            Interlocked.Increment(ref _mappings);
            Volatile.Write(ref _address, (nint)pointer);
            return pointer;
        }
    }

    public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)GetSpan().GetPinnableReference() + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        // Lifetime belongs to the owning SegmentFiles' lease count; see Close.
    }

    /// <summary>Unmaps and closes the file. The caller guarantees no one uses the memory any more.</summary>
    public void Close()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            if (_address != 0)
            {
                if (_fallbackView is not null)
                {
                    _fallbackView.SafeMemoryMappedViewHandle.ReleasePointer();
                    _fallbackView.Dispose();
                    _fallbackMap!.Dispose();
                }
                else
                {
                    Posix.Unmap((byte*)_address, MapLength);
                }

                _address = 0;
                Interlocked.Decrement(ref _mappings);
            }

            CloseHandleLocked();
        }
    }
}
