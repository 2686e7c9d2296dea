using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>The writer's side of a segment (the partition's append lock): append and index, truncate, seal, flush.</summary>
internal sealed partial class LogSegment
{
    /// <summary>
    /// Writes a validated batch after the current data: pwrite of the first 16 bytes with the
    /// broker-owned base offset and leader epoch set, then pwrite of the rest; then indexes it.
    /// Caller: the append lock, <see cref="CanFit"/> true.
    /// </summary>
    /// <returns>Null, or the error of an index write that failed after the batch itself was stored:
    /// the batch is appended (an index is sparse), and the caller fails the partition for later appends.</returns>
    /// <exception cref="IOException">The batch could not be written; nothing is published.</exception>
    public IOException? Append(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long baseOffset, int leaderEpoch)
    {
        SegmentFiles files = AcquireForWrite();
        try
        {
            if (files.Log.Open(create: true))
            {
                Volatile.Write(ref _createdFiles, 1);
            }

            int position = _size;
            Span<byte> owned = stackalloc byte[RecordBatch.MagicOffset];
            batch[..RecordBatch.MagicOffset].CopyTo(owned);
            RecordBatch.SetBaseOffset(owned, baseOffset);
            RecordBatch.SetPartitionLeaderEpoch(owned, leaderEpoch);
            _logExists = true;
            try
            {
                // One pwritev(2) of both pieces: at thousands of active partitions every batch is
                // small and the syscall, not the copy, is the cost.
                files.Log.Write(position, owned, batch[RecordBatch.MagicOffset..]);
            }
            catch (IOException)
            {
                _logFileLength = long.MaxValue; // a partial write may have grown the file: look before trimming
                throw;
            }

            _logFileLength = Math.Max(_logFileLength, position + batch.Length);
            IndexBatch(files, position, baseOffset, header.LastOffsetDelta, header.MaxTimestamp, batch.Length);
            int size = position + batch.Length;
            _largestSize = Math.Max(_largestSize, size);
            Volatile.Write(ref _size, size);
            return Interlocked.Exchange(ref _indexFailure, null);
        }
        finally
        {
            GiveBackIndexDescriptors(files, always: false);
            files.Release();
        }
    }

    /// <summary>
    /// Closes the indexes' descriptors (their mappings stay) when the writers hold more than the
    /// cache's budget, or <paramref name="always"/> (a sealed segment is not written again): so that
    /// thousands of active partitions keep only their logs' descriptors open.
    /// </summary>
    private void GiveBackIndexDescriptors(SegmentFiles files, bool always)
    {
        if (always || _cache.IndexDescriptorsOverBudget)
        {
            if (files.Index.HasDescriptor)
            {
                files.Index.CloseDescriptor();
            }

            if (files.TimeIndex.HasDescriptor)
            {
                files.TimeIndex.CloseDescriptor();
            }
        }
    }

    /// <summary>
    /// Makes a sealed segment the active one again (a truncation into it): it may grow to
    /// segment.bytes and its indexes too. Caller: the append lock.
    /// </summary>
    public void Unseal()
    {
        if (!IsSealed)
        {
            return;
        }

        IsSealed = false;
        _capacity = Math.Max(_config.SegmentBytes, Size);
        _index.AllowGrowth(_config.SegmentIndexBytes);
        _timeIndex.AllowGrowth(_config.SegmentIndexBytes);
        DropFiles(); // the next lease maps the larger capacity
    }

    /// <summary>
    /// Removes every batch at or after <paramref name="position"/>: zeroes their bytes with pwrite
    /// (so recovery cannot resurrect them; the file is not shrunk under readers) and rewrites the
    /// index entries that remain, zeroing the dropped ones. Readers still holding those bytes see
    /// zeros. Caller: the append lock, on an active segment.
    /// </summary>
    public void TruncateTo(int position)
    {
        int oldSize = Size;
        if (position >= oldSize)
        {
            return;
        }

        SegmentFiles files = AcquireForWrite();
        try
        {
            _ = files.Log.Open(create: false);
            Volatile.Write(ref _size, position);
            files.Log.WriteZeros(position, oldSize - position);
            int oldEntries = _index.Entries, oldTimeEntries = _timeIndex.Entries;

            // Rebuilding rewrites the surviving entries with the same values, so a concurrent lookup
            // sees either the old entry, the same new one, or none (and scans from the start).
            ResetState();
            int end = Scan(files, 0, position, rebuildIndexes: true);
            if (end != position)
            {
                throw new InvalidOperationException($"Segment {BaseOffset}: stored batches failed validation during truncation.");
            }

            if (_index.Entries < oldEntries)
            {
                _ = files.Index.Open(create: false);
                files.Index.WriteZeros(_index.BytesFor(_index.Entries), _index.BytesFor(oldEntries - _index.Entries));
            }

            if (_timeIndex.Entries < oldTimeEntries)
            {
                _ = files.TimeIndex.Open(create: false);
                files.TimeIndex.WriteZeros(_timeIndex.BytesFor(_timeIndex.Entries), _timeIndex.BytesFor(oldTimeEntries - _timeIndex.Entries));
            }
        }
        finally
        {
            GiveBackIndexDescriptors(files, always: false);
            files.Release();
        }
    }

    /// <summary>
    /// Seals the segment on roll or clean close: a last time-index entry, and the log cut to its
    /// size unless a larger size was published in this process (readers may hold it mapped).
    /// Caller: the append lock.
    /// </summary>
    public void Seal()
    {
        if (IsSealed)
        {
            return;
        }

        // A last time entry, for segments that have index entries at all (a small segment is walked
        // whole at open anyway; this keeps a partition of one record at one file).
        if (!IsEmpty && !_indexingStopped && _index.Entries > 0 && MaxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
        {
            SegmentFiles files = AcquireForWrite();
            try
            {
                if (files.TimeIndex.Open(create: true))
                {
                    Volatile.Write(ref _createdFiles, 1);
                }

                _timeIndexExists = true;
                _timeIndex.Append(files.TimeIndex, MaxTimestamp, (int)(OffsetOfMaxTimestamp - BaseOffset));
            }
            catch (IOException)
            {
                // Not needed for correctness: the open walks every batch after the last offset-index
                // entry, which covers whatever this entry would have said.
                _indexingStopped = true;
            }
            finally
            {
                GiveBackIndexDescriptors(files, always: true);
                files.Release();
            }
        }

        IsSealed = true;
        if (_logExists && _largestSize == Size && _logFileLength > Size)
        {
            SegmentFiles files = AcquireForWrite();
            try
            {
                _ = files.Log.Open(create: false);
                if (files.Log.FileLength > Size)
                {
                    files.Log.SetFileLength(Size);
                }

                _logFileLength = Size;
            }
            finally
            {
                files.Release();
            }
        }
    }

    /// <summary>fsync of the log and both indexes (those that exist).</summary>
    public void Flush()
    {
        if (!_logExists && !_indexExists && !_timeIndexExists)
        {
            return;
        }

        SegmentFiles files = AcquireForWrite();
        try
        {
            FlushFile(files.Log, _logExists);
            FlushFile(files.Index, _indexExists);
            FlushFile(files.TimeIndex, _timeIndexExists);
        }
        finally
        {
            files.Release();
        }
    }

    private static void FlushFile(MappedFile file, bool exists)
    {
        if (exists)
        {
            file.FlushToDisk(); // through the writer's descriptor, or one of its own
        }
    }

    private void IndexBatch(SegmentFiles files, int position, long baseOffset, int lastOffsetDelta, long maxTimestamp, int batchSize)
    {
        if (maxTimestamp > _maxTimestamp)
        {
            Volatile.Write(ref _maxTimestamp, maxTimestamp);
            Volatile.Write(ref _offsetOfMaxTimestamp, baseOffset);
        }

        if (position > 0 && _bytesSinceIndexEntry >= _config.IndexIntervalBytes && !_index.IsFull && !_indexingStopped)
        {
            // The time entry first: the offset index must never cover a batch whose timestamp the
            // time index (plus the walk after the last offset entry at open) does not account for.
            try
            {
                if (_maxTimestamp > (_timeIndex.Last?.Timestamp ?? long.MinValue) && !_timeIndex.IsFull)
                {
                    if (files.TimeIndex.Open(create: true))
                    {
                        Volatile.Write(ref _createdFiles, 1);
                    }

                    _timeIndexExists = true;
                    _timeIndex.Append(files.TimeIndex, _maxTimestamp, (int)(_offsetOfMaxTimestamp - BaseOffset));
                }

                if (files.Index.Open(create: true))
                {
                    Volatile.Write(ref _createdFiles, 1);
                }

                _indexExists = true;
                _index.Append(files.Index, (int)(baseOffset - BaseOffset), position);
            }
            catch (StorageLimitException)
            {
                // No descriptor for an index file just now: this entry is skipped (an index is sparse;
                // an offset entry is only written after its time entry), and the next batch past the
                // interval tries again. Not a failure of the partition.
            }
            catch (IOException e)
            {
                // A full disk. The indexes are sparse caches: what they hold stays valid, this
                // segment just gets no more entries (lookups walk further), and the caller learns
                // of the failure to refuse later appends. A torn entry fails the check at next open.
                _indexingStopped = true;
                _indexFailure ??= e;
            }

            _bytesSinceIndexEntry = 0;
        }

        _bytesSinceIndexEntry += batchSize;
        Volatile.Write(ref _nextOffset, baseOffset + lastOffsetDelta + 1);
    }
}
