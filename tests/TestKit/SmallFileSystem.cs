using System.Diagnostics;

namespace LogBroker.TestKit;

/// <summary>
/// A small real file system mounted for one test (tests run as root): tmpfs, or an ext4 image on a
/// loop device (the case that matters in production: delayed allocation, ENOSPC in page_mkwrite).
/// Unmounted and removed on dispose. <see cref="TryMount"/> says why where mounting is impossible (not
/// root, no mount command), so that the test can skip with that reason.
/// </summary>
public sealed class SmallFileSystem : IDisposable
{
    private readonly string _root;
    private readonly string? _image;

    private SmallFileSystem(string root, string path, string? image)
    {
        _root = root;
        Path = path;
        _image = image;
    }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>
    /// Mounts a tmpfs of <paramref name="megabytes"/> MiB, or (<paramref name="ext4"/>) a loop-mounted ext4
    /// image that size; null, with <paramref name="whyNot"/>, where that is impossible.
    /// </summary>
    public static SmallFileSystem? TryMount(string prefix, int megabytes, bool ext4, out string whyNot)
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            whyNot = $"Mounting a small file system needs Linux and root (running as {Environment.UserName}).";
            return null;
        }

        string root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "logbroker-mounts", $"{prefix}-{Guid.NewGuid():N}");
        string path = System.IO.Path.Combine(root, "mnt");
        Directory.CreateDirectory(path);
        string? image = null;
        string error;
        if (ext4)
        {
            image = System.IO.Path.Combine(root, "disk.img");
            using (var file = new FileStream(image, FileMode.CreateNew))
            {
                file.SetLength(megabytes * 1024L * 1024);
            }

            error = Run("mkfs.ext4", "-q", "-F", image);
            if (error.Length == 0)
            {
                error = Run("mount", "-o", "loop", image, path);
            }
        }
        else
        {
            error = Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path);
        }

        if (error.Length > 0)
        {
            Directory.Delete(root, recursive: true);
            whyNot = $"Could not mount a {(ext4 ? "loop ext4" : "tmpfs")} file system: {error}";
            return null;
        }

        whyNot = "";
        return new SmallFileSystem(root, path, image);
    }

    /// <summary>Writes a file until the file system is full (ENOSPC), down to the last byte it takes.</summary>
    public string Fill(string name = "filler")
    {
        string filler = System.IO.Path.Combine(Path, name);
        using var file = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        byte[] chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)0x5A);
        foreach (int size in (int[])[64 * 1024, 4096, 512, 1])
        {
            while (true)
            {
                try
                {
                    file.Write(chunk, 0, size);
                }
                catch (IOException)
                {
                    break;
                }
            }
        }

        return filler;
    }

    public void Dispose()
    {
        // Lazy unmount: a test that failed may still hold a file open.
        _ = Run("umount", "-l", Path);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.KeepAlive(_image);
    }

    private static string Run(string command, params string[] arguments)
    {
        try
        {
            var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using Process process = Process.Start(start)!;
            string stderr = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? "" : $"{command} exited {process.ExitCode}: {stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{command}: {e.Message}";
        }
    }
}
