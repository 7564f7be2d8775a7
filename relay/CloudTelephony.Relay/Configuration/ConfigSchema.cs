using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace CloudTelephony.Relay.Configuration;

/// <summary>
/// The shape of one configuration section, taken from the public settable properties of an options type: which keys
/// exist, which are values of what type, which are sections or lists. <see cref="Check"/> walks what the configuration
/// holds against it before anything is bound, so that every key that is not a setting (with a hint naming the likely
/// key) and every value that cannot be converted (naming the key and the value) is reported — the configuration binder
/// itself silently drops a list element it cannot bind (<c>Relay__Pbxes__1__Port=abc</c> lost PBX 1) and reports a bad
/// value without its key.
/// </summary>
public sealed class ConfigSchema
{
    private readonly Dictionary<string, Node> _keys;
    private readonly Dictionary<string, string> _aliases = new(StringComparer.OrdinalIgnoreCase);

    private ConfigSchema(Dictionary<string, Node> keys) => _keys = keys;

    /// <summary>The keys of this section (property names, as configuration spells them).</summary>
    public IEnumerable<string> Keys => _keys.Keys;

    /// <summary>
    /// The schema of <typeparamref name="T"/>: every public property with a public setter is a key; strings, numbers,
    /// booleans, enums, time spans and their nullable forms are values, <c>List&lt;string&gt;</c> a list of values, a
    /// property named in <paramref name="sections"/> a section (or list of sections) with that schema, any other type a
    /// section that is not checked (e.g. a credential set in code).
    /// </summary>
    /// <param name="sections">Schemas of the nested sections, by property name.</param>
    public static ConfigSchema For<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] T>(
        params (string Key, Node Node)[] sections)
    {
        var keys = new Dictionary<string, Node>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetSetMethod() is null || p.GetIndexParameters().Length > 0)
            {
                continue;
            }

            keys[p.Name] = Classify(p.PropertyType);
        }

        foreach (var (key, node) in sections)
        {
            keys[key] = node;
        }

        return new ConfigSchema(keys);
    }

    /// <summary>Accepts <paramref name="old"/> (a flat key of an earlier release) as an alias of the key path <paramref name="replacement"/> (e.g. <c>Ctip:Pin</c>).</summary>
    public ConfigSchema WithAlias(string old, string replacement)
    {
        _aliases[old] = replacement;
        return this;
    }

    /// <summary>A node of this schema as a nested section.</summary>
    public Node AsSection() => new(NodeKind.Section, null, this);

    /// <summary>A list (<c>:0</c>, <c>:1</c> ...) of sections of this schema.</summary>
    public Node AsList() => new(NodeKind.List, null, this);

    /// <summary>
    /// Checks every key under <paramref name="section"/> (whose full path is <paramref name="path"/>): unknown keys and
    /// values that do not convert go to <paramref name="errors"/>, keys used through an alias to
    /// <paramref name="warnings"/> (one line each naming the new key). Values are named only for non-string settings,
    /// so no secret is ever echoed.
    /// </summary>
    public void Check(IConfigurationSection section, string path, ICollection<string> errors, ICollection<string> warnings)
    {
        foreach (var child in section.GetChildren())
        {
            var key = $"{path}:{child.Key}";
            if (_keys.TryGetValue(child.Key, out var node))
            {
                node.Check(child, key, errors, warnings);
                continue;
            }

            if (_aliases.TryGetValue(child.Key, out var replacement) && Resolve(replacement) is { } target)
            {
                warnings.Add($"{key} is deprecated: use {path}:{replacement} (the old key is accepted in this release only)");
                target.Check(child, key, errors, warnings);
                continue;
            }

            errors.Add($"{key} is not a setting{Hint(child.Key, path)}");
        }
    }

    /// <summary>The node at a relative key path such as <c>Ctip:Pin</c>, or null.</summary>
    private Node? Resolve(string keyPath)
    {
        var parts = keyPath.Split(':');
        var schema = this;
        Node? node = null;
        foreach (var part in parts)
        {
            if (schema is null || !schema._keys.TryGetValue(part, out node))
            {
                return null;
            }

            schema = node.Schema;
        }

        return node;
    }

    private string Hint(string key, string path)
    {
        var candidates = _keys.Keys.Concat(_aliases.Keys);
        var best = candidates
            .Select(c => (Key: c, Distance: Distance(key.ToUpperInvariant(), c.ToUpperInvariant())))
            .Where(c => c.Distance <= Math.Max(2, c.Key.Length / 3)
                || c.Key.StartsWith(key, StringComparison.OrdinalIgnoreCase) || key.StartsWith(c.Key, StringComparison.OrdinalIgnoreCase))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        return best.Key is null ? $" (settings here: {string.Join(", ", _keys.Keys)})" : $" (did you mean {path}:{best.Key}?)";
    }

    /// <summary>Levenshtein distance.</summary>
    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (prev, cur) = (cur, prev);
        }

        return prev[b.Length];
    }

    private static Node Classify(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        var nullable = underlying is not null || !type.IsValueType;
        var t = underlying ?? type;
        if (t == typeof(string) || t == typeof(Uri))
        {
            return new Node(NodeKind.Value, new ValueType(t, Nullable: true), null);
        }

        if (t.IsPrimitive || t.IsEnum || t == typeof(decimal) || t == typeof(TimeSpan))
        {
            return new Node(NodeKind.Value, new ValueType(t, nullable), null);
        }

        if (t == typeof(List<string>) || t == typeof(string[]) || t == typeof(IList<string>) || t == typeof(IReadOnlyList<string>))
        {
            return new Node(NodeKind.ValueList, new ValueType(typeof(string), Nullable: true), null);
        }

        return new Node(NodeKind.Opaque, null, null);
    }

    /// <summary>What a key holds.</summary>
    public enum NodeKind
    {
        /// <summary>One value.</summary>
        Value,

        /// <summary>A list of values (<c>:0</c>, <c>:1</c> ...).</summary>
        ValueList,

        /// <summary>A section with its own schema.</summary>
        Section,

        /// <summary>A list of sections with one schema.</summary>
        List,

        /// <summary>A section that is not checked.</summary>
        Opaque,
    }

    /// <summary>The type of a value and whether it may be empty.</summary>
    public readonly record struct ValueType(Type Type, bool Nullable);

    /// <summary>One key of a schema.</summary>
    public sealed record Node(NodeKind Kind, ValueType? Value, ConfigSchema? Schema)
    {
        internal void Check(IConfigurationSection section, string key, ICollection<string> errors, ICollection<string> warnings)
        {
            var hasChildren = section.GetChildren().Any();
            switch (Kind)
            {
                case NodeKind.Value:
                    if (hasChildren)
                    {
                        errors.Add($"{key} is a value, not a section (found {key}:{section.GetChildren().First().Key})");
                    }
                    else
                    {
                        CheckValue(section.Value, key, Value!.Value, errors);
                    }

                    break;
                case NodeKind.ValueList:
                    foreach (var item in Items(section, key, errors))
                    {
                        if (item.GetChildren().Any())
                        {
                            errors.Add($"{key}:{item.Key} is a value, not a section");
                        }
                    }

                    break;
                case NodeKind.Section:
                    if (!hasChildren && !string.IsNullOrEmpty(section.Value))
                    {
                        errors.Add($"{key} is a section (set {key}:<setting>), not a value");
                        break;
                    }

                    Schema!.Check(section, key, errors, warnings);
                    break;
                case NodeKind.List:
                    if (!hasChildren && !string.IsNullOrEmpty(section.Value))
                    {
                        errors.Add($"{key} is a list (set {key}:0:<setting>), not a value");
                        break;
                    }

                    foreach (var item in Items(section, key, errors))
                    {
                        Schema!.Check(item, $"{key}:{item.Key}", errors, warnings);
                    }

                    break;
            }
        }

        private static IEnumerable<IConfigurationSection> Items(IConfigurationSection section, string key, ICollection<string> errors)
        {
            foreach (var item in section.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    errors.Add($"{key}:{item.Key} is not a list index (use {key}:0, {key}:1 ...)");
                    continue;
                }

                yield return item;
            }
        }

        private static void CheckValue(string? value, string key, ValueType type, ICollection<string> errors)
        {
            var t = type.Type;
            if (t == typeof(string))
            {
                return;
            }

            if (string.IsNullOrEmpty(value))
            {
                if (!type.Nullable)
                {
                    errors.Add($"{key} is empty (expected {Describe(t)})");
                }

                return;
            }

            var ok = t switch
            {
                _ when t == typeof(int) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
                _ when t == typeof(long) => long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
                _ when t == typeof(double) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _),
                _ when t == typeof(decimal) => decimal.TryParse(value, NumberStyles.Number, CultureInfo.InvariantCulture, out _),
                _ when t == typeof(bool) => bool.TryParse(value, out _),
                _ when t == typeof(TimeSpan) => TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out _),
                _ when t == typeof(Uri) => Uri.TryCreate(value, UriKind.RelativeOrAbsolute, out _),
                _ when t.IsEnum => Enum.TryParse(t, value, ignoreCase: true, out _) && !value.Any(char.IsDigit),
                _ => true,
            };
            if (!ok)
            {
                errors.Add($"{key}='{Shorten(value)}' is not {Describe(t)}");
            }
        }

        private static string Describe(Type t) =>
            t == typeof(int) || t == typeof(long) ? "a whole number"
            : t == typeof(double) || t == typeof(decimal) ? "a number (e.g. 1.5)"
            : t == typeof(bool) ? "true or false"
            : t == typeof(TimeSpan) ? "a time span (e.g. 00:00:30)"
            : t.IsEnum ? $"one of {string.Join(", ", Enum.GetNames(t))}"
            : $"a {t.Name}";

        private static string Shorten(string value) => value.Length > 60 ? value[..60] + "…" : value.ReplaceLineEndings(" ");
    }
}
