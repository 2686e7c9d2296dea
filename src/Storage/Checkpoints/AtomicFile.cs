using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Checkpoints;

/// <summary>Replaces a small file so that after a crash it is either the old or the new content.</summary>
public static class AtomicFile
{
    /// <summary>Writes <c>path.tmp</c>, fsyncs it, renames it over <paramref name="path"/> and fsyncs the directory.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(content);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        Posix.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }
}
