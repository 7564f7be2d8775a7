using CloudTelephony.Functions.Routing;
using CloudTelephony.Storage;
using System.Buffers;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Caching.Hybrid;

namespace CloudTelephony.Functions.Tenancy;

/// <summary>
/// Tokens and enterprise settings kept in memory for <see cref="RoutingOptions.ConfigCacheSeconds"/> (0 = always from the
/// database), so the hot path does not pay two extra round trips per request.
/// </summary>
public sealed class TenantCache(TokenStore tokens, RoutingStore store, HybridCache cache, RoutingOptions options)
{
    private readonly HybridCacheEntryOptions _entry = new()
    {
        Expiration = TimeSpan.FromSeconds(Math.Max(1, options.ConfigCacheSeconds)),
        LocalCacheExpiration = TimeSpan.FromSeconds(Math.Max(1, options.ConfigCacheSeconds)),
    };

    /// <summary>The token, or null when unknown or revoked.</summary>
    public async ValueTask<ApiToken?> TokenAsync(string secret, CancellationToken ct)
    {
        if (options.ConfigCacheSeconds == 0)
        {
            return await tokens.FindAsync(secret, ct);
        }

        var key = "tok:" + Convert.ToHexString(TokenStore.Hash(secret));
        return await cache.GetOrCreateAsync(key, (tokens, secret), static async (s, c) => await s.tokens.FindAsync(s.secret, c), _entry, cancellationToken: ct);
    }

    /// <summary>Settings of the enterprise and whether <paramref name="trunk"/> is smart-enabled.</summary>
    public async ValueTask<RoutingContext> ContextAsync(long enterpriseId, string? trunk, CancellationToken ct)
    {
        if (options.ConfigCacheSeconds == 0)
        {
            return await LoadAsync(store, enterpriseId, trunk, ct);
        }

        return await cache.GetOrCreateAsync($"ctx:{enterpriseId}:{trunk}", (store, enterpriseId, trunk),
            static async (s, c) => await LoadAsync(s.store, s.enterpriseId, s.trunk, c), _entry, cancellationToken: ct);
    }

    private static async Task<RoutingContext> LoadAsync(RoutingStore store, long enterpriseId, string? trunk, CancellationToken ct)
    {
        var (settings, enabled) = await store.GetContextAsync(enterpriseId, trunk, ct);
        return new RoutingContext(settings, enabled);
    }
}

/// <summary>Settings of an enterprise with the smart flag of one trunk.</summary>
[System.ComponentModel.ImmutableObject(true)]
public sealed record RoutingContext(RoutingSettings Settings, bool TrunkEnabled);

/// <summary>
/// How <see cref="HybridCache"/> stores tenancy entries: source-generated JSON with IP networks as CIDR text. The
/// default serializer wrote <see cref="IPNetwork"/> field by field, and <see cref="IPAddress.ScopeId"/> throws for IPv4,
/// so every request of an enterprise with an IP allowlist answered 500.
/// </summary>
public sealed class TenantCacheSerializer<T>(JsonTypeInfo<T> type) : IHybridCacheSerializer<T>
{
    /// <inheritdoc />
    public T Deserialize(ReadOnlySequence<byte> source)
    {
        var reader = new Utf8JsonReader(source);
        return JsonSerializer.Deserialize(ref reader, type)!;
    }

    /// <inheritdoc />
    public void Serialize(T value, IBufferWriter<byte> target)
    {
        using var writer = new Utf8JsonWriter(target);
        JsonSerializer.Serialize(writer, value, type);
    }
}

/// <summary>An <see cref="IPNetwork"/> as its CIDR text (<c>192.0.2.0/24</c>).</summary>
public sealed class IPNetworkJsonConverter : JsonConverter<IPNetwork>
{
    /// <inheritdoc />
    public override IPNetwork Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => IPNetwork.TryParse(reader.GetString(), out var net) ? net : throw new JsonException($"'{reader.GetString()}' is not a CIDR network");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, IPNetwork value, JsonSerializerOptions options)
        => writer.WriteStringValue(value.ToString());
}

/// <summary>Source-generated JSON of the tenancy cache entries.</summary>
[JsonSourceGenerationOptions(Converters = [typeof(IPNetworkJsonConverter)])]
[JsonSerializable(typeof(RoutingContext))]
[JsonSerializable(typeof(ApiToken))]
public sealed partial class TenantCacheJson : JsonSerializerContext;
