using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>
/// Where bytes handed out by <see cref="PartitionLog.Read"/> live in their segment file, so a plaintext
/// connection can send them with sendfile (page cache to socket) instead of writing them from the mapping.
/// </summary>
public static class StoredFileRegion
{
    /// <summary>
    /// The segment file's path and the position in it of <paramref name="bytes"/>, a slice of a
    /// <see cref="LogReadResult.Records"/>; false for any other memory or a closed file. The bytes at that
    /// position are the ones handed out while the read is held (not disposed); the path may be gone by the
    /// time it is opened (retention, deletion), so a caller must be ready to fall back to the bytes themselves.
    /// </summary>
    public static bool TryGet(ReadOnlyMemory<byte> bytes, [NotNullWhen(true)] out string? path, out long position)
    {
        // The mapping starts at file offset 0 (Posix.MapReadOnly), so the index into it is the file position.
        if (MemoryMarshal.TryGetMemoryManager(bytes, out MappedFile? mapped, out int start, out _) &&
            mapped.OpenHandle is { IsClosed: false })
        {
            path = mapped.Path;
            position = start;
            return true;
        }

        path = null;
        position = 0;
        return false;
    }
}
