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
/// only after the frame's row is committed; the forwarder reads batches in append order (<see cref="ReadBatchAsync(int, TimeSpan, CancellationToken)"/>),
/// possibly several before the first is acknowledged, and rows are deleted only when it acknowledges them, in read order
/// (<see cref="AcknowledgeAsync"/>, after the broker settled). After a failed delivery <see cref="RewindAsync"/> moves
/// the read position back to the oldest unacknowledged row; after a crash or restart the pending rows are read again
/// from the oldest. Either way each PBX's frames are resent in order.
/// </summary>
/// <remarks>
/// One writer task owns the write connection: appends and deletes that are waiting at the same moment go into one
/// transaction (group commit, one WAL fsync for all of them with <c>synchronous=FULL</c>). The reader has its own
/// connection (WAL readers never block the writer). The read position and the list of batches handed out live in
/// memory only: the database holds exactly the unacknowledged rows. At <see cref="OutboxOptions.MaxFrames"/> appenders
/// wait (backpressure onto the PBX sockets) and an alarm is logged every minute and flagged in <see cref="RelayStatus"/>;
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
    private readonly SqliteParameter _selectPbx;
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
    private readonly Dictionary<string, long> _pbxDepth = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pbxAtCap = new(StringComparer.Ordinal);
    private readonly int _pbxShare;
    private long _deadLetters;
    private DateTimeOffset? _deadLetterOldest;
    private long _lastCommittedId;
    private long _unread;
    private int _nextPbx;
    // per PBX: the last row id committed, handed out (read position) and removed
    private readonly Dictionary<string, long> _lastCommittedByPbx = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _readAfterByPbx = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _removedThroughByPbx = new(StringComparer.Ordinal);

    private long _forwarded;
    private long _groupCommits;
    private bool _atCap;
    private DateTimeOffset _lastAlarm = DateTimeOffset.MinValue;
    private DateTimeOffset? _oldest;
    private TaskCompletionSource _dataSignal = NewSignal();
    private TaskCompletionSource _spaceSignal = NewSignal();
    private readonly Queue<Batch> _handedOut = new();
    private readonly List<Batch> _acknowledging = [];
    private bool _reading;
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
        _pbxShare = options.MaxFramesPerPbx is > 0 and var share ? Math.Min(share, _maxFrames) : _maxFrames;
        Path = options.ResolvePath();
        var synchronous = ParseSynchronous(options.Synchronous);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var cs = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, Mode = SqliteOpenMode.ReadWriteCreate }.ToString();
        _writer = new SqliteConnection(cs);
        _writer.Open();
        Exec(_writer, $"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=10000;");
        Exec(_writer, "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY AUTOINCREMENT, pbx TEXT NOT NULL, body BLOB NOT NULL);");
        // Reads take each PBX's rows in order, a fair share per PBX per batch, by a rowid range scan from that PBX's read
        // position filtered on pbx: each PBX's position only moves forward, so over time every row is passed about once
        // per PBX, and appends pay no second index (an index on (pbx, id) cut the append rate of ./ct bench relay-forwarder
        // by about a third in one run on a loaded box).
        // envelopes the receiver refused with "do not retry" (400/413/422), kept with the answer; delivery goes on behind them
        Exec(_writer, "CREATE TABLE IF NOT EXISTS dead_letters (message_id TEXT PRIMARY KEY, pbx TEXT NOT NULL, body BLOB NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);");
        _reader = new SqliteConnection(cs);
        _reader.Open();
        Exec(_reader, "PRAGMA busy_timeout=10000;");

        using (var count = _writer.CreateCommand())
        {
            count.CommandText = "SELECT count(*), coalesce(max(id), 0) FROM frames";
            using var r = count.ExecuteReader();
            r.Read();
            _depth = r.GetInt64(0);
            _lastCommittedId = r.GetInt64(1);
            _unread = _depth;
        }

        using (var perPbx = _writer.CreateCommand())
        {
            perPbx.CommandText = "SELECT pbx, count(*), min(id) - 1, max(id) FROM frames GROUP BY pbx";
            using var r = perPbx.ExecuteReader();
            while (r.Read())
            {
                var pbx = r.GetString(0);
                _pbxDepth[pbx] = r.GetInt64(1);
                _removedThroughByPbx[pbx] = _readAfterByPbx[pbx] = r.GetInt64(2);
                _lastCommittedByPbx[pbx] = r.GetInt64(3);
            }
        }

        using (var dead = _writer.CreateCommand())
        {
            dead.CommandText = "SELECT count(*), min(at) FROM dead_letters";
            using var r = dead.ExecuteReader();
            r.Read();
            _deadLetters = r.GetInt64(0);
            _deadLetterOldest = r.IsDBNull(1) ? null : DateTimeOffset.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture);
        }

        _insert = _writer.CreateCommand();
        _insert.CommandText = "INSERT INTO frames (pbx, body) VALUES ($pbx, $body)";
        _insertPbx = _insert.Parameters.Add("$pbx", SqliteType.Text);
        _insertBody = _insert.Parameters.Add("$body", SqliteType.Blob);
        _select = _reader.CreateCommand();
        _select.CommandText = "SELECT id, body FROM frames WHERE pbx = $pbx AND id > $after ORDER BY id LIMIT $limit";
        _selectPbx = _select.Parameters.Add("$pbx", SqliteType.Text);
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
        var queued = new List<WriteOp>(1);
        var frames = new List<Frame>(envelopes.Count);
        foreach (var e in envelopes)
        {
            ArgumentNullException.ThrowIfNull(e, nameof(envelopes));
            if (!TryAdmit(e.Pbx))
            {
                if (frames.Count > 0)
                {
                    queued.Add(Queue(frames));
                    frames.Clear();
                }

                await AdmitAsync(e, cancellationToken).ConfigureAwait(false);
            }

            frames.Add(new Frame(e, JsonSerializer.SerializeToUtf8Bytes(e, ContractsJson.Default.Envelope)));
        }

        if (frames.Count > 0)
        {
            queued.Add(Queue(frames));
        }

        // not cancellable once queued: the frames are being committed either way
        foreach (var op in queued)
        {
            await op.Done.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Hands admitted <paramref name="frames"/> (copied) to the writer as one unit.</summary>
    private WriteOp Queue(List<Frame> frames)
    {
        var op = new WriteOp([.. frames], null);
        if (!_writes.Writer.TryWrite(op))
        {
            Release(op.Frames);
            throw new ObjectDisposedException(nameof(SqliteOutbox));
        }

        return op;
    }

    /// <summary>Gives back the slots of <paramref name="frames"/>, admitted and then not stored.</summary>
    private void Release(IEnumerable<Frame> frames)
    {
        lock (_gate)
        {
            foreach (var f in frames)
            {
                _depth--;
                _pbxDepth[f.Envelope.Pbx] = PbxDepth(f.Envelope.Pbx) - 1;
            }
        }

        Interlocked.Exchange(ref _spaceSignal, NewSignal()).TrySetResult();
    }

    private long PbxDepth(string pbx) => _pbxDepth.TryGetValue(pbx, out var n) ? n : 0;

    /// <summary>
    /// Takes a slot for a frame of <paramref name="pbx"/> when the outbox is below its cap and the PBX below its share
    /// (<see cref="OutboxOptions.MaxFramesPerPbx"/>); false (nothing taken) when either is full.
    /// </summary>
    private bool TryAdmit(string pbx)
    {
        lock (_gate)
        {
            var mine = PbxDepth(pbx);
            if (_depth >= _maxFrames || mine >= _pbxShare)
            {
                return false;
            }

            _depth++;
            _pbxDepth[pbx] = mine + 1;
            if (_pbxAtCap.Remove(pbx))
            {
                _logger.LogWarning("outbox share of PBX {Pbx} below its cap again ({Mine}/{Share} frames); its connector resumes", pbx, mine + 1, _pbxShare);
            }

            if (_atCap && _depth < _maxFrames && _pbxAtCap.Count == 0)
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
            if (TryAdmit(envelope.Pbx))
            {
                return;
            }

            bool whole;
            long mine;
            lock (_gate)
            {
                mine = PbxDepth(envelope.Pbx);
                whole = _depth >= _maxFrames;
                if (!whole && mine < _pbxShare)
                {
                    continue; // room came back meanwhile
                }

                var now = _time.GetUtcNow();
                var first = whole ? !_atCap : _pbxAtCap.Add(envelope.Pbx);
                if (first || now - _lastAlarm >= AlarmInterval)
                {
                    _atCap = true;
                    _lastAlarm = now;
                    alarm = true;
                }

                space = _spaceSignal.Task;
            }

            if (alarm && whole)
            {
                PublishStatus();
                _logger.LogError(
                    Hosting.RelayEvents.OutboxAtCap,
                    "ALARM: outbox full ({Cap} frames, oldest from {Oldest:u}): forwarding is behind; connector {Pbx} waits, nothing is dropped",
                    _maxFrames,
                    _oldest,
                    envelope.Pbx);
            }
            else if (alarm)
            {
                PublishStatus();
                _logger.LogError(
                    Hosting.RelayEvents.OutboxAtCap,
                    "ALARM: outbox share of PBX {Pbx} full ({Mine} of its {Share} frames; outbox {Depth}/{Cap}): its connector waits, the other PBXes go on, nothing is dropped",
                    envelope.Pbx,
                    mine,
                    _pbxShare,
                    Depth,
                    _maxFrames);
            }

            await Task.WhenAny(space, Task.Delay(AlarmInterval, _time, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken) =>
        ReadBatchAsync(maxCount, long.MaxValue, linger, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, long maxBytes, TimeSpan linger, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_gate)
        {
            if (_reading)
            {
                throw new InvalidOperationException("ReadBatchAsync is already running: reads of the outbox must not overlap");
            }

            _reading = true;
        }

        try
        {
            Batch batch;
            var lingered = false;
            while (true)
            {
                var signal = Volatile.Read(ref _dataSignal).Task;
                if (!HasUnread())
                {
                    await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (!lingered && linger > TimeSpan.Zero && Interlocked.Read(ref _unread) < maxCount)
                {
                    lingered = true;
                    await Task.Delay(linger, _time, cancellationToken).ConfigureAwait(false);
                }

                batch = ReadFair(maxCount, maxBytes);
                if (batch.Count > 0)
                {
                    break;
                }
            }
            lock (_gate)
            {
                _handedOut.Enqueue(batch);
                NoteOldestPending();
            }

            PublishStatus();
            return batch;
        }
        finally
        {
            lock (_gate)
            {
                _reading = false;
            }
        }
    }

    /// <summary>True when some PBX has committed rows past its read position.</summary>
    private bool HasUnread()
    {
        lock (_gate)
        {
            foreach (var (pbx, last) in _lastCommittedByPbx)
            {
                if (last > (_readAfterByPbx.TryGetValue(pbx, out var a) ? a : 0))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// The next batch, fair across PBXes: every PBX with unread rows gets an equal share of <paramref name="maxCount"/>
    /// (rows it does not use go to the others), each PBX's rows in append order. So a PBX that floods the outbox slows
    /// only itself: the frames of a quiet PBX go out in the next batch, not behind the flood's backlog.
    /// </summary>
    private Batch ReadFair(int maxCount, long maxBytes)
    {
        List<(string Pbx, long After)> pending;
        lock (_gate)
        {
            var names = _lastCommittedByPbx.Where(kv => kv.Value > (_readAfterByPbx.TryGetValue(kv.Key, out var a) ? a : 0)).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
            var start = names.Count == 0 ? 0 : _nextPbx++ % names.Count;
            pending = [.. names.Skip(start).Concat(names.Take(start)).Select(p => (p, _readAfterByPbx.TryGetValue(p, out var a) ? a : 0))];
        }

        var items = new List<Envelope>(Math.Min(maxCount, 1024));
        var segments = new Dictionary<string, (long First, long Last, int Count)>(StringComparer.Ordinal);
        long bytes = 0;
        var full = false;
        while (!full && items.Count < maxCount && pending.Count > 0)
        {
            var share = Math.Max(1, (maxCount - items.Count) / pending.Count);
            var next = new List<(string, long)>();
            foreach (var (pbx, after) in pending)
            {
                var room = Math.Min(share, maxCount - items.Count);
                if (room <= 0)
                {
                    break;
                }

                var last = after;
                var taken = 0;
                _selectPbx.Value = pbx;
                _selectAfter.Value = after;
                _selectLimit.Value = room;
                using (var r = _select.ExecuteReader())
                {
                    while (r.Read())
                    {
                        var body = (byte[])r.GetValue(1);
                        // the JSON array adds a comma per envelope; the first envelope always goes, however big
                        if (items.Count > 0 && bytes + body.Length + 1 > maxBytes)
                        {
                            full = true;
                            break;
                        }

                        bytes += body.Length + 1;
                        last = r.GetInt64(0);
                        taken++;
                        items.Add(JsonSerializer.Deserialize(body, ContractsJson.Default.Envelope)!);
                    }
                }

                if (taken > 0)
                {
                    segments[pbx] = segments.TryGetValue(pbx, out var seg) ? (seg.First, last, seg.Count + taken) : (after + 1, last, taken);
                }

                if (full)
                {
                    break;
                }

                if (taken == room)
                {
                    next.Add((pbx, last)); // may have more
                }
            }

            pending = next;
        }

        lock (_gate)
        {
            foreach (var (pbx, seg) in segments)
            {
                _readAfterByPbx[pbx] = seg.Last;
                Interlocked.Add(ref _unread, -seg.Count);
            }
        }

        return new Batch(items, segments.ToDictionary(kv => kv.Key, kv => (kv.Value.First, kv.Value.Last)));
    }

    /// <inheritdoc />
    public async ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        WriteOp op;
        lock (_gate)
        {
            if (!_handedOut.TryPeek(out var oldest) || !ReferenceEquals(oldest, batch))
            {
                throw new InvalidOperationException(OutOfOrder(batch, oldest));
            }

            // queued under the lock: deletes reach the writer in acknowledgement order
            op = new WriteOp([], oldest);
            if (!_writes.Writer.TryWrite(op))
            {
                throw new ObjectDisposedException(nameof(SqliteOutbox));
            }

            _handedOut.Dequeue();
            oldest.Removal = op.Done.Task;
            _acknowledging.Add(oldest);
        }

        await op.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Envelopes set aside in the dead-letter table since the outbox was created (kept across restarts).</summary>
    public long DeadLetters
    {
        get
        {
            lock (_gate)
            {
                return _deadLetters;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DeadLetterAsync(Envelope envelope, int status, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var op = new WriteOp([], null, new DeadLetterRow(envelope, status, reason, _time.GetUtcNow()));
        if (!_writes.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(nameof(SqliteOutbox));
        }

        await op.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        PublishStatus();
    }

    /// <summary>The dead letters, oldest first: envelope, HTTP status, reason (the receiver's answer) and when (UTC).</summary>
    public IReadOnlyList<(Envelope Envelope, int Status, string Reason, DateTimeOffset At)> ReadDeadLetters()
    {
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT body, status, reason, at FROM dead_letters ORDER BY at, message_id";
        using var r = cmd.ExecuteReader();
        var list = new List<(Envelope, int, string, DateTimeOffset)>();
        while (r.Read())
        {
            list.Add((
                JsonSerializer.Deserialize((byte[])r.GetValue(0), ContractsJson.Default.Envelope)!,
                r.GetInt32(1),
                r.GetString(2),
                DateTimeOffset.Parse(r.GetString(3), System.Globalization.CultureInfo.InvariantCulture)));
        }

        return list;
    }

    /// <inheritdoc />
    public async ValueTask RewindAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        Task[] removals;
        lock (_gate)
        {
            ThrowIfReading();
            removals = [.. _acknowledging.Select(b => b.Removal!)];
        }

        // deletes still queued or being committed: their outcome goes to their AcknowledgeAsync callers; a failed one
        // leaves its rows in place, so they are read again below
        await Task.WhenAll(removals).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ThrowIfReading();
            if (_acknowledging.Exists(b => !b.Removal!.IsCompleted))
            {
                throw new InvalidOperationException("an acknowledgement was started while the outbox was being rewound");
            }

            _handedOut.Clear();
            _acknowledging.Clear();
            foreach (var pbx in _lastCommittedByPbx.Keys)
            {
                // every committed row of the PBX that was not removed is read again
                _readAfterByPbx[pbx] = _removedThroughByPbx.TryGetValue(pbx, out var r) ? r : 0;
            }

            // only a hint for the linger (rows appended but not committed are in the depth too)
            Interlocked.Exchange(ref _unread, _depth);
        }
    }

    private void ThrowIfReading()
    {
        if (_reading)
        {
            throw new InvalidOperationException("the outbox cannot be rewound while ReadBatchAsync is running");
        }
    }

    private string OutOfOrder(IReadOnlyList<Envelope> batch, Batch? oldest)
    {
        var expected = oldest is null
            ? "no batch is waiting for its acknowledgement"
            : $"the oldest unacknowledged batch is rows {oldest.Rows} ({oldest.Count} frames)";
        return batch is Batch b && _handedOut.Contains(b)
            ? $"batches must be acknowledged in the order ReadBatchAsync returned them: rows {b.Rows} acknowledged before earlier ones; {expected}"
            : $"this batch of {batch.Count} frames is not the oldest unacknowledged one ReadBatchAsync returned (acknowledged twice, handed out before a rewind, or not from this outbox); {expected}";
    }

    /// <summary>Called by the writer after the delete of <paramref name="batch"/> (and every row before it) committed.</summary>
    private void OnRemoved(Batch batch)
    {
        long removed = 0;
        lock (_gate)
        {
            if (_acknowledging.Remove(batch))
            {
                removed = batch.Count;
                foreach (var e in batch)
                {
                    _pbxDepth[e.Pbx] = PbxDepth(e.Pbx) - 1;
                }
            }

            foreach (var (pbx, (_, last)) in batch.Segments)
            {
                _removedThroughByPbx[pbx] = Math.Max(_removedThroughByPbx.TryGetValue(pbx, out var r) ? r : 0, last);
            }

            _depth -= removed;
            NoteOldestPending();
        }

        Interlocked.Add(ref _forwarded, removed);
    }

    /// <summary>The oldest frame handed out and not removed, when there is one (under <see cref="_gate"/>).</summary>
    private void NoteOldestPending()
    {
        var oldest = _acknowledging.Count > 0 ? _acknowledging[0] : _handedOut.Count > 0 ? _handedOut.Peek() : null;
        if (oldest is { Count: > 0 })
        {
            _oldest = oldest[0].ReceivedAt;
        }
    }

    private async Task WriterLoopAsync()
    {
        var ops = new List<WriteOp>(_maxGroup);
        var inserted = new List<string>(_maxGroup);
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
                    var deleteThrough = new Dictionary<string, long>(StringComparer.Ordinal);
                    inserted.Clear();
                    foreach (var op in ops)
                    {
                        foreach (var frame in op.Frames)
                        {
                            _insertPbx.Value = frame.Envelope.Pbx;
                            _insertBody.Value = frame.Body;
                            _insert.ExecuteNonQuery();
                            inserted.Add(frame.Envelope.Pbx);
                        }

                        if (op.Acknowledged is { } acknowledged)
                        {
                            foreach (var (pbx, (_, last)) in acknowledged.Segments)
                            {
                                deleteThrough[pbx] = Math.Max(deleteThrough.TryGetValue(pbx, out var d) ? d : 0, last);
                            }
                        }

                        if (op.DeadLetter is { } dead)
                        {
                            using var insert = _writer.CreateCommand();
                            insert.Transaction = tx;
                            insert.CommandText = "INSERT OR REPLACE INTO dead_letters (message_id, pbx, body, status, reason, at) VALUES ($id, $pbx, $body, $status, $reason, $at)";
                            insert.Parameters.AddWithValue("$id", dead.Envelope.MessageId);
                            insert.Parameters.AddWithValue("$pbx", dead.Envelope.Pbx);
                            insert.Parameters.AddWithValue("$body", JsonSerializer.SerializeToUtf8Bytes(dead.Envelope, ContractsJson.Default.Envelope));
                            insert.Parameters.AddWithValue("$status", dead.Status);
                            insert.Parameters.AddWithValue("$reason", dead.Reason);
                            insert.Parameters.AddWithValue("$at", dead.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                            insert.ExecuteNonQuery();
                        }
                    }

                    foreach (var (pbx, last) in deleteThrough)
                    {
                        // acknowledgements come in read order: one delete per PBX covers every batch acknowledged in this group
                        using var delete = _writer.CreateCommand();
                        delete.Transaction = tx;
                        delete.CommandText = "DELETE FROM frames WHERE pbx = $pbx AND id <= $last";
                        delete.Parameters.AddWithValue("$pbx", pbx);
                        delete.Parameters.AddWithValue("$last", last);
                        delete.ExecuteNonQuery();
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

                    // one writer, one transaction: the rows of this group got the ids id - n + 1 .. id, in insert order
                    lock (_gate)
                    {
                        var rowId = id - inserted.Count;
                        foreach (var pbx in inserted)
                        {
                            rowId++;
                            _lastCommittedByPbx[pbx] = rowId;
                        }

                        Interlocked.Add(ref _unread, inserted.Count);
                    }
                }

                Interlocked.Increment(ref _groupCommits);
                foreach (var op in ops)
                {
                    if (op.DeadLetter is { } dead)
                    {
                        lock (_gate)
                        {
                            _deadLetters++;
                            _deadLetterOldest ??= dead.At;
                        }
                    }
                }

                Interlocked.Exchange(ref _dataSignal, NewSignal()).TrySetResult();
                var removed = false;
                foreach (var op in ops)
                {
                    if (op.Acknowledged is { } batch)
                    {
                        OnRemoved(batch);
                        removed = true;
                    }
                }

                if (removed)
                {
                    Interlocked.Exchange(ref _spaceSignal, NewSignal()).TrySetResult();
                    PublishStatus();
                }

                foreach (var op in ops)
                {
                    op.Done.TrySetResult();
                }
            }
            catch (Exception ex) when (ex is SqliteException or InvalidOperationException or IOException)
            {
                _logger.LogError("outbox write failed ({Message}); {Count} frames NOT stored, their connectors see the error", ex.Message, ops.Count);
                Release(ops.SelectMany(o => o.Frames));
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
        DateTimeOffset? oldest;
        lock (_gate)
        {
            atCap = _atCap;
            oldest = _oldest;
        }

        long deadLetters;
        DateTimeOffset? deadOldest;
        lock (_gate)
        {
            deadLetters = _deadLetters;
            deadOldest = _deadLetterOldest;
        }

        _status?.SetOutbox(new OutboxStatus(Depth, _maxFrames, atCap, Depth > 0 ? oldest : null, Interlocked.Read(ref _forwarded), deadLetters, deadOldest));
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

    /// <summary>A dead letter to store.</summary>
    private sealed record DeadLetterRow(Envelope Envelope, int Status, string Reason, DateTimeOffset At);

    /// <summary>One frame to insert: the envelope (for its PBX column) and its JSON body.</summary>
    private readonly record struct Frame(Envelope Envelope, byte[] Body);

    /// <summary>A unit of the writer: frames to insert (one append call), the delete of an acknowledged batch, or a dead letter.</summary>
    private sealed class WriteOp(Frame[] frames, Batch? acknowledged, DeadLetterRow? deadLetter = null)
    {
        public Frame[] Frames { get; } = frames;

        public Batch? Acknowledged { get; } = acknowledged;

        public DeadLetterRow? DeadLetter { get; } = deadLetter;

        public TaskCompletionSource Done { get; } = NewSignal();
    }

    /// <summary>A batch handed out: its envelopes and, per PBX, the row ids it covers (first through last, that PBX's rows only).</summary>
    private sealed class Batch(List<Envelope> items, Dictionary<string, (long First, long Last)> segments) : List<Envelope>(items)
    {
        public IReadOnlyDictionary<string, (long First, long Last)> Segments { get; } = segments;

        public string Rows => string.Join(", ", Segments.Select(kv => $"{kv.Key} {kv.Value.First}..{kv.Value.Last}"));

        /// <summary>The commit of this batch's delete, once it was acknowledged.</summary>
        public Task? Removal { get; set; }
    }
}
