using CloudTelephony.Relay.Hosting;
using CloudTelephony.Relay.Outbox;
using CloudTelephony.ServiceBus;
using Microsoft.Extensions.Configuration;

namespace CloudTelephony.Relay.Configuration;

/// <summary>
/// Reads the <c>Relay</c> section strictly: <see cref="Check"/> reports every key that is not a setting and every value
/// that does not convert (naming key and value) before anything is bound; <see cref="Bind(IConfiguration)"/> binds it, each PBX on its
/// own, with the flat keys of earlier releases (<see cref="IPbxConnectorFactory.LegacyKeys"/>) mapped to their new keys.
/// </summary>
public static class RelayConfiguration
{
    /// <summary>The schema of <c>Relay</c>, with every registered protocol's section under <c>Relay:Pbxes:N</c>.</summary>
    public static ConfigSchema Schema { get; } = BuildSchema();

    private static ConfigSchema BuildSchema()
    {
        var pbx = ConfigSchema.For<PbxOptions>([.. PbxConnectorFactories.All.Select(f => (f.SectionName, f.SectionSchema.AsSection()))]);
        foreach (var f in PbxConnectorFactories.All)
        {
            foreach (var legacy in f.LegacyKeys)
            {
                pbx.WithAlias(legacy.Old, legacy.New);
            }
        }

        return ConfigSchema.For<RelayOptions>(
            (nameof(RelayOptions.Pbxes), pbx.AsList()),
            (nameof(RelayOptions.Forwarder), ConfigSchema.For<ForwarderOptions>().AsSection()),
            (nameof(RelayOptions.Outbox), ConfigSchema.For<OutboxOptions>().AsSection()),
            (nameof(RelayOptions.ServiceBus), ConfigSchema.For<ServiceBusOptions>().AsSection()),
            (nameof(RelayOptions.Smdr), ConfigSchema.For<SmdrListenerOptions>().AsSection()),
            (nameof(RelayOptions.Demo), ConfigSchema.For<DemoOptions>().AsSection()));
    }

    /// <summary>
    /// Checks the <c>Relay</c> section of <paramref name="configuration"/> against <see cref="Schema"/>. Returns the
    /// errors (unknown keys with a hint, values that do not convert) and the warnings (deprecated keys, one line each
    /// naming the new key).
    /// </summary>
    public static (IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings) Check(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var errors = new List<string>();
        var warnings = new List<string>();
        Schema.Check(configuration.GetSection(RelayOptions.SectionName), RelayOptions.SectionName, errors, warnings);
        return (errors, warnings);
    }

    /// <summary>Binds the <c>Relay</c> section of <paramref name="configuration"/> into a new <see cref="RelayOptions"/>.</summary>
    /// <exception cref="InvalidOperationException">A value does not convert (only when <see cref="Check"/> was not heeded).</exception>
    public static RelayOptions Bind(IConfiguration configuration)
    {
        var options = new RelayOptions();
        Bind(configuration, options);
        return options;
    }

    /// <summary>
    /// Binds the <c>Relay</c> section into <paramref name="options"/>. PBXes are bound one by one in key order
    /// (<c>Relay:Pbxes:0</c>, <c>:1</c> ...), each with its legacy flat keys applied where the new key is not set.
    /// </summary>
    public static void Bind(IConfiguration configuration, RelayOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        var section = configuration.GetSection(RelayOptions.SectionName);
        section.Bind(options);
        options.Pbxes = [.. section.GetSection(nameof(RelayOptions.Pbxes)).GetChildren().Select(BindPbx)];
    }

    private static PbxOptions BindPbx(IConfigurationSection section)
    {
        var pbx = new PbxOptions();
        section.Bind(pbx);
        var mapped = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var legacy in PbxConnectorFactories.All.SelectMany(f => f.LegacyKeys))
        {
            var old = section.GetSection(legacy.Old);
            if (!old.Exists() || section.GetSection(legacy.New).Exists())
            {
                continue;
            }

            if (old.Value is not null)
            {
                mapped[legacy.New] = old.Value;
            }

            // relative paths leave out the section itself: its children (AllowedSources:0 ...)
            foreach (var (key, value) in old.AsEnumerable(makePathsRelative: true))
            {
                mapped[$"{legacy.New}:{key}"] = value;
            }
        }

        if (mapped.Count > 0)
        {
            new ConfigurationBuilder().AddInMemoryCollection(mapped).Build().Bind(pbx);
        }

        return pbx;
    }
}
