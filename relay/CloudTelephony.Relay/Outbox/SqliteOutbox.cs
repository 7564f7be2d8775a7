using System.Text.Json;
using System.Threading.Channels;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Relay.Outbox;

/// <summary>
/// The durable outbox (DESIGN.md "Reliability rules"): a SQLite database in WAL mode. <see cref="AppendAsync(Envelope, CancellationToken)"/> returns
/// only after the frame's row is committed; the forwarder peeks batches in append order (<see cref="ReadBatchAsync"/>)
/// and rows are deleted only when it acknowledges them (<see cref="AcknowledgeAsync"/>, after the broker settled).
/// After a crash or restart the pending rows are read again from the oldest, so each PBX's frames are resent in order.
/// </summary>
/// <remarks>
/// One writer task owns the write connection: appends and deletes that are waiting at the same moment go into one
/// transaction (group commit, one WAL fsync for all of them with <c>synchronous=FULL</c>). The reader has its own
/// connection (WAL readers never block the writer). At <see cref="OutboxOptions.MaxFrames"/> appenders wait
/// (backpressure onto the PBX sockets) and an alarm is logged every minute and flagged in <see cref="RelayStatus"/>;
/// nothing is ever dropped.
/// </remarks>
public sealed class SqliteOutbox : IFrameSink, IFrameSource, IAsyncDisposable
{
    private static readonly TimeSpan AlarmInterval = TimeSpan.FromMinutes(1);
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _writer;
    private readonly SqliteConnection _reader;
    private readonly SqliteCommand _insert;
    private readonly SqliteParameter _insertPbx;
    private readonly SqliteParameter _insertBody;
    private readonly SqliteCommand _select;
    private readonly SqliteParameter _selectAfter;
    private readonly SqliteParameter _selectLimit;
    private readonly Task _writerLoop;
    private readonly ILogger _logger;
    private readonly RelayStatus? _status;
    private readonly TimeProvider _time;
    private readonly int _maxFrames;
    private readonly int _maxGroup;
    private readonly Lock _gate = new();
    private long _depth;
    private long _lastCommittedId;
    private long _after;
    private long _forwarded;
    private long _groupCommits;
    private bool _atCap;
    private DateTimeOffset _lastAlarm = DateTimeOffset.MinValue;
    private DateTimeOffset? _oldest;
    private TaskCompletionSource _dataSignal = NewSignal();
    private TaskCompletionSource _spaceSignal = NewSignal();
    private Batch? _pending;
    private int _disposed;

    /// <summary>Opens (or creates) the outbox at <see cref="OutboxOptions.ResolvePath"/> and starts its writer.</summary>
    public SqliteOutbox(OutboxOptions options, ILogger<SqliteOutbox>? logger = null, RelayStatus? status = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxGroupCommit, 1);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _status = status;
        _time = time ?? TimeProvider.System;
        _maxFrames = options.MaxFrames;
        _maxGroup = options.MaxGroupCommit;
        Path = options.ResolvePath();
        var synchronous = ParseSynchronous(options.Synchronous);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var cs = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, Mode = SqliteOpenMode.ReadWriteCreate }.ToString();
        _writer = new SqliteConnection(cs);
        _writer.Open();
        Exec(_writer, $"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=10000;");
        Exec(_writer, "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY AUTOINCREMENT, pbx TEXT NOT NULL, body BLOB NOT NULL);");
        _reader = new SqliteConnection(cs);
        _reader.Open();
        Exec(_reader, "PRAGMA busy_timeout=10000;");

        using (var count = _writer.CreateCommand())
        {
            count.CommandText = "SELECT count(*), coalesce(max(id), 0), coalesce(min(id), 1) - 1 FROM frames";
            using var r = count.ExecuteReader();
            r.Read();
            _depth = r.GetInt64(0);
            _lastCommittedId = r.GetInt64(1);
            _after = r.GetInt64(2);
        }

        _insert = _writer.CreateCommand();
        _insert.CommandText = "INSERT INTO frames (pbx, body) VALUES ($pbx, $body)";
        _insertPbx = _insert.Parameters.Add("$pbx", SqliteType.Text);
        _insertBody = _insert.Parameters.Add("$body", SqliteType.Blob);
        _select = _reader.CreateCommand();
        _select.CommandText = "SELECT id, body FROM frames WHERE id > $after ORDER BY id LIMIT $limit";
        _selectAfter = _select.Parameters.Add("$after", SqliteType.Integer);
        _selectLimit = _select.Parameters.Add("$limit", SqliteType.Integer);

        if (_depth > 0)
        {
            _logger.LogInformation("outbox {Path}: {Depth} frames pending from before the restart; resending them first, in order", Path, _depth);
        }

        PublishStatus();
        _writerLoop = Task.Run(WriterLoopAsync);
    }

    /// <summary>The outbox file.</summary>
    public string Path { get; }

    /// <summary>Frames appended and not yet acknowledged.</summary>
    public long Depth => Interlocked.Read(ref _depth);

    /// <summary>True while the outbox is at its cap (alarm raised, appenders waiting).</summary>
    public bool AtCap
    {
        get
        {
            lock (_gate)
            {
                return _atCap;
            }
        }
    }

    /// <summary>Write transactions committed since start (each may hold many frames: group commit).</summary>
    public long GroupCommits => Interlocked.Read(ref _groupCommits);

    /// <inheritdoc />
    public ValueTask AppendAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return AppendAsync([envelope], cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Each envelope takes its slot below the cap in order; the envelopes go to the writer as one unit and are
    /// committed in one transaction (with whatever else is queued then). When the outbox is full part way through, the
    /// envelopes admitted so far are queued first, so their commit can make room for the rest.</remarks>
    public async ValueTask AppendAsync(IReadOnlyList<Envelope> envelopes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelopes);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        WriteOp? first = null;
        List<WriteOp>? more = null;
        var frames = new List<Frame>(envelopes.Count);
        foreach (var e in envelopes)
        {
            ArgumentNullException.ThrowIfNull(e, nameof(envelopes));
            if (!TryAdmit())
            {
                if (frames.Count > 0)
                {
                    Queue(frames, ref first, ref more);
                    frames = new List<Frame>(envelopes.Count);
                }

                await AdmitAsync(e, cancellationToken).ConfigureAwait(false);
            }

            frames.Add(new Frame(e, JsonSerializer.SerializeToUtf8Bytes(e, ContractsJson.Default.Envelope)));
        }

        if (frames.Count > 0)
        {
            Queue(frames, ref first, ref more);
        }

        // not cancellable once queued: the frames are being committed either way
        if (first is not null)
        {
            await first.Done.Task.ConfigureAwait(false);
        }

        foreach (var op in more ?? [])
        {
            await op.Done.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Hands admitted <paramref name="frames"/> to the writer as one unit.</summary>
    private void Queue(List<Frame> frames, ref WriteOp? first, ref List<WriteOp>? more)
    {
        var op = new WriteOp([.. frames], 0);
        if (!_writes.Writer.TryWrite(op))
        {
            Release(frames.Count);
            throw new ObjectDisposedException(nameof(SqliteOutbox));
        }

        if (first is null)
        {
            first = op;
        }
        else
        {
            (more ??= []).Add(op);
        }
    }

    /// <summary>Gives back <paramref name="count"/> slots of frames that were admitted and then not stored.</summary>
    private void Release(int count)
    {
        lock (_gate)
        {
            _depth -= count;
        }

        Interlocked.Exchange(ref _spaceSignal, NewSignal()).TrySetResult();
    }

    /// <summary>Takes a slot when the outbox is below its cap; false (nothing taken) when it is full.</summary>
    private bool TryAdmit()
    {
        lock (_gate)
        {
            if (_depth >= _maxFrames)
            {
                return false;
            }

            _depth++;
            if (_atCap && _depth < _maxFrames)
            {
                _atCap = false;
                _logger.LogWarning("outbox below its cap again ({Depth}/{Cap} frames); connectors resume", _depth, _maxFrames);
            }

            return true;
        }
    }

    /// <summary>Takes a slot below the cap, waiting (and raising the alarm once a minute) while the outbox is full.</summary>
    private async ValueTask AdmitAsync(Envelope envelope, CancellationToken ct)
    {
        while (true)
        {
            Task space;
            var alarm = false;
            if (TryAdmit())
            {
                return;
            }

            lock (_gate)
            {
                if (_depth < _maxFrames)
                {
                    continue; // room came back meanwhile
                }

                var now = _time.GetUtcNow();
                if (!_atCap || now - _lastAlarm >= AlarmInterval)
                {
                    _atCap = true;
                    _lastAlarm = now;
                    alarm = true;
                }

                space = _spaceSignal.Task;
            }

            if (alarm)
            {
                PublishStatus();
                _logger.LogError(
                    "ALARM: outbox full ({Cap} frames, oldest from {Oldest:u}): forwarding is behind; connector {Pbx} waits, nothing is dropped",
                    _maxFrames,
                    _oldest,
                    envelope.Pbx);
            }

            await Task.WhenAny(space, Task.Delay(AlarmInterval, _time, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        if (_pending is { } again)
        {
            return again;
        }

        while (Volatile.Read(ref _lastCommittedId) <= _after)
        {
            var signal = Volatile.Read(ref _dataSignal).Task;
            if (Volatile.Read(ref _lastCommittedId) > _after)
            {
                break;
            }

            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (linger > TimeSpan.Zero && Volatile.Read(ref _lastCommittedId) - _after < maxCount)
        {
            await Task.Delay(linger, _time, cancellationToken).ConfigureAwait(false);
        }

        var items = new List<Envelope>(Math.Min(maxCount, 1024));
        long lastId = _after;
        _selectAfter.Value = _after;
        _selectLimit.Value = maxCount;
        using (var r = _select.ExecuteReader())
        {
            while (r.Read())
            {
                lastId = r.GetInt64(0);
                var body = (byte[])r.GetValue(1);
                items.Add(JsonSerializer.Deserialize(body, ContractsJson.Default.Envelope)!);
            }
        }

        var batch = new Batch(items, lastId);
        _pending = batch;
        _oldest = items.Count > 0 ? items[0].ReceivedAt : null;
        PublishStatus();
        return batch;
    }

    /// <inheritdoc />
    public async ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        if (!ReferenceEquals(batch, _pending) || _pending is not { } pending)
        {
            throw new InvalidOperationException("only the batch last returned by ReadBatchAsync can be acknowledged");
        }

        var op = new WriteOp([], pending.LastId);
        if (!_writes.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(nameof(SqliteOutbox));
        }

        await op.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        _after = pending.LastId;
        _pending = null;
        Interlocked.Add(ref _forwarded, pending.Count);
        lock (_gate)
        {
            _depth -= pending.Count;
        }

        Interlocked.Exchange(ref _spaceSignal, NewSignal()).TrySetResult();
        PublishStatus();
    }

    private async Task WriterLoopAsync()
    {
        var ops = new List<WriteOp>(_maxGroup);
        var reader = _writes.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            ops.Clear();
            var frames = 0;
            while (frames < _maxGroup && reader.TryRead(out var op))
            {
                ops.Add(op);
                frames += op.Frames.Length;
            }

            try
            {
                using (var tx = _writer.BeginTransaction())
                {
                    _insert.Transaction = tx;
                    foreach (var op in ops)
                    {
                        foreach (var frame in op.Frames)
                        {
                            _insertPbx.Value = frame.Envelope.Pbx;
                            _insertBody.Value = frame.Body;
                            _insert.ExecuteNonQuery();
                        }

                        if (op.DeleteThrough > 0)
                        {
                            using var delete = _writer.CreateCommand();
                            delete.Transaction = tx;
                            delete.CommandText = "DELETE FROM frames WHERE id <= $last";
                            delete.Parameters.AddWithValue("$last", op.DeleteThrough);
                            delete.ExecuteNonQuery();
                        }
                    }

                    tx.Commit();
                }

                if (frames > 0)
                {
                    using var last = _writer.CreateCommand();
                    last.CommandText = "SELECT last_insert_rowid()";
                    var id = (long)last.ExecuteScalar()!;
                    if (id > Volatile.Read(ref _lastCommittedId))
                    {
                        Volatile.Write(ref _lastCommittedId, id);
                    }
                }

                Interlocked.Increment(ref _groupCommits);
                Interlocked.Exchange(ref _dataSignal, NewSignal()).TrySetResult();
                foreach (var op in ops)
                {
                    op.Done.TrySetResult();
                }
            }
            catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
            {
                _logger.LogError("outbox write failed ({Message}); {Count} frames NOT stored, their connectors see the error", ex.Message, ops.Count);
                Release(frames);
                foreach (var op in ops)
                {
                    op.Done.TrySetException(ex);
                }
            }
        }
    }

    private void PublishStatus()
    {
        bool atCap;
        lock (_gate)
        {
            atCap = _atCap;
        }

        _status?.SetOutbox(new OutboxStatus(Depth, _maxFrames, atCap, Depth > 0 ? _oldest : null, Interlocked.Read(ref _forwarded)));
    }

    /// <summary>Stops the writer after it committed everything queued, and closes the database.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _writes.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        _insert.Dispose();
        _select.Dispose();
        _writer.Dispose();
        _reader.Dispose();
    }

    private static string ParseSynchronous(string? value) => value?.Trim().ToUpperInvariant() switch
    {
        "FULL" or null or "" => "FULL",
        "NORMAL" => "NORMAL",
        "EXTRA" => "EXTRA",
        _ => throw new ArgumentException($"Relay:Outbox:Synchronous '{value}' is not Full, Normal or Extra"),
    };

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var c = connection.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One frame to insert: the envelope (for its PBX column) and its JSON body.</summary>
    private readonly record struct Frame(Envelope Envelope, byte[] Body);

    /// <summary>A unit of the writer: frames to insert (one append call), or rows to delete through an id (an ack).</summary>
    private sealed class WriteOp(Frame[] frames, long deleteThrough)
    {
        public Frame[] Frames { get; } = frames;

        public long DeleteThrough { get; } = deleteThrough;

        public TaskCompletionSource Done { get; } = NewSignal();
    }

    private sealed class Batch(List<Envelope> items, long lastId) : List<Envelope>(items)
    {
        public long LastId { get; } = lastId;
    }
}
