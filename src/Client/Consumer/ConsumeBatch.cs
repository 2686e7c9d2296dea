using System.Text;
using LogBroker.Client.Network;
using LogBroker.Protocol.Primitives;
using LogBroker.Protocol.Records;

namespace LogBroker.Client.Consumer;

/// <summary>
/// The records of one partition from one fetch, in offset order. Enumerate it with <c>foreach</c> for
/// zero-copy <see cref="ConsumedRecord"/> views, or call <see cref="ToList"/> for owned copies. The views
/// (and the batch) are valid until the consumer is asked for its next batch.
/// </summary>
public sealed class ConsumeBatch
{
    private readonly List<Segment> _segments = [];
    private readonly List<PooledBufferWriter> _decompressed = [];
    private ResponseFrame? _frame;
    private long _startOffset;

    internal ConsumeBatch(TopicPartition partition) => Partition = partition;

    /// <summary>The partition the records come from.</summary>
    public TopicPartition Partition { get; }

    /// <summary>The number of records in the batch.</summary>
    public int Count { get; private set; }

    /// <summary>The offset of the first record.</summary>
    public long FirstOffset { get; private set; } = -1;

    /// <summary>The offset of the last record.</summary>
    public long LastOffset { get; private set; } = -1;

    /// <summary>The partition's high watermark when fetched (the offset the next produced record gets).</summary>
    public long HighWatermark { get; internal set; }

    /// <summary>Records the application has not consumed yet in this partition after this batch (lag).</summary>
    public long Lag => Math.Max(0, HighWatermark - LastOffset - 1);

    internal int Epoch { get; init; }

    internal long Bytes { get; private set; }

    internal long NextFetchOffset { get; private set; }

    /// <summary>Returns an enumerator of the records.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Copies the records into owned objects (one allocation per record).</summary>
    public List<ConsumeRecord> ToList()
    {
        var list = new List<ConsumeRecord>(Count);
        foreach (ConsumedRecord r in this)
        {
            list.Add(r.ToRecord());
        }

        return list;
    }

    internal void Start(ResponseFrame frame, long startOffset)
    {
        _frame = frame;
        frame.AddReference();
        _startOffset = startOffset;
        NextFetchOffset = startOffset;
    }

    /// <summary>
    /// Adds the record batches of a fetch response's partition data. Stops quietly at a partial batch at
    /// the end; returns false when a batch is corrupt or cannot be decompressed.
    /// </summary>
    internal bool AddBatches(ReadOnlyMemory<byte> records, bool checkCrc, int maxDecompressedBytes)
    {
        while (records.Length >= RecordBatch.HeaderSize)
        {
            if (!RecordBatch.TryReadSize(records.Span, out int size) || size > records.Length)
            {
                break; // a partial batch at the end of the response: fetched again next time
            }

            ReadOnlyMemory<byte> batch = records[..size];
            records = records[size..];
            RecordBatchHeader header;
            if (checkCrc)
            {
                if (RecordBatch.Validate(batch.Span, out header, out _) != BatchValidation.Valid)
                {
                    return false;
                }
            }
            else
            {
                header = RecordBatchHeader.Read(batch.Span);
                if (header.Magic != RecordBatch.CurrentMagic || header.RecordCount < 0)
                {
                    return false;
                }
            }

            long last = header.LastOffset;
            if (last < _startOffset)
            {
                continue; // wholly before the position (a compressed batch fetched from its middle)
            }

            NextFetchOffset = Math.Max(NextFetchOffset, last + 1);
            if (header.IsControl || header.RecordCount == 0)
            {
                continue;
            }

            ReadOnlyMemory<byte> body = batch[RecordBatch.HeaderSize..];
            if (header.Compression != CompressionType.None)
            {
                var output = new PooledBufferWriter(Math.Max(body.Length * 4, 4096));
                _decompressed.Add(output); // returned to the pool by Release, also when decompression fails
                if (!Compression.CompressionCodecs.TryDecompress(header.Compression, body.Span, output, maxDecompressedBytes, out _))
                {
                    return false;
                }

                body = output.WrittenMemory;
            }

            var segment = new Segment(body, header.BaseOffset, header.BaseTimestamp, header.IsLogAppendTime ? header.MaxTimestamp : -1);
            int count = 0;
            long first = -1;
            long lastSeen = -1;
            var reader = new RecordReader(body.Span);
            while (reader.TryRead(out RecordView r))
            {
                long offset = header.BaseOffset + r.OffsetDelta;
                if (offset >= _startOffset)
                {
                    count++;
                    if (first < 0)
                    {
                        first = offset;
                    }

                    lastSeen = offset;
                }
            }

            if (reader.IsMalformed)
            {
                return false;
            }

            if (count > 0)
            {
                _segments.Add(segment);
                Count += count;
                if (FirstOffset < 0)
                {
                    FirstOffset = first;
                }

                LastOffset = lastSeen;
            }

            Bytes += size;
        }

        return true;
    }

    internal void Release()
    {
        foreach (PooledBufferWriter b in _decompressed)
        {
            b.Dispose();
        }

        _decompressed.Clear();
        _segments.Clear();
        Interlocked.Exchange(ref _frame, null)?.Dispose();
    }

    private readonly record struct Segment(ReadOnlyMemory<byte> Records, long BaseOffset, long BaseTimestamp, long LogAppendTime);

    /// <summary>Enumerates the records of a <see cref="ConsumeBatch"/>.</summary>
    public ref struct Enumerator
    {
        private readonly ConsumeBatch _batch;
        private int _segment;
        private RecordReader _reader;
        private ConsumedRecord _current;

        internal Enumerator(ConsumeBatch batch)
        {
            _batch = batch;
            _segment = -1;
        }

        /// <summary>The current record.</summary>
        public readonly ConsumedRecord Current => _current;

        /// <summary>Moves to the next record.</summary>
        public bool MoveNext()
        {
            while (true)
            {
                if (_segment >= 0)
                {
                    Segment s = _batch._segments[_segment];
                    while (_reader.TryRead(out RecordView r))
                    {
                        long offset = s.BaseOffset + r.OffsetDelta;
                        if (offset < _batch._startOffset)
                        {
                            continue;
                        }

                        long timestamp = s.LogAppendTime >= 0 ? s.LogAppendTime : s.BaseTimestamp + r.TimestampDelta;
                        _current = new ConsumedRecord(_batch.Partition, offset, timestamp, r);
                        return true;
                    }
                }

                if (++_segment >= _batch._segments.Count)
                {
                    return false;
                }

                _reader = new RecordReader(_batch._segments[_segment].Records.Span);
            }
        }
    }
}

/// <summary>A record viewed in place inside its <see cref="ConsumeBatch"/> (valid while the batch is).</summary>
public readonly ref struct ConsumedRecord
{
    private readonly RecordView _view;

    internal ConsumedRecord(TopicPartition partition, long offset, long timestamp, RecordView view)
    {
        Partition = partition;
        Offset = offset;
        Timestamp = timestamp;
        _view = view;
    }

    /// <summary>The partition.</summary>
    public TopicPartition Partition { get; }

    /// <summary>The record's offset.</summary>
    public long Offset { get; }

    /// <summary>The record's timestamp in Unix milliseconds.</summary>
    public long Timestamp { get; }

    /// <summary>The key bytes (empty when null; see <see cref="KeyIsNull"/>).</summary>
    public ReadOnlySpan<byte> Key => _view.Key;

    /// <summary>True when the key is null.</summary>
    public bool KeyIsNull => _view.KeyIsNull;

    /// <summary>The value bytes (empty when null; see <see cref="ValueIsNull"/>).</summary>
    public ReadOnlySpan<byte> Value => _view.Value;

    /// <summary>True when the value is null.</summary>
    public bool ValueIsNull => _view.ValueIsNull;

    /// <summary>The number of headers.</summary>
    public int HeaderCount => _view.HeaderCount;

    /// <summary>Decodes the headers (allocates).</summary>
    public List<RecordHeader> ReadHeaders()
    {
        var headers = new List<RecordHeader>(_view.HeaderCount);
        ReadOnlySpan<byte> span = _view.Headers;
        for (int i = 0; i < _view.HeaderCount; i++)
        {
            if (!VarInt.TryReadInt32(span, out int keyLength, out int n) || keyLength < 0 || keyLength > span.Length - n)
            {
                break;
            }

            string key = Encoding.UTF8.GetString(span.Slice(n, keyLength));
            span = span[(n + keyLength)..];
            if (!VarInt.TryReadInt32(span, out int valueLength, out n) || valueLength < -1 || valueLength > span.Length - n)
            {
                break;
            }

            headers.Add(new RecordHeader(key, valueLength < 0 ? (ReadOnlyMemory<byte>?)null : span.Slice(n, valueLength).ToArray()));
            span = span[(n + Math.Max(valueLength, 0))..];
        }

        return headers;
    }

    /// <summary>Copies the record into an owned <see cref="ConsumeRecord"/>.</summary>
    public ConsumeRecord ToRecord() => new(Partition, Offset, Timestamp,
        KeyIsNull ? null : Key.ToArray(), ValueIsNull ? null : Value.ToArray(), HeaderCount == 0 ? [] : ReadHeaders());
}

/// <summary>A consumed record with its own copies of key, value and headers.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Offset">The offset.</param>
/// <param name="Timestamp">The timestamp in Unix milliseconds.</param>
/// <param name="Key">The key, or null.</param>
/// <param name="Value">The value, or null.</param>
/// <param name="Headers">The headers.</param>
public sealed record ConsumeRecord(TopicPartition Partition, long Offset, long Timestamp, byte[]? Key, byte[]? Value, IReadOnlyList<RecordHeader> Headers);
