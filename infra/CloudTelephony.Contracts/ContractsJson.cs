using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudTelephony.Contracts;

/// <summary>
/// Source-generated System.Text.Json metadata for the contracts: camelCase property names, ISO 8601 times.
/// Use <see cref="ContractsJson.Default"/> (e.g. <c>ContractsJson.Default.EnvelopeArray</c>) for (de)serialization.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(Envelope))]
[JsonSerializable(typeof(Envelope[]))]
[JsonSerializable(typeof(List<Envelope>))]
[JsonSerializable(typeof(RelayHeartbeat))]
public sealed partial class ContractsJson : JsonSerializerContext;
