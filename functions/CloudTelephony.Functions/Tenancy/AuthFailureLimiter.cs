using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using CloudTelephony.Functions.Hosting;

namespace CloudTelephony.Functions.Tenancy;

/// <summary>Settings of the failed-authentication limiter (section <c>Auth</c>, env <c>Auth__Name</c>).</summary>
public sealed class AuthOptions
{
    /// <summary>Failed authentications (missing, unknown or revoked token) a client address may make at once. Default 20.</summary>
    public int FailureBurst { get; set; } = 20;

    /// <summary>Failed authentications per minute a client address gets back after the burst is used up. Default 10.</summary>
    public int FailuresPerMinute { get; set; } = 10;

    /// <summary>How long a token that authenticated stays exempt from its address's lockout, in minutes (a valid
    /// client behind the same address as an attacker keeps working). Default 30.</summary>
    public int KnownTokenMinutes { get; set; } = 30;

    /// <summary>Reads and checks the section.</summary>
    /// <exception cref="ConfigException">A value is out of range.</exception>
    public static AuthOptions From(IConfiguration configuration)
    {
        var o = configuration.GetSection("Auth").Get<AuthOptions>() ?? new AuthOptions();
        if (o.FailureBurst is < 1 or > 100_000)
        {
            throw new ConfigException($"Auth:FailureBurst must be 1–100000, not {o.FailureBurst}");
        }

        if (o.FailuresPerMinute is < 1 or > 100_000)
        {
            throw new ConfigException($"Auth:FailuresPerMinute must be 1–100000, not {o.FailuresPerMinute}");
        }

        if (o.KnownTokenMinutes is < 0 or > 1440)
        {
            throw new ConfigException($"Auth:KnownTokenMinutes must be 0–1440, not {o.KnownTokenMinutes}");
        }

        return o;
    }
}

/// <summary>
/// Rate limit of failed authentication per client address (System.Threading.RateLimiting token buckets, the limiter
/// behind ASP.NET Core's rate limiting middleware, partitioned by address). Each missing, unknown or revoked token
/// takes one permit of its address's bucket; while the bucket is empty, requests from that address answer 429 with
/// <c>Retry-After</c> before any token lookup (so guessing tokens costs no database round trip), except requests with
/// a token that authenticated recently from anywhere (kept as its hash for <see cref="AuthOptions.KnownTokenMinutes"/>).
/// </summary>
public sealed class AuthFailureLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _known = new(StringComparer.Ordinal);
    private readonly AuthOptions _options;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _refill;

    /// <summary>Creates the limiter.</summary>
    public AuthFailureLimiter(AuthOptions options, TimeProvider clock)
    {
        _options = options;
        _clock = clock;
        _refill = TimeSpan.FromMinutes(1) / options.FailuresPerMinute;
        _limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.FailureBurst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = _refill,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Seconds a locked-out client should wait (one refill period, rounded up).</summary>
    public int RetryAfterSeconds => (int)Math.Ceiling(_refill.TotalSeconds);

    /// <summary>The partition key of a client address (IPv4-mapped IPv6 as IPv4; none = <c>"(unknown)"</c>).</summary>
    public static string Key(IPAddress? address)
        => address is null ? "(unknown)" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    /// <summary>
    /// Whether a request from <paramref name="address"/> with <paramref name="secret"/> may be looked up: true while the
    /// address has failures left, or when the token authenticated recently.
    /// </summary>
    public bool MayTry(IPAddress? address, string? secret)
    {
        // Not AttemptAcquire(0): the bucket refills in fractions, and a fraction of a permit already counts as "available".
        var left = _limiter.GetStatistics(Key(address))?.CurrentAvailablePermits ?? 1;
        return left >= 1 || (secret is not null && IsKnown(secret));
    }

    /// <summary>Counts one failed authentication of <paramref name="address"/>.</summary>
    public void Failed(IPAddress? address)
    {
        using var lease = _limiter.AttemptAcquire(Key(address));
    }

    /// <summary>Remembers a token that authenticated (by its hash), so its address's lockout does not stop it.</summary>
    public void Succeeded(string secret)
    {
        if (_options.KnownTokenMinutes == 0)
        {
            return;
        }

        var now = _clock.GetUtcNow();
        _known[HashOf(secret)] = now.AddMinutes(_options.KnownTokenMinutes);
        if (_known.Count > 10_000)
        {
            foreach (var (k, until) in _known)
            {
                if (until < now)
                {
                    _known.TryRemove(k, out _);
                }
            }
        }
    }

    /// <summary>The <c>Retry-After</c> header value for a locked-out client.</summary>
    public string RetryAfter => RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public void Dispose() => _limiter.Dispose();

    private bool IsKnown(string secret)
        => _known.TryGetValue(HashOf(secret), out var until) && until >= _clock.GetUtcNow();

    private static string HashOf(string secret) => Convert.ToHexString(CloudTelephony.Storage.TokenStore.Hash(secret));
}
