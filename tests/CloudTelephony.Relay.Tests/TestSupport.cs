using System.Collections.Concurrent;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using CloudTelephony.Tests;
using Microsoft.Extensions.Logging;

namespace CloudTelephony.Relay.Tests;

/// <summary>Waits on conditions with a deadline instead of fixed sleeps.</summary>
public static class Eventually
{
    public static async Task WaitAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>An <see cref="IFrameSink"/> that keeps everything in memory for assertions.</summary>
public sealed class CollectingSink : IFrameSink
{
    private readonly ConcurrentQueue<Envelope> _items = new();

    public IReadOnlyList<Envelope> Items => _items.ToArray();

    public ValueTask AppendAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        _items.Enqueue(envelope);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Keeps formatted log lines for assertions (and echoes nothing).</summary>
public sealed class ListLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public ILogger<T> For<T>() => new Logger<T>(new Factory(this));

    public void Dispose()
    {
    }

    private sealed class ListLogger(ListLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }

    private sealed class Factory(ListLoggerProvider provider) : ILoggerFactory
    {
        public void AddProvider(ILoggerProvider p)
        {
        }

        public ILogger CreateLogger(string categoryName) => provider.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}

public static class Captures
{
    /// <summary>The real Slican capture (samples/ copy), frames without the 'a' marker.</summary>
    public static IReadOnlyList<CapturedFrame> Slican() =>
        CaptureFile.Read(TestPaths.Sample("slican-ncp-2025-09-02_04.tsv"), Protocols.Ctip).ToList();

    /// <summary>The same frames re-timed <paramref name="gap"/> apart, so a replay is quick but still paced.</summary>
    public static IReadOnlyList<CapturedFrame> Retimed(IEnumerable<CapturedFrame> frames, TimeSpan gap)
    {
        var t0 = new DateTimeOffset(2025, 9, 2, 13, 44, 19, TimeSpan.Zero);
        return frames.Select((f, i) => new CapturedFrame(t0 + (gap * i), f.Frame)).ToList();
    }
}

/// <summary>A <see cref="SqliteOutbox"/> in a fresh temporary folder, deleted on dispose.</summary>
public sealed class TempOutbox : IAsyncDisposable
{
    public TempOutbox(int maxFrames = 100_000, RelayStatus? status = null, ListLoggerProvider? logs = null, string? dir = null)
    {
        Dir = dir ?? Directory.CreateTempSubdirectory("ct-outbox-").FullName;
        Options = new OutboxOptions { Path = System.IO.Path.Combine(Dir, "outbox.db"), MaxFrames = maxFrames };
        Status = status ?? new RelayStatus();
        Logs = logs ?? new ListLoggerProvider();
        Outbox = new SqliteOutbox(Options, Logs.For<SqliteOutbox>(), Status);
    }

    public string Dir { get; }

    public OutboxOptions Options { get; }

    public RelayStatus Status { get; }

    public ListLoggerProvider Logs { get; }

    public SqliteOutbox Outbox { get; private set; }

    /// <summary>Closes the database and opens it again, as a restarted relay would.</summary>
    public async Task ReopenAsync()
    {
        await Outbox.DisposeAsync();
        Outbox = new SqliteOutbox(Options, Logs.For<SqliteOutbox>(), Status);
    }

    public async ValueTask DisposeAsync()
    {
        await Outbox.DisposeAsync();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
