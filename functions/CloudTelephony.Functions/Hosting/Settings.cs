using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace CloudTelephony.Functions.Hosting;

/// <summary>
/// Settings sections bound with Microsoft.Extensions.Options: a value that cannot be converted names its key and value
/// (<see cref="ConfigException"/>), DataAnnotations ranges are checked when the host starts (<c>ValidateOnStart</c>)
/// and reported as <c>Section:Key = 'value': reason</c>. Program.cs turns both into one line and exit code 2.
/// </summary>
public static partial class Settings
{
    /// <summary>Registers <typeparamref name="T"/> bound from <paramref name="section"/>, validated (DataAnnotations on its
    /// properties, then <paramref name="check"/>) when the host starts, and also as a singleton <typeparamref name="T"/>
    /// for the services that take it directly.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">Configuration to bind from.</param>
    /// <param name="section">Section name, e.g. <c>Sms</c>.</param>
    /// <param name="check">More checks; throws <see cref="ConfigException"/> (or returns an error text) for a bad combination.</param>
    public static OptionsBuilder<T> AddSettings<T>(this IServiceCollection services, IConfiguration configuration, string section, Func<T, string?>? check = null)
        where T : class
    {
        var builder = services.AddOptions<T>().Configure(o => Bind(configuration.GetSection(section), o));
        services.AddSingleton<IValidateOptions<T>>(new AnnotationsValidator<T>(section, configuration.GetSection(section), check));
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
        return builder.ValidateOnStart();
    }

    /// <summary>Binds <paramref name="section"/> onto a new <typeparamref name="T"/> and validates it at once, for settings
    /// the app's composition needs before the host exists (and for commands that have no host).</summary>
    /// <exception cref="ConfigException">A value cannot be converted or is out of range.</exception>
    public static T Read<T>(IConfiguration configuration, string section, Func<T, string?>? check = null)
        where T : class, new()
    {
        var s = configuration.GetSection(section);
        var value = new T();
        Bind(s, value);
        var result = new AnnotationsValidator<T>(section, s, check).Validate(null, value);
        return result.Failed ? throw new ConfigException(result.FailureMessage) : value;
    }

    /// <summary>Binds <paramref name="section"/> onto <paramref name="target"/>.</summary>
    /// <exception cref="ConfigException">A value cannot be converted; the message names the key (and its environment
    /// variable) and the value.</exception>
    public static void Bind(IConfiguration section, object target)
    {
        try
        {
            section.Bind(target);
        }
        catch (InvalidOperationException ex) when (BinderError().Match(ex.Message) is { Success: true } m)
        {
            var key = m.Groups["key"].Value;
            throw new ConfigException($"setting {key} (env {key.Replace(":", "__", StringComparison.Ordinal)}) = '{m.Groups["value"].Value}' is not a valid {Friendly(m.Groups["type"].Value)}");
        }
    }

    /// <summary>The one line an operator sees for a start-up failure, or null when <paramref name="ex"/> is not one.</summary>
    /// <remarks>Configuration errors, options validation, Npgsql connection strings that do not parse and a listen
    /// address that is taken or malformed.</remarks>
    public static string? StartupProblem(Exception ex)
    {
        switch (ex)
        {
            case ConfigException c:
                return c.Message;
            case OptionsValidationException o:
                return string.Join("; ", o.Failures);
            case AggregateException a when a.InnerExceptions.Select(StartupProblem).ToList() is { } all && all.All(x => x is not null):
                return string.Join("; ", all);
            case InvalidOperationException when BinderError().Match(ex.Message) is { Success: true } m:
                return $"setting {m.Groups["key"].Value} = '{m.Groups["value"].Value}' is not a valid {Friendly(m.Groups["type"].Value)}";
            case IOException when ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException || ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase):
                return $"{ex.Message.TrimEnd('.')} (another process listens there: stop it, or choose another address with --urls or ASPNETCORE_URLS)";
            default:
                return ex.InnerException is { } inner && ex is TargetInvocationException ? StartupProblem(inner) : null;
        }
    }

    private static string Friendly(string type) => type switch
    {
        "System.Int32" or "System.Int64" => "whole number",
        "System.Double" or "System.Decimal" => "number",
        "System.Boolean" => "boolean (true or false)",
        "System.TimeSpan" => "time span (hh:mm:ss)",
        _ => type.StartsWith("System.", StringComparison.Ordinal) ? type[7..] : type,
    };

    [GeneratedRegex(@"^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'", RegexOptions.Singleline)]
    private static partial Regex BinderError();

    /// <summary>DataAnnotations on the properties of <typeparamref name="T"/> (and of its nested settings classes), reported
    /// with the full key and the configured value.</summary>
    private sealed class AnnotationsValidator<T>(string section, IConfiguration config, Func<T, string?>? check) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var failures = new List<string>();
            Collect(options, section, config, failures);
            if (failures.Count == 0 && check?.Invoke(options) is { } problem)
            {
                failures.Add(problem);
            }

            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }

        private static void Collect(object target, string prefix, IConfiguration config, List<string> failures)
        {
            foreach (var p in target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (p.GetIndexParameters().Length > 0 || !p.CanRead)
                {
                    continue;
                }

                var value = p.GetValue(target);
                var key = $"{prefix}:{p.Name}";
                foreach (var attribute in p.GetCustomAttributes<ValidationAttribute>())
                {
                    var result = attribute.GetValidationResult(value, new ValidationContext(target) { MemberName = p.Name, DisplayName = key });
                    if (result != ValidationResult.Success)
                    {
                        var shown = config[p.Name] ?? Convert.ToString(value, CultureInfo.InvariantCulture);
                        failures.Add($"setting {key} (env {key.Replace(":", "__", StringComparison.Ordinal)}) = '{shown}': {result?.ErrorMessage}");
                    }
                }

                if (value is not null && p.PropertyType.IsClass && p.PropertyType != typeof(string) && !p.PropertyType.IsArray
                    && p.PropertyType.Namespace?.StartsWith("CloudTelephony", StringComparison.Ordinal) == true)
                {
                    Collect(value, key, config.GetSection(p.Name), failures);
                }
            }
        }
    }
}

/// <summary>The setting must be an ISO 3166 region libphonenumber knows (<c>PL</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PhoneRegionAttribute : ValidationAttribute
{
    /// <inheritdoc/>
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
        => value is string s && Telephony.Routing.PhoneNormalizer.IsKnownRegion(s)
            ? ValidationResult.Success
            : new ValidationResult("not a region with phone numbering (ISO 3166 code such as PL, DE, GB)");
}
