using CloudTelephony.ServiceBus.Tests.Broker;

namespace CloudTelephony.ServiceBus.Tests;

/// <summary>
/// The SDK renews its CBS token before it expires. Slow on purpose (about 3.5 minutes, in parallel with the other
/// classes): the SDK renews at the token's expiry less 7 minutes, but never sooner than 3 minutes after the last put,
/// so the shortest token that shows a renewal lives a little longer than 3 minutes.
/// </summary>
public sealed class TokenRefreshTests
{
    [Fact]
    public async Task Token_is_renewed_before_it_expires_and_sending_never_stops()
    {
        var broker = new TestBroker { TlsPort = SenderTests.FreePort() };
        broker.AddQueue("pbx-frames");
        broker.Start();
        await using var _ = broker;
        var lifetime = TimeSpan.FromSeconds(200);
        var options = new ServiceBusOptions
        {
            Endpoint = broker.TlsEndpoint,
            Queue = "pbx-frames",
            UseEntraId = true,
            Credential = new TestCredential(broker, lifetime),
            CertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == broker.Certificate.GetCertHashString(),
            OperationTimeoutSeconds = 5,
            MaxRetries = 0, // a send after an expired token must fail here, not be retried into success
        };
        await using var sender = new FrameSender(options);
        var start = DateTimeOffset.UtcNow;
        var seq = 1;
        while (DateTimeOffset.UtcNow - start < lifetime + TimeSpan.FromSeconds(15))
        {
            await sender.SendAsync(SenderTests.Envelopes("p", 5, from: seq), CancellationToken.None); // the broker refuses transfers once the grant expired
            seq += 5;
            await Task.Delay(2000);
        }

        var puts = broker.TokenLog.Where(t => t is { Type: "jwt", Audience: "amqps://127.0.0.1/pbx-frames" }).Select(t => t.At).ToList();
        Assert.True(puts.Count >= 2, $"{puts.Count} put-token requests for the sender's link");
        Assert.InRange((puts[1] - puts[0]).TotalSeconds, 170, lifetime.TotalSeconds); // renewed, and before the first expired
        Assert.Equal(seq - 1, broker.Queue("pbx-frames").Accepted.Count);
        Assert.Equal(0, broker.RefusedTokens);
    }
}
