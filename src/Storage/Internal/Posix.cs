using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace LogBroker.Storage.Internal;

/// <summary>
/// The few POSIX calls .NET does not expose: fsync of a directory after a rename, syncfs, and a
/// read-only shared mmap that may extend past the end of the file.
/// </summary>
internal static partial class Posix
{
    private const int ORdonly = 0;
    private const int ORdwr = 2;
    private const int OCreat = 0x40; // Linux values
    private const int OExcl = 0x80;
    private const int OCloexec = 0x80000;
    private const int CreateMode = 0x1B6; // 0666, less the umask, as .NET creates files
    private const int Enoent = 2;
    private const int Eperm = 1;
    private const int Eacces = 13;
    private const int Eexist = 17;
    private const int ODirectory = 0x10000; // Linux value of O_DIRECTORY
    private const int ProtRead = 1;
    private const int MapShared = 1;

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

        int fd = OpenDirectory(path);
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

    /// <summary>fsync(2) of an open file.</summary>
    public static void FsyncFile(SafeFileHandle file, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(file);
            return;
        }

        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            if (Fsync((int)file.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// syncfs(2) of the filesystem holding <paramref name="path"/>: every dirty page and inode of it
    /// written back in one call (Linux reports writeback errors since 5.8). False where unsupported,
    /// so the caller falls back to per-file fsyncs.
    /// </summary>
    public static bool TrySyncFileSystem(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        int fd = OpenDirectory(path);
        try
        {
            if (SyncFs(fd) != 0)
            {
                throw new IOException($"syncfs({path}) failed: errno {Marshal.GetLastPInvokeError()}");
            }

            return true;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// mmap(2) of <paramref name="length"/> bytes of <paramref name="file"/>, PROT_READ, MAP_SHARED.
    /// The length may exceed the file: those pages must not be touched until the file has grown
    /// over them (SIGBUS). Nothing can ever be stored through the mapping (SIGSEGV), so a full disk
    /// can never surface as a fault in a store. Linux only.
    /// </summary>
    public static unsafe byte* MapReadOnly(SafeFileHandle file, long length, string path)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            nint address = Mmap(0, (nuint)length, ProtRead, MapShared, (int)file.DangerousGetHandle(), 0);
            if (address == -1)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new IOException($"mmap({path}, {length}) failed: errno {errno}", errno);
            }

            return (byte*)address;
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// posix_fallocate(3): allocates [<paramref name="offset"/>, offset + length) of the file, so
    /// writes there cannot fail for lack of space. Returns 0 or the errno (EOPNOTSUPP where the file
    /// system cannot). Linux only; elsewhere returns EOPNOTSUPP.
    /// </summary>
    public static int Allocate(SafeFileHandle file, long offset, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 95;
        }

        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            return PosixFallocate((int)file.DangerousGetHandle(), offset, length);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> read-write with one open(2) — where <see cref="File.OpenHandle"/>
    /// also makes an lstat, an fstat, an fstatfs and an advisory flock, which cost as much as the
    /// write itself when thousands of partitions reopen their segments (the data directory is
    /// already held exclusively by its <c>.lock</c>). <paramref name="create"/> creates a missing
    /// file; <paramref name="created"/> says whether this call did. Linux only; elsewhere
    /// <see cref="File.OpenHandle"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">Missing and not <paramref name="create"/>.</exception>
    /// <exception cref="IOException">Any other failure; <see cref="Exception.HResult"/> is the errno.</exception>
    public static SafeFileHandle OpenFile(string path, bool create, out bool created)
    {
        created = false;
        if (!OperatingSystem.IsLinux())
        {
            created = create && !File.Exists(path);
            return File.OpenHandle(path, create ? FileMode.OpenOrCreate : FileMode.Open, FileAccess.ReadWrite,
                FileShare.ReadWrite | FileShare.Delete);
        }

        while (true)
        {
            int fd = Open(path, ORdwr | OCloexec, 0);
            if (fd >= 0)
            {
                return new SafeFileHandle(fd, ownsHandle: true);
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Enoent || !create)
            {
                throw OpenFailure(path, errno);
            }

            fd = Open(path, ORdwr | OCloexec | OCreat | OExcl, CreateMode);
            if (fd >= 0)
            {
                created = true;
                return new SafeFileHandle(fd, ownsHandle: true);
            }

            errno = Marshal.GetLastPInvokeError();
            if (errno != Eexist)
            {
                throw OpenFailure(path, errno);
            }

            // Created by someone else between the two calls: open it as it is.
        }
    }

    /// <summary>
    /// pwritev(2) of <paramref name="first"/> and <paramref name="second"/> back to back at
    /// <paramref name="offset"/>, repeated for a short write until both are written. Linux only.
    /// </summary>
    /// <exception cref="IOException">The write failed (ENOSPC, EIO, ...); <see cref="Exception.HResult"/> is the errno.
    /// Part of the bytes may have been written.</exception>
    public static unsafe void WriteGather(SafeFileHandle file, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, long offset, string path)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            int fd = (int)file.DangerousGetHandle();
            fixed (byte* a = first)
            fixed (byte* b = second)
            {
                long done = 0, total = (long)first.Length + second.Length;
                Span<IoVector> vectors = stackalloc IoVector[2];
                while (done < total)
                {
                    int count = 0;
                    if (done < first.Length)
                    {
                        vectors[count++] = new IoVector((nint)(a + done), (nuint)(first.Length - done));
                        vectors[count++] = new IoVector((nint)b, (nuint)second.Length);
                    }
                    else
                    {
                        long inSecond = done - first.Length;
                        vectors[count++] = new IoVector((nint)(b + inSecond), (nuint)(second.Length - inSecond));
                    }

                    nint written;
                    fixed (IoVector* v = vectors)
                    {
                        written = Pwritev(fd, v, count, offset + done);
                    }

                    if (written < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Eintr)
                        {
                            continue;
                        }

                        throw new IOException($"pwritev({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
                    }

                    if (written == 0)
                    {
                        throw new IOException($"pwritev({path}) wrote nothing.");
                    }

                    done += written;
                }
            }
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    private const int Eintr = 4;

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct IoVector(nint baseAddress, nuint length)
    {
        public readonly nint Base = baseAddress;
        public readonly nuint Length = length;
    }

    private static Exception OpenFailure(string path, int errno) => errno switch
    {
        Enoent => new FileNotFoundException($"Could not find file '{path}'.", path),
        Eacces or Eperm => new UnauthorizedAccessException($"Access to the path '{path}' is denied (errno {errno})."),
        Emfile or Enfile => new IOException($"Too many open files : '{path}' (errno {errno})", errno),
        _ => new IOException($"open({path}) failed: errno {errno}", errno),
    };

    /// <summary>errno EMFILE: the process's descriptor limit (RLIMIT_NOFILE) is reached.</summary>
    public const int Emfile = 24;

    /// <summary>errno ENFILE: the system's descriptor limit is reached.</summary>
    public const int Enfile = 23;

    /// <summary>errno ENOMEM: from mmap(2), the process's map count (vm.max_map_count) or address space is exhausted.</summary>
    public const int Enomem = 12;

    /// <summary>
    /// True when <paramref name="e"/> says the process ran out of descriptors (EMFILE, ENFILE) or of
    /// mappings (ENOMEM from <see cref="MapReadOnly"/>): a limit that closing idle files relieves,
    /// not a fault of the file. .NET carries the raw errno in <see cref="Exception.HResult"/> of the
    /// <see cref="IOException"/> it throws for these.
    /// </summary>
    public static bool IsResourceExhaustion(IOException e) => e.HResult is Emfile or Enfile or Enomem;

    /// <summary>The soft RLIMIT_NOFILE of this process (the most descriptors it may hold); null where unknown or unlimited.</summary>
    public static long? OpenFileLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Rlimit limit;
        if (GetRlimit(RlimitNofile, out limit) != 0 || limit.Current == ulong.MaxValue || limit.Current > long.MaxValue)
        {
            return null;
        }

        return (long)limit.Current;
    }

    /// <summary>vm.max_map_count (the most mappings a process may hold); null where unknown.</summary>
    public static long? MaxMapCount()
    {
        try
        {
            return OperatingSystem.IsLinux() && long.TryParse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(),
                System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long value)
                ? value
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>munmap(2) of a mapping made by <see cref="MapReadOnly"/>.</summary>
    public static unsafe void Unmap(byte* address, long length) => _ = Munmap((nint)address, (nuint)length);

    private static int OpenDirectory(string path)
    {
        int fd = Open(path, ORdonly | ODirectory);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string message = $"open({path}) failed: errno {errno}";
            throw errno is Emfile or Enfile ? new StorageLimitException(message + " (the process's open-file limit is reached)") : new IOException(message, errno);
        }

        return fd;
    }

    private const int RlimitNofile = 7; // Linux RLIMIT_NOFILE

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRlimit(int resource, out Rlimit limit);

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "posix_fallocate")]
    private static partial int PosixFallocate(int fd, long offset, long length);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "pwritev", SetLastError = true)]
    private static unsafe partial nint Pwritev(int fd, IoVector* vectors, int count, long offset);
}
