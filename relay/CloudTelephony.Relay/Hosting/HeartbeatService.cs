using System.Net.Http.Json;
using System.Reflection;
using CloudTelephony.Contracts;
using CloudTelephony.Relay.Configuration;
using CloudTelephony.Relay.Forwarding;
using CloudTelephony.Relay.Status;
using CloudTelephony.ServiceBus;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Relay.Hosting;

/// <summary>
/// Every <c>Relay:HeartbeatSeconds</c> (default 60) sends a <see cref="RelayHeartbeat"/> through the configured
/// transport: relay id and version, each PBX's connection state, frames sent, outbox depth, oldest pending frame, cap
/// alarm, and the dead letters (count and oldest) of the outbox. Not stored in the outbox (a stale heartbeat is worthless); a failed send is logged and the next one follows.
/// </summary>
public sealed class HeartbeatService(IOptions<RelayOptions> options, RelayStatus status, IServiceProvider services, ILogger<HeartbeatService> logger) : BackgroundService
{
    /// <summary>The relay's version as reported in heartbeats.</summary>
    public static string Version { get; } =
        typeof(HeartbeatService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0]
        ?? typeof(HeartbeatService).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>Heartbeats sent successfully.</summary>
    public int Sent { get; private set; }

    /// <summary>A heartbeat describing the relay now.</summary>
    public static RelayHeartbeat Build(string relayId, RelayStatus status, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(status);
        var outbox = status.Outbox;
        return new RelayHeartbeat(
            RelayHeartbeat.KindValue,
            relayId,
            Version,
            (time ?? TimeProvider.System).GetUtcNow(),
            [.. status.All.OrderBy(p => p.Pbx, StringComparer.Ordinal).Select(p => new PbxHeartbeat(p.Pbx, p.ToString(), p.Since, p.LastFrameAt, p.FramesReceived))],
            outbox.Forwarded,
            outbox.Depth,
            outbox.OldestPendingAt,
            outbox.AtCap,
            outbox.DeadLetters,
            outbox.DeadLetterOldestAt);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (o.HeartbeatSeconds <= 0)
        {
            return;
        }

        var bus = string.Equals(o.Transport, RelayOptions.ServiceBusTransport, StringComparison.OrdinalIgnoreCase);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(o.HeartbeatSeconds));
        try
        {
            do
            {
                var heartbeat = Build(o.RelayId, status);
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(5, o.HeartbeatSeconds / 2)));
                    if (bus)
                    {
                        await services.GetRequiredService<QueueSender>().SendMessagesAsync([FrameMessages.ToMessage(heartbeat)], timeout.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        var client = services.GetRequiredService<IHttpClientFactory>().CreateClient(HttpForwarder.HttpClientName);
                        var url = new Uri(o.Forwarder.Url!.TrimEnd('/') + Routes.HeartbeatPath, UriKind.Absolute);
                        using var response = await client.PostAsJsonAsync(url, heartbeat, ContractsJson.Default.RelayHeartbeat, timeout.Token).ConfigureAwait(false);
                        response.EnsureSuccessStatusCode();
                    }

                    Sent++;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning("heartbeat not sent: {Reason}", ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
