using System.Globalization;
using System.Text.Json;

namespace FastIommu.Cli.Scenarios;

/// <summary>
/// One JSON object of a scenario being read, with its path (<c>$.devices[2]</c>): typed field reads that throw
/// <see cref="ScenarioException"/> naming the field's path, and a final check that no unknown field (a typo) was given.
/// </summary>
internal sealed class JsonObject
{
    private readonly JsonElement _element;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public JsonObject(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new ScenarioException(path, $"expected an object, found {Describe(element)}");
        }

        _element = element;
        Path = path;
    }

    public string Path { get; }

    public string PathOf(string field) => $"{Path}.{field}";

    public bool Has(string field) => _element.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>The field's value, or null when it is absent or null.</summary>
    public JsonElement? Get(string field)
    {
        _read.Add(field);
        return _element.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
    }

    public JsonElement Require(string field) =>
        Get(field) ?? throw new ScenarioException(PathOf(field), "missing (required)");

    public string RequireString(string field) => AsString(Require(field), PathOf(field));

    public string? OptionalString(string field) => Get(field) is { } v ? AsString(v, PathOf(field)) : null;

    public ulong RequireNumber(string field) => AsNumber(Require(field), PathOf(field));

    public ulong OptionalNumber(string field, ulong fallback) => Get(field) is { } v ? AsNumber(v, PathOf(field)) : fallback;

    /// <summary>The field's array elements (empty when absent).</summary>
    public IEnumerable<(JsonElement Element, string Path)> Array(string field)
    {
        if (Get(field) is not { } v)
        {
            yield break;
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw new ScenarioException(PathOf(field), $"expected an array, found {Describe(v)}");
        }

        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            yield return (item, $"{PathOf(field)}[{i.ToString(CultureInfo.InvariantCulture)}]");
            i++;
        }
    }

    /// <summary>Refuses fields this reader never asked for: a misspelt field is an error, not silently ignored.</summary>
    public void RejectUnknownFields()
    {
        foreach (var property in _element.EnumerateObject())
        {
            if (!_read.Contains(property.Name))
            {
                throw new ScenarioException(PathOf(property.Name), "unknown field");
            }
        }
    }

    public static string AsString(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new ScenarioException(path, $"expected a string, found {Describe(value)}");

    /// <summary>A JSON number (a non-negative integer) or a string holding one (hex with 0x, or decimal).</summary>
    public static ulong AsNumber(JsonElement value, string path)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            return value.TryGetUInt64(out ulong n)
                ? n
                : throw new ScenarioException(path, $"expected a non-negative integer, found {value.GetRawText()}");
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            string text = value.GetString()!;
            return Numbers.TryParse(text, out ulong n)
                ? n
                : throw new ScenarioException(path, $"\"{text}\" is not a number (hex with 0x, or decimal)");
        }

        throw new ScenarioException(path, $"expected a number, found {Describe(value)}");
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string \"{value.GetString()}\"",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => "null",
    };
}
