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
    /// <exception cref="ConfigException">Neither is set.</exception>
    public static string ConnectionString(IConfiguration config)
        => config.GetConnectionString("Postgres") is { Length: > 0 } cs ? cs
            : config["CT_POSTGRES"] is { Length: > 0 } env ? env
            : throw new ConfigException("no database configured: set ConnectionStrings__Postgres (or CT_POSTGRES) to an Npgsql connection string");
}

/// <summary>A configuration problem that stops the process with one readable line and exit code 2.</summary>
public sealed class ConfigException(string message) : Exception(message);
