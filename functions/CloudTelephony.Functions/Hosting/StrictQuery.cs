using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.AspNetCore.Mvc;

namespace CloudTelephony.Functions.Hosting;

/// <summary>Endpoint metadata: the endpoint accepts any query parameter (fixed outside contracts, the docs page).</summary>
public sealed class AnyQueryParameters;

/// <summary>
/// 400 for query parameters an endpoint does not take and for control characters in query and path values: a misspelled or unsupported parameter (<c>limit</c>,
/// <c>offset</c>, <c>order</c>) would otherwise be ignored silently and the client would read the wrong data. Applies to
/// every endpoint under <c>/api/</c> except those with <see cref="AnyQueryParameters"/>; an endpoint takes the names of its
/// handler's <c>[FromQuery]</c> parameters (and of <c>[AsParameters]</c> types' <c>[FromQuery]</c> properties), plus
/// <c>code</c>, the Azure Functions host's function key.
/// </summary>
public static class StrictQuery
{
    /// <summary>Query parameters every endpoint tolerates: <c>code</c> (the Functions host's function key).</summary>
    public static readonly IReadOnlySet<string> Always = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "code" };

    private static readonly ConcurrentDictionary<Endpoint, IReadOnlySet<string>> Allowed = new();

    /// <summary>Adds the checks (after routing, before the endpoint runs): unknown query parameters, and control
    /// characters (NUL included) in any query or route value (<see cref="TextInput.SingleLineProblem"/>), each 400
    /// problem details naming the parameter.</summary>
    public static IApplicationBuilder UseStrictQuery(this IApplicationBuilder app)
        => app.Use(async (http, next) =>
        {
            if (http.GetEndpoint() is { } endpoint && http.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
            {
                var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
                if (http.Request.QueryString.HasValue && endpoint.Metadata.GetMetadata<AnyQueryParameters>() is null)
                {
                    var allowed = Allowed.GetOrAdd(endpoint, Names);
                    var takes = allowed.Count == 0 ? "no query parameters" : "only " + string.Join(", ", allowed.Order(StringComparer.Ordinal));
                    foreach (var k in http.Request.Query.Keys.Where(k => !allowed.Contains(k) && !Always.Contains(k)))
                    {
                        errors[k] = [$"unknown query parameter; this endpoint takes {takes}"];
                    }
                }

                foreach (var (k, v) in http.Request.Query)
                {
                    foreach (var value in v)
                    {
                        TextInput.CheckSingleLine(value, k, errors);
                    }
                }

                foreach (var (k, v) in http.Request.RouteValues)
                {
                    TextInput.CheckSingleLine(v as string, k, errors);
                }

                if (errors.Count > 0)
                {
                    await Results.ValidationProblem(errors, title: "invalid query parameter or path value").ExecuteAsync(http);
                    return;
                }
            }

            await next(http);
        });

    /// <summary>The query parameter names the endpoint's handler binds (case-insensitive, as ASP.NET Core binds them).</summary>
    public static IReadOnlySet<string> Names(Endpoint endpoint)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (endpoint.Metadata.GetMetadata<MethodInfo>() is not { } method)
        {
            return names;
        }

        foreach (var p in method.GetParameters())
        {
            if (p.GetCustomAttribute<FromQueryAttribute>() is { } q)
            {
                names.Add(q.Name ?? p.Name!);
            }
            else if (p.GetCustomAttribute<AsParametersAttribute>() is not null)
            {
                foreach (var prop in p.ParameterType.GetProperties())
                {
                    if (prop.GetCustomAttribute<FromQueryAttribute>() is { } pq)
                    {
                        names.Add(pq.Name ?? prop.Name);
                    }
                }
            }
        }

        return names;
    }

    /// <summary>Marks the endpoint as taking any query parameter.</summary>
    public static TBuilder AllowAnyQuery<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(new AnyQueryParameters());
}
