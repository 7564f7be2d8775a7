using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Status;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace CloudTelephony.Relay.Hosting;

/// <summary>A PBX refused our login (CTIP NA/NAK, AMI <c>Response: Error</c>, or no answer in time); reconnecting waits long.</summary>
/// <param name="reason">Why, e.g. <c>wrong key (NA 11)</c>.</param>
public abstract class LoginRefusedException(string reason) : Exception(reason)
{
    /// <summary>Why the login was refused.</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// The reconnect loop every outbound PBX connector (CTIP, AMI) runs: sessions one after another until stopped, with two
/// Polly retry strategies. Outer: a refused login waits <c>RefusedDelaySeconds × 2^n</c> (capped at
/// <c>RefusedMaxDelaySeconds</c>, plus up to 10 % jitter, never shorter than the base: a PBX that refuses is not
/// hammered). Inner: anything else that breaks a connection backs off exponentially with jitter from
/// <c>ReconnectDelaySeconds</c> to <c>ReconnectMaxDelaySeconds</c>. States and one log line per retry go to
/// <see cref="RelayStatus"/> and the logger.
/// </summary>
public static class ReconnectLoop
{
    /// <summary>Runs <paramref name="session"/> again and again until <paramref name="cancellationToken"/> is cancelled; the
    /// PBX's state is <see cref="PbxConnectionState.Stopped"/> at the end.</summary>
    /// <param name="label">Protocol label for logs and strategy names, e.g. <c>CTIP</c>.</param>
    /// <param name="options">The PBX's settings (id and timings).</param>
    /// <param name="status">Where connection states go.</param>
    /// <param name="logger">The connector's logger.</param>
    /// <param name="time">Clock for the "next attempt at" times.</param>
    /// <param name="session">One TCP session: connect, log in, stream; it returns or throws when the session ends.</param>
    /// <param name="cancellationToken">Stops the loop.</param>
    public static async Task RunAsync(
        string label, PbxOptions options, RelayStatus status, ILogger logger, TimeProvider time,
        Func<CancellationToken, ValueTask> session, CancellationToken cancellationToken)
    {
        var pbx = options.Id!;
        var pipeline = Build(label, options, status, logger, time);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // One execution = connect attempts until a session streamed long enough; it returns when that session
                // ended, so the next one starts again with the shortest backoff.
                await pipeline.ExecuteAsync(session, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            status.SetState(pbx, PbxConnectionState.Stopped);
        }
    }

    private static ResiliencePipeline Build(string label, PbxOptions options, RelayStatus status, ILogger logger, TimeProvider time)
    {
        var pbx = options.Id!;
        var name = label.ToLowerInvariant();
        var refused = new RetryStrategyOptions
        {
            Name = $"{name}-login-refused",
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is LoginRefusedException),
            MaxRetryAttempts = int.MaxValue,

            // Never shorter than RefusedDelaySeconds (Polly's decorrelated jitter may go below the base delay).
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(RefusedDelay(options, args.AttemptNumber)),
            OnRetry = args =>
            {
                var reason = args.Outcome.Exception is LoginRefusedException r ? r.Reason : "refused";
                status.SetState(pbx, PbxConnectionState.Refused, reason, time.GetUtcNow() + args.RetryDelay);
                logger.LogError(RelayEvents.LoginRefused, "{Protocol} {Pbx}: login refused: {Reason}; not retrying for {Delay:0.#} s", label, pbx, reason, args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };
        var broken = new RetryStrategyOptions
        {
            Name = $"{name}-reconnect",
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is not null and not OperationCanceledException and not LoginRefusedException),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(options.ReconnectDelaySeconds),
            MaxDelay = TimeSpan.FromSeconds(options.ReconnectMaxDelaySeconds),
            OnRetry = args =>
            {
                var reason = args.Outcome.Exception?.Message ?? "connection ended";
                status.SetState(pbx, PbxConnectionState.BackingOff, reason, time.GetUtcNow() + args.RetryDelay);
                logger.LogWarning(RelayEvents.LinkLost, "{Protocol} {Pbx}: {Reason}; reconnecting in {Delay:0.#} s", label, pbx, reason, args.RetryDelay.TotalSeconds);
                return ValueTask.CompletedTask;
            },
        };

        // Outer: refused logins (long waits). Inner: everything else that breaks a connection.
        return new ResiliencePipelineBuilder { Name = $"{name}-{pbx}" }
            .AddRetry(refused)
            .AddRetry(broken)
            .Build();
    }

    private static TimeSpan RefusedDelay(PbxOptions options, int attempt)
    {
        var first = options.RefusedDelaySeconds;
        var seconds = Math.Min(first * Math.Pow(2, Math.Min(attempt, 30)), Math.Max(first, options.RefusedMaxDelaySeconds));
        return TimeSpan.FromSeconds(seconds * (1 + (Random.Shared.NextDouble() * 0.1)));
    }
}
