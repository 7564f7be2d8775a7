using System.Threading.Channels;
using CloudTelephony.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CloudTelephony.Relay.Sink;

/// <summary>
/// In-memory bounded buffer between connectors and the forwarder (capacity <c>Relay:Forwarder:MaxBufferedFrames</c>).
/// Writers wait when it is full and a warning is logged at most once a minute; nothing is dropped.
/// Not durable: to be replaced by the SQLite outbox behind the same <see cref="IFrameSink"/> / <see cref="IFrameSource"/>.
/// </summary>
public sealed class ChannelFrameBuffer : IFrameSink, IFrameSource
{
    private static readonly TimeSpan FullWarningInterval = TimeSpan.FromMinutes(1);
    private readonly Channel<Envelope> _channel;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private readonly Lock _warnLock = new();
    private DateTimeOffset _lastFullWarning = DateTimeOffset.MinValue;
    private IReadOnlyList<Envelope>? _pending;

    /// <summary>Creates a buffer holding up to <paramref name="capacity"/> envelopes.</summary>
    public ChannelFrameBuffer(int capacity, ILogger<ChannelFrameBuffer>? logger = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _channel = Channel.CreateBounded<Envelope>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    /// <summary>Envelopes buffered and not yet handed to the forwarder.</summary>
    public int Count => _channel.Reader.Count;

    /// <summary>How many times a writer found the buffer full and had to wait.</summary>
    public long FullWaits => Interlocked.Read(ref _fullWaits);

    private long _fullWaits;

    /// <inheritdoc />
    public ValueTask AppendAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        if (_channel.Writer.TryWrite(envelope))
        {
            return ValueTask.CompletedTask;
        }

        return WaitAndWriteAsync(envelope, cancellationToken);
    }

    private async ValueTask WaitAndWriteAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _fullWaits);
        var now = _time.GetUtcNow();
        var warn = false;
        lock (_warnLock)
        {
            if (now - _lastFullWarning >= FullWarningInterval)
            {
                _lastFullWarning = now;
                warn = true;
            }
        }

        if (warn)
        {
            _logger.LogWarning("frame buffer full ({Capacity} frames): forwarding is behind, connector {Pbx} waits (nothing is dropped)", _capacity, envelope.Pbx);
        }

        await _channel.Writer.WriteAsync(envelope, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Envelope>> ReadBatchAsync(int maxCount, TimeSpan linger, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        if (_pending is { } again)
        {
            return again;
        }

        var reader = _channel.Reader;
        while (!reader.TryPeek(out _))
        {
            if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return [];
            }
        }

        if (linger > TimeSpan.Zero && reader.Count < maxCount)
        {
            await Task.Delay(linger, _time, cancellationToken).ConfigureAwait(false);
        }

        var batch = new List<Envelope>(Math.Min(maxCount, Math.Max(1, reader.Count)));
        while (batch.Count < maxCount && reader.TryRead(out var e))
        {
            batch.Add(e);
        }

        _pending = batch;
        return batch;
    }

    /// <inheritdoc />
    public ValueTask AcknowledgeAsync(IReadOnlyList<Envelope> batch, CancellationToken cancellationToken)
    {
        if (!ReferenceEquals(batch, _pending))
        {
            throw new InvalidOperationException("only the batch last returned by ReadBatchAsync can be acknowledged");
        }

        _pending = null;
        return ValueTask.CompletedTask;
    }

    /// <summary>Marks the buffer complete: no more appends; the reader gets an empty batch once it is drained.</summary>
    public void Complete() => _channel.Writer.TryComplete();
}
