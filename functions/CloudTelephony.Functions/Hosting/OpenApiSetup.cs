using System.Text.Json.Nodes;
using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// The OpenAPI document at <c>GET /api/openapi.json</c> (Microsoft.AspNetCore.OpenApi): every HTTP function with its
/// parameters, answers and errors, and the two ways to send a token — header <c>Token</c> or <c>Authorization: Bearer</c>.
/// Endpoints with <see cref="TokenAuth.RequireToken{TBuilder}"/> carry the security requirement and their scope.
/// </summary>
public static class OpenApiSetup
{
    /// <summary>Where the document is served.</summary>
    public const string Path = "/api/openapi.json";

    /// <summary>Security scheme: header <c>Token</c>.</summary>
    public const string TokenScheme = "Token";

    /// <summary>Security scheme: <c>Authorization: Bearer</c>.</summary>
    public const string BearerScheme = "Bearer";

    /// <summary>Example values of request and answer bodies, shown in the document.</summary>
    private static readonly Dictionary<Type, string> Examples = new()
    {
        [typeof(ContactRequest)] = """{"name":"Jan Kowalski","company":"ACME","devices":[{"number":"693 109 180","label":"mobile"}]}""",
        [typeof(ContactDeviceRequest)] = """{"number":"+48 693 109 180","label":"office"}""",
        [typeof(SmsSendRequest)] = """{"to":"600 100 200","text":"Dzień dobry, oddzwonimy."}""",
        [typeof(SmsAcceptedDto)] = """{"id":42,"to":"+48600100200","status":"NEW"}""",
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
                                  "ingest and health. Errors are RFC 9457 problem details; validation errors name the field.",
                };
                doc.Components ??= new OpenApiComponents();
                doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                doc.Components.SecuritySchemes[TokenScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = TokenAuth.HeaderName,
                    Description = "API token (./ct admin token create --enterprise E --scope crm).",
                };
                doc.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "The same API token as 'Authorization: Bearer <token>'.",
                };
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
                var scope = context.Description.ActionDescriptor.EndpointMetadata.OfType<TokenScope>().FirstOrDefault();
                if (scope is null)
                {
                    return Task.CompletedTask;
                }

                var doc = context.Document;
                op.Security ??= [];
                op.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(TokenScheme, doc)] = [] });
                op.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, doc)] = [] });
                op.Description = (op.Description is { Length: > 0 } d ? d + " " : "") + $"Token scope: {scope.Scope}.";
                return Task.CompletedTask;
            });
        });
}
