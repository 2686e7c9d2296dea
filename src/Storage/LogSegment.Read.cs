using System.Buffers.Binary;
using LogBroker.Protocol.Records;
using LogBroker.Storage.Internal;

namespace LogBroker.Storage;

/// <summary>Lookups in a segment under a lease: a batch by offset, the extent of whole batches, a record by timestamp.</summary>
internal sealed partial class LogSegment
{
    /// <summary>
    /// Position of the first batch whose last offset is ≥ <paramref name="offset"/>; -1 when every
    /// batch is older; -2 when a stored batch length is impossible (corruption: the walk stops
    /// instead of looping, M8). Caller: a lease on <paramref name="files"/>.
    /// </summary>
    public int FindPosition(SegmentFiles files, long offset)
    {
        int size = Size;
        if (size == 0)
        {
            return -1;
        }

        int position = offset <= BaseOffset || _index.Entries == 0
            ? 0
            : _index.Lookup(files.Index, (int)Math.Min(offset - BaseOffset, int.MaxValue)).Position;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        while (position <= size - RecordBatch.HeaderSize)
        {
            ReadOnlySpan<byte> header = log[position..];
            long baseOffset = BinaryPrimitives.ReadInt64BigEndian(header);
            int lastDelta = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LastOffsetDeltaOffset..]);
            int length = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatch.LengthOffset..]);
            if (length < RecordBatch.MinBatchLength || length > size - position - RecordBatch.LogOverhead)
            {
                return -2;
            }

            if (baseOffset + lastDelta >= offset)
            {
                return position;
            }

            position += length + RecordBatch.LogOverhead;
        }

        return -1;
    }

    /// <summary>
    /// Length of the whole batches starting at <paramref name="position"/> that fit in
    /// <paramref name="maxBytes"/> — at least the first batch, even when it alone is larger; -1
    /// when the first stored length is impossible (a later impossible length ends the run there).
    /// </summary>
    public int LengthOfBatches(SegmentFiles files, int position, int maxBytes)
    {
        int size = Size;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        int end = position;
        while (end <= size - RecordBatch.LogOverhead)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(log[(end + RecordBatch.LengthOffset)..]);
            if (length < RecordBatch.MinBatchLength || length > size - end - RecordBatch.LogOverhead)
            {
                return end == position ? -1 : end - position;
            }

            int batchSize = length + RecordBatch.LogOverhead;
            if (end > position && end - position + batchSize > maxBytes)
            {
                break;
            }

            end += batchSize;
        }

        return end - position;
    }

    /// <summary>
    /// The first record whose timestamp is ≥ <paramref name="timestamp"/>, as (offset, timestamp), or
    /// null when every batch here is older (or a stored length is impossible).
    /// </summary>
    /// <remarks>
    /// Batches are found by their max timestamp. Inside an uncompressed CreateTime batch the exact
    /// record is found. Inside a compressed batch whose first record is older than the target the
    /// records are not decompressed: the batch's base offset and max timestamp are returned, so a
    /// consumer starting there re-reads at most the older records of that one batch, never misses one.
    /// </remarks>
    public (long Offset, long Timestamp)? FindByTimestamp(SegmentFiles files, long timestamp)
    {
        if (MaxTimestamp < timestamp)
        {
            return null;
        }

        int size = Size;
        int position = _timeIndex.Entries > 0 && _timeIndex.LookupBefore(files.TimeIndex, timestamp) is { } entry
            ? (_index.Entries > 0 ? _index.Lookup(files.Index, entry.RelativeOffset).Position : 0)
            : 0;
        ReadOnlySpan<byte> log = files.Log.GetSpan()[..size];
        while (position <= size - RecordBatch.HeaderSize)
        {
            RecordBatchHeader header = RecordBatchHeader.Read(log[position..]);
            if (header.BatchLength < RecordBatch.MinBatchLength || header.BatchLength > size - position - RecordBatch.LogOverhead)
            {
                return null;
            }

            if (header.MaxTimestamp >= timestamp)
            {
                return FindInBatch(log.Slice(position, header.TotalSize), header, timestamp);
            }

            position += header.TotalSize;
        }

        return null;
    }

    private static (long Offset, long Timestamp) FindInBatch(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long timestamp)
    {
        if (header.IsLogAppendTime)
        {
            return (header.BaseOffset, header.MaxTimestamp);
        }

        if (header.BaseTimestamp >= timestamp)
        {
            return (header.BaseOffset, header.BaseTimestamp);
        }

        if (header.Compression == CompressionType.None)
        {
            var reader = new RecordReader(batch[RecordBatch.HeaderSize..]);
            while (reader.TryRead(out RecordView record))
            {
                if (header.BaseTimestamp + record.TimestampDelta >= timestamp)
                {
                    return (header.BaseOffset + record.OffsetDelta, header.BaseTimestamp + record.TimestampDelta);
                }
            }
        }

        return (header.BaseOffset, header.MaxTimestamp);
    }
}
