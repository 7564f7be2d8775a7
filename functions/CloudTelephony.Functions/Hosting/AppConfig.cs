using CloudTelephony.Functions.Sms;
using CloudTelephony.Functions.Tenancy;
namespace CloudTelephony.Functions.Hosting;

/// <summary>Reads the settings every command needs, from appsettings.json and environment variables.</summary>
public static class AppConfig
{
    /// <summary>Builds configuration: <c>appsettings.json</c> beside the executable (optional), then environment variables.</summary>
    public static IConfiguration Load() => new ConfigurationBuilder()
        .SetBasePath(AppContext.BaseDirectory)
        .AddJsonFile("appsettings.json", optional: true)
        .AddEnvironmentVariables()
        .Build();

    /// <summary>
    /// The PostgreSQL connection string: <c>ConnectionStrings:Postgres</c> (env <c>ConnectionStrings__Postgres</c>),
    /// else env <c>CT_POSTGRES</c>.
    /// </summary>
    /// <exception cref="ConfigException">Neither is set, or the value is not an Npgsql connection string (the message
    /// names the setting and the part that is wrong, never the password).</exception>
    public static string ConnectionString(IConfiguration config)
    {
        var (key, cs) = config.GetConnectionString("Postgres") is { Length: > 0 } a ? ("ConnectionStrings__Postgres", a)
            : config["CT_POSTGRES"] is { Length: > 0 } env ? ("CT_POSTGRES", env)
            : throw new ConfigException("no database configured: set ConnectionStrings__Postgres (or CT_POSTGRES) to an Npgsql connection string");
        try
        {
            var parsed = new Npgsql.NpgsqlConnectionStringBuilder(cs);
            if (string.IsNullOrWhiteSpace(parsed.Host))
            {
                throw new ConfigException($"{key} is not a usable Npgsql connection string: it names no Host (e.g. Host=127.0.0.1;Port=5432;Username=postgres;Database=cloudtelephony)");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            throw new ConfigException($"{key} is not an Npgsql connection string: {ex.Message.Replace(cs, "…", StringComparison.Ordinal)} (expected Host=...;Port=...;Username=...;Database=...)");
        }

        return cs;
    }
}

/// <summary>A configuration problem that stops the process with one readable line and exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);
