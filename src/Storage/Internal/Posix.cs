using System.Runtime.InteropServices;

namespace LogBroker.Storage.Internal;

/// <summary>The few POSIX calls .NET does not expose: fsync of a directory after a rename.</summary>
internal static partial class Posix
{
    private const int ORdonly = 0;
    private const int ODirectory = 0x10000; // Linux value of O_DIRECTORY

    /// <summary>
    /// Makes a directory's entries (created, renamed, deleted files) durable. A rename is only
    /// durable once its directory is fsynced. No-op on Windows, where NTFS journals metadata.
    /// </summary>
    public static void FsyncDirectory(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        int fd = Open(path, ORdonly | ODirectory);
        if (fd < 0)
        {
            throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
