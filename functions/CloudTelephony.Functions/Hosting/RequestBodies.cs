using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Net.Http.Headers;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// Limits and content types of request bodies: Kestrel's <c>MaxRequestBodySize</c> set explicitly from
/// <c>Http:MaxRequestBodyBytes</c> (default 30,000,000 bytes, Kestrel's own default), a body over it answered
/// <c>413</c> problem details carrying the limit (instead of the unhandled 500 the exception handler made of it), and
/// <c>415</c> for a JSON endpoint called with another content type.
/// </summary>
public static class RequestBodies
{
    /// <summary>Default body limit in bytes (30 MB, as Kestrel's default).</summary>
    public const long DefaultMaxBytes = 30_000_000;

    /// <summary>Problem details extension that carries the body limit in bytes on a 413.</summary>
    public const string LimitExtension = "limitBytes";

    /// <summary>Reads <c>Http:MaxRequestBodyBytes</c> and sets Kestrel's limit to it.</summary>
    /// <exception cref="ConfigException">The value is not a whole number of bytes from 1 KB to 1 GB.</exception>
    public static long ConfigureBodyLimit(this WebApplicationBuilder builder)
    {
        var raw = builder.Configuration["Http:MaxRequestBodyBytes"];
        var limit = DefaultMaxBytes;
        if (!string.IsNullOrWhiteSpace(raw)
            && (!long.TryParse(raw.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1024 or > 1_000_000_000))
        {
            throw new ConfigException($"Http:MaxRequestBodyBytes must be a whole number of bytes from 1024 to 1000000000, not '{raw}'");
        }

        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = limit);
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            // Kestrel reports a body over the limit (and other malformed requests) as BadHttpRequestException.
            if (ctx.Exception is BadHttpRequestException bad)
            {
                ctx.ProblemDetails.Status = bad.StatusCode;
                ctx.ProblemDetails.Title = bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request body too large" : "bad request";
                ctx.ProblemDetails.Detail = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? $"the request body is larger than the limit of {limit} bytes (Http:MaxRequestBodyBytes); split it into smaller requests"
                    : bad.Message;
                if (bad.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    ctx.ProblemDetails.Extensions[LimitExtension] = limit;
                }
            }
        });
        return limit;
    }

    /// <summary>The exception handler: problem details, with the status of a <see cref="BadHttpRequestException"/> (413, 400) kept.</summary>
    public static IApplicationBuilder UseProblemExceptionHandler(this IApplicationBuilder app)
        => app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = ex => ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
        });

    /// <summary>
    /// The endpoint reads a JSON body: a request with another (or no) content type answers 415 problem details before the
    /// handler runs. JSON is <c>application/json</c> or a <c>+json</c> type, any charset.
    /// </summary>
    public static TBuilder RequireJsonBody<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
        => builder.AddEndpointFilter(async (ctx, next) =>
        {
            var type = ctx.HttpContext.Request.ContentType;
            if (!IsJson(type))
            {
                return Results.Problem(
                    statusCode: StatusCodes.Status415UnsupportedMediaType,
                    title: "unsupported content type",
                    detail: $"the body must be JSON with Content-Type: application/json, not {(string.IsNullOrEmpty(type) ? "none" : $"'{type}'")}");
            }

            return await next(ctx);
        });

    /// <summary>Whether <paramref name="contentType"/> names JSON (<c>application/json</c>, <c>application/*+json</c>).</summary>
    public static bool IsJson(string? contentType)
        => MediaTypeHeaderValue.TryParse(contentType, out var media)
           && media.MediaType.Value is { } m
           && (m.Equals("application/json", StringComparison.OrdinalIgnoreCase)
               || (m.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && m.EndsWith("+json", StringComparison.OrdinalIgnoreCase)));
}
