using LogBroker.Storage.Internal;

namespace LogBroker.Storage.Checkpoints;

/// <summary>Replaces a small file so that after a crash it is either the old or the new content.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <c>path.tmp</c>, fsyncs it, renames it over <paramref name="path"/> and fsyncs the directory.
    /// On a full disk the temporary file is removed and, when the directory has a reserve of space
    /// (see the data directory's <c>.reserved-space</c>), part of it is given back and the write tried
    /// once more.
    /// </summary>
    /// <exception cref="IOException">The write failed (the old content is untouched).</exception>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            WriteOnce(path, content, directory);
        }
        catch (IOException) when (ReservedSpace.TryRelease(directory, content.Length + (64L * 1024)))
        {
            WriteOnce(path, content, directory);
        }
    }

    private static void WriteOnce(string path, ReadOnlySpan<byte> content, string directory)
    {
        string temporary = path + ".tmp";
        try
        {
            using var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None);
            file.Write(content);
            file.Flush(flushToDisk: true);
        }
        catch (IOException)
        {
            File.Delete(temporary); // a partial file would only hold on to the space
            throw;
        }

        File.Move(temporary, path, overwrite: true);
        Posix.FsyncDirectory(directory);
    }
}
