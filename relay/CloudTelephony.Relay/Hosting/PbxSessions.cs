using System.Net.Sockets;
using System.Security.Cryptography;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Sink;
using CloudTelephony.Relay.Status;
using CloudTelephony.Relay.Telemetry;

namespace CloudTelephony.Relay.Hosting;

/// <summary>What every PBX session of the relay shares (CTIP, AMI, SMDR): its id, the envelope time stamp, and the
/// outbound TCP connect with its timeout.</summary>
public static class PbxSessions
{
    /// <summary>
    /// Most frames a connector hands to the outbox in one append: the lines already read from the socket when the
    /// first of them is handled share one commit (one fsync), up to this many.
    /// </summary>
    public const int MaxFramesPerAppend = 256;

    /// <summary>Most characters of frame text a connector hands to the outbox in one append (about 1 MB), so one read of long frames stays bounded in memory.</summary>
    public const int MaxBytesPerAppend = 1 << 20;

    /// <summary>
    /// Hands the frames of one read (one PBX session, in seq order) to <paramref name="sink"/> in one append, so they
    /// share one outbox commit; then counts them (<c>ct.relay.frames.received</c>) and records the newest in the PBX's
    /// status. Nothing happens for an empty list. Throws what the sink throws (the frames are then not counted).
    /// </summary>
    public static async ValueTask AppendReadAsync(IFrameSink sink, RelayStatus status, IReadOnlyList<Envelope> frames, CancellationToken ct)
    {
        if (frames.Count == 0)
        {
            return;
        }

        await sink.AppendAsync(frames, ct).ConfigureAwait(false);
        RelayTelemetry.FramesReceived(frames);
        var (pbx, last, count) = (frames[0].Pbx, frames[^1].ReceivedAt, frames.Count);
        status.Update(pbx, s => s with { LastFrameAt = last, FramesReceived = s.FramesReceived + count });
    }

    /// <summary>A new session id: <c>yyyyMMddTHHmmssZ-</c> and 6 random hex digits, e.g. <c>20250902T134419Z-3fa9c1</c>.</summary>
    public static string NewSessionId(DateTimeOffset now) =>
        $"{now.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    /// <summary>Drops sub-millisecond ticks and converts to UTC (envelopes carry milliseconds).</summary>
    public static DateTimeOffset TruncateToMilliseconds(DateTimeOffset t)
    {
        var utc = t.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }

    /// <summary>Connects <paramref name="socket"/> to the PBX's Host and port within <c>ConnectTimeoutSeconds</c>.</summary>
    /// <param name="socket">An unconnected TCP socket.</param>
    /// <param name="options">The PBX (Host, EffectivePort, ConnectTimeoutSeconds).</param>
    /// <param name="failed">Makes the protocol's connection exception from a message and the cause.</param>
    /// <param name="ct">Cancellation (not turned into a failure).</param>
    /// <exception cref="Exception">What <paramref name="failed"/> makes, on a timeout or a socket error.</exception>
    public static async Task ConnectAsync(Socket socket, PbxOptions options, Func<string, Exception?, Exception> failed, CancellationToken ct)
    {
        var (host, port) = (options.Host!, options.EffectivePort);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.ConnectTimeoutSeconds));
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw failed($"connect to {host}:{port} timed out after {options.ConnectTimeoutSeconds:0.#} s", null);
        }
        catch (SocketException ex)
        {
            throw failed($"connect to {host}:{port} failed: {ex.Message}", ex);
        }
    }
}
