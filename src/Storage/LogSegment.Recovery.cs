using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>Opening a segment: the trusted load from its indexes, or the full recovery scan that rebuilds them.</summary>
internal sealed partial class LogSegment
{
    /// <summary>
    /// Trusted open (clean shutdown, or below the recovery point): checks the indexes, then walks
    /// and verifies only the batches after the last offset-index entry. False when an index is not
    /// sane; the caller then rebuilds.
    /// </summary>
    private bool TryLoadFromIndexes(SegmentFiles files, int extent)
    {
        if (!_index.IsSane(files.Index, extent))
        {
            return false;
        }

        _timeIndex.LoadLast(files.TimeIndex);
        int start = _index.Entries == 0 ? 0 : _index.Read(files.Index, _index.Entries - 1).Position;
        if (_index.Entries > 0)
        {
            (long ts, int relative) = _timeIndex.Last ?? (-1, 0);
            _maxTimestamp = ts;
            _offsetOfMaxTimestamp = ts < 0 ? -1 : BaseOffset + relative;
        }

        _bytesSinceIndexEntry = 0;
        int end = Scan(files, start, extent, rebuildIndexes: false);
        if (end == start && start > 0)
        {
            return false; // the batch the index points at is bad: do not trust anything here
        }

        if (!_timeIndex.IsSane(files.TimeIndex, _nextOffset - BaseOffset))
        {
            return false;
        }

        _size = end;
        return true;
    }

    /// <summary>Full recovery scan from position 0 at open (no reader yet): indexes cut to nothing and rewritten.</summary>
    private void RebuildAtOpen(SegmentFiles files, int extent)
    {
        ResetState();
        foreach ((MappedFile file, bool exists) in new[] { (files.Index, _indexExists), (files.TimeIndex, _timeIndexExists) })
        {
            if (exists)
            {
                _ = file.Open(create: false);
                file.SetFileLength(0);
            }
        }

        _index.AllowGrowth(_config.SegmentIndexBytes);
        _timeIndex.AllowGrowth(_config.SegmentIndexBytes);
        _size = Scan(files, 0, extent, rebuildIndexes: true);
    }

    private void ResetState()
    {
        _indexingStopped = false;
        _indexFailure = null;
        _index.Reset();
        _timeIndex.Reset();
        _maxTimestamp = -1;
        _offsetOfMaxTimestamp = -1;
        _bytesSinceIndexEntry = 0;
        _nextOffset = BaseOffset;
    }

    /// <summary>
    /// Walks batches from <paramref name="position"/> up to <paramref name="extent"/>, validating
    /// each (lengths, magic, record count, CRC, offsets increasing), and stops at the first bad one.
    /// Returns the end of the last good batch.
    /// </summary>
    private int Scan(SegmentFiles files, int position, int extent, bool rebuildIndexes)
    {
        if (extent == 0)
        {
            return 0;
        }

        ReadOnlySpan<byte> log = files.Log.GetSpan()[..extent];
        long expectedMinimum = position == 0 ? BaseOffset : BinaryPrimitives.ReadInt64BigEndian(log[position..]);
        while (position < log.Length)
        {
            if (RecordBatch.Validate(log[position..], out RecordBatchHeader header, out int size) != BatchValidation.Valid ||
                header.BaseOffset < expectedMinimum || !CanIndex(header.LastOffset))
            {
                break;
            }

            if (rebuildIndexes)
            {
                IndexBatch(files, position, header.BaseOffset, header.LastOffsetDelta, header.MaxTimestamp, size);
            }
            else
            {
                if (header.MaxTimestamp > _maxTimestamp)
                {
                    _maxTimestamp = header.MaxTimestamp;
                    _offsetOfMaxTimestamp = header.BaseOffset;
                }

                _bytesSinceIndexEntry += size;
                _nextOffset = header.LastOffset + 1;
            }

            expectedMinimum = header.LastOffset + 1;
            position += size;
        }

        return position;
    }

    /// <summary>
    /// Cuts the file at the last good batch after a recovery truncation and fsyncs it, so the
    /// discarded tail can never reappear after later appends and a second crash. Runs at open,
    /// before any reader.
    /// </summary>
    private void DiscardTail(SegmentFiles files)
    {
        _ = files.Log.Open(create: false);
        files.Log.SetFileLength(_size);
        files.Log.FlushToDisk();
    }
}
