namespace LogBroker.Storage.Internal;

/// <summary>
/// A file of real (allocated) zeros kept in the data directory, given back a piece at a time when
/// a small metadata write (checkpoints, topic metadata, the clean-shutdown marker) hits a full disk,
/// so that a broker on a full disk can still start, checkpoint and shut down cleanly. Refilled when
/// space returns.
/// </summary>
internal static class ReservedSpace
{
    public const string FileName = ".reserved-space";

    /// <summary>Grows the reserve of <paramref name="directory"/> to <paramref name="bytes"/> (fallocate, or written zeros where unsupported). Best effort.</summary>
    public static void Ensure(string directory, long bytes)
    {
        string path = Path.Combine(directory, FileName);
        try
        {
            using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
            if (file.Length > bytes)
            {
                file.SetLength(bytes);
                return;
            }

            long length = file.Length;
            if (length == bytes || Posix.Allocate(file.SafeFileHandle, length, bytes - length) == 0)
            {
                return;
            }

            byte[] zeros = new byte[64 * 1024];
            while (length < bytes)
            {
                int chunk = (int)Math.Min(zeros.Length, bytes - length);
                RandomAccess.Write(file.SafeFileHandle, zeros.AsSpan(0, chunk), length);
                length += chunk;
            }
        }
        catch (IOException)
        {
            // A full disk: keep whatever part of the reserve is there; a later call tops it up.
        }
    }

    /// <summary>Gives back at least <paramref name="bytes"/> of the reserve of <paramref name="directory"/>; false when it is empty or missing.</summary>
    public static bool TryRelease(string directory, long bytes)
    {
        string path = Path.Combine(directory, FileName);
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
            long length = file.Length;
            if (length == 0)
            {
                return false;
            }

            file.SetLength(Math.Max(0, length - Math.Max(bytes, 64 * 1024)));
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
