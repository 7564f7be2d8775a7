using System.Net.Sockets;
using System.Security.Cryptography;
using CloudTelephony.Relay.Configuration;

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
