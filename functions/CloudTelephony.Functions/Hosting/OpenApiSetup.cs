using System.Text.Json.Nodes;
using CloudTelephony.Functions.Routing;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The OpenAPI document at <c>GET /api/openapi.json</c> (Microsoft.AspNetCore.OpenApi): every HTTP function with its
/// parameters, bodies, answers and errors, and the ways to send a token — header <c>Token</c> or
/// <c>Authorization: Bearer</c> (plus <c>x-functions-key</c> for ingest under the Functions host). Endpoints with
/// <see cref="TokenAuth.RequireToken{TBuilder}"/> carry the security requirement and their scope; the others say
/// explicitly that they need none. The document passes <c>redocly lint</c> (recommended rules) without warnings and
/// generates exact TypeScript types with openapi-typescript (checked by <c>./ct test</c>).
/// </summary>
public static class OpenApiSetup
{
    /// <summary>Where the document is served.</summary>
    public const string Path = "/api/openapi.json";

    /// <summary>Security scheme: header <c>Token</c>.</summary>
    public const string TokenScheme = "Token";

    /// <summary>Security scheme: <c>Authorization: Bearer</c>.</summary>
    public const string BearerScheme = "Bearer";

    /// <summary>Security scheme: the Azure Functions host's function key (header <c>x-functions-key</c>), ingest under the host.</summary>
    public const string FunctionKeyScheme = "FunctionKey";

    /// <summary>Example values of request and answer bodies, shown in the document.</summary>
    private static readonly Dictionary<Type, string> Examples = new()
    {
        [typeof(ContactRequest)] = """{"name":"Jan Kowalski","company":"ACME","devices":[{"number":"693 109 180","label":"mobile"}]}""",
        [typeof(ContactDeviceRequest)] = """{"number":"+48 693 109 180","label":"office"}""",
        [typeof(SmsSendRequest)] = """{"to":"600 100 200","text":"Dzień dobry, oddzwonimy.","callId":42}""",
        [typeof(SmsAcceptedDto)] = """{"id":42,"to":"+48600100200","status":"NEW"}""",
        [typeof(CustomerDataRequest)] = """{"UniqueId":"1756890000.42","Phone":"693109180","TrunkId":"1","LoadDialPlan":"true"}""",
        [typeof(CustomerDataResponse)] = """{"Name":"Jan Kowalski","DialPlan":"mngr8_1_1"}""",
    };

    /// <summary>Tags of the document with their descriptions (every tag an endpoint uses must be here).</summary>
    public static readonly IReadOnlyDictionary<string, string> Tags = new Dictionary<string, string>
    {
        ["Calls"] = "Call records of the token's enterprise: list with filters and incremental sync, one call with its legs, events and raw frames, counts, CSV.",
        ["Contacts"] = "The enterprise's address book: numbers in E.164, lookup by number in any common format.",
        ["SMS"] = "SMS queued through the enterprise's outbox, with idempotent sends.",
        ["Smart Redirect"] = "The Asterisk macro getcustomerdata (caller name and DialPlan within the budget) and its figures.",
        ["Ingest"] = "What relays send: PBX frames and heartbeats (token scope relay).",
        ["Health"] = "Whether the app, its database, its relays and their PBXes are working.",
        ["Live events"] = "Calls while they happen: the CloudEvents stream (server-sent events with Last-Event-ID resume) and the calls in progress.",
        ["Web app"] = "What the web app for people reads besides the CRM API: its sign-in settings, the token's enterprise and the dashboard figures.",
    };

    /// <summary>
    /// Query and path parameters that are read as text (so a bad value is a problem naming the field) but documented with
    /// their real type: integers, enums, times, booleans.
    /// </summary>
    private static readonly Dictionary<string, Func<OpenApiSchema>> ParameterSchemas = new(StringComparer.Ordinal)
    {
        ["page"] = () => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Default = 1 },
        ["pageSize"] = () => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Maximum = "1000", Default = 50 },
        ["direction"] = () => Enum("inbound", "outbound", "internal"),
        ["status"] = () => Enum("answered", "missed", "busy", "failed", "voicemail", "unknown"),
        ["sort"] = () => Enum("desc", "asc", "updated"),
        ["orderBy"] = () => Enum(CloudTelephony.Functions.Calls.CallEndpoints.SortColumns),
        ["from"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["to"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["updatedSince"] = () => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
        ["bom"] = () => new OpenApiSchema { Type = JsonSchemaType.Boolean, Default = false },
    };

    /// <summary>
    /// <see cref="ParameterSchemas"/> of one endpoint (by endpoint name) where a name means something else there: the SMS
    /// outbox's <c>status</c> is an SMS status and its <c>to</c> a phone number, not a time.
    /// </summary>
    private static readonly Dictionary<(string Endpoint, string Parameter), Func<OpenApiSchema>> EndpointParameterSchemas = new()
    {
        [("SmsList", "status")] = () => Enum([.. CloudTelephony.Storage.SmsOutboxQueries.Statuses]),
        [("SmsList", "to")] = () => new OpenApiSchema { Type = JsonSchemaType.String },
        [("SmsList", "pageSize")] = () => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Maximum = "500", Default = 50 },
    };

    /// <summary>Registers the document and its transformers.</summary>
    public static IServiceCollection AddCrmOpenApi(this IServiceCollection services)
        => services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((doc, _, _) =>
            {
                doc.Info = new OpenApiInfo
                {
                    Title = "CloudTelephony API",
                    Version = "v1",
                    Description = "Calls, contacts and SMS of the token's enterprise (token scope crm), Smart Redirect (scope routing), " +
                                  "ingest (scope relay) and health. Errors are RFC 9457 problem details; validation errors name the field. " +
                                  "Unknown query parameters answer 400. JSON numbers are numbers, never strings.",
                    License = new OpenApiLicense { Name = "Proprietary", Identifier = "LicenseRef-Proprietary" },
                };
                // Relative: the document is right wherever it is served (standalone, behind the Functions host, a proxy).
                doc.Servers = [new OpenApiServer { Url = "/", Description = "this app" }];
                doc.Components ??= new OpenApiComponents();
                doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                doc.Components.SecuritySchemes[TokenScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = TokenAuth.HeaderName,
                    Description = "API token (./ct admin token create --enterprise E --scope crm|routing|relay).",
                };
                doc.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "The same API token as 'Authorization: Bearer <token>'.",
                };
                doc.Components.SecuritySchemes[FunctionKeyScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = "x-functions-key",
                    Description = "Under the Azure Functions host only: the function key of IngestHttp / RelayHeartbeatHttp (authLevel function), besides the relay token.",
                };
                var used = doc.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []).SelectMany(op => op.Tags ?? new HashSet<OpenApiTagReference>())
                    .Select(t => t.Name).Where(n => n is not null).Distinct().ToList();
                doc.Tags = new HashSet<OpenApiTag>(used.Select(n => new OpenApiTag
                {
                    Name = n,
                    Description = Tags.TryGetValue(n!, out var d) ? d : throw new InvalidOperationException($"OpenAPI tag '{n}' has no description in OpenApiSetup.Tags"),
                }));
                return Task.CompletedTask;
            });
            o.AddSchemaTransformer((schema, context, _) =>
            {
                if (Examples.TryGetValue(context.JsonTypeInfo.Type, out var example))
                {
                    schema.Examples = [JsonNode.Parse(example)!];
                }

                return Task.CompletedTask;
            });
            o.AddOperationTransformer((op, context, _) =>
            {
                var doc = context.Document!;
                var endpoint = context.Description.ActionDescriptor.EndpointMetadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName ?? "";
                foreach (var p in op.Parameters ?? [])
                {
                    if (p is OpenApiParameter parameter && parameter.Name is { } name
                        && (EndpointParameterSchemas.TryGetValue((endpoint, name), out var schema) || ParameterSchemas.TryGetValue(name, out schema)))
                    {
                        parameter.Schema = schema();
                    }
                }

                // Every /api endpoint rejects unknown query parameters and control characters (StrictQuery).
                op.Responses ??= new OpenApiResponses();
                if (!op.Responses.ContainsKey("400"))
                {
                    op.Responses["400"] = new OpenApiResponse
                    {
                        Description = "Bad Request: an unknown query parameter or a control character in a value",
                        Content = new Dictionary<string, OpenApiMediaType>
                        {
                            ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference("HttpValidationProblemDetails", doc) },
                        },
                    };
                }

                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<CloudTelephony.Functions.Calls.CsvRepresentation>().Any()
                    && op.Responses.TryGetValue("200", out var ok) && ok is OpenApiResponse okResponse)
                {
                    okResponse.Content ??= new Dictionary<string, OpenApiMediaType>();
                    okResponse.Content["text/csv"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
                }

                var scope = context.Description.ActionDescriptor.EndpointMetadata.OfType<TokenScope>().FirstOrDefault();
                op.Security ??= [];
                if (scope is null)
                {
                    op.Security.Add(new OpenApiSecurityRequirement()); // {}: no token needed
                    return Task.CompletedTask;
                }

                op.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, doc)] = [] });
                op.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(TokenScheme, doc)] = [] });
                if (scope.Scope == "relay")
                {
                    // under the Functions host the function key comes with the token
                    op.Security.Add(new OpenApiSecurityRequirement
                    {
                        [new OpenApiSecuritySchemeReference(BearerScheme, doc)] = [],
                        [new OpenApiSecuritySchemeReference(FunctionKeyScheme, doc)] = [],
                    });
                }
                op.Description = (op.Description is { Length: > 0 } d ? d + " " : "") + $"Token scope: {scope.Scope}.";
                return Task.CompletedTask;
            });
        });

    private static OpenApiSchema Enum(params string[] values)
        => new() { Type = JsonSchemaType.String, Enum = values.Select(v => (JsonNode)JsonValue.Create(v)!).ToList() };
}
