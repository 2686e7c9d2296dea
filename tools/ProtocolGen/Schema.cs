// The schema model: versions, fields, structs and a parsed message schema.
using System.Globalization;
using System.Text.Json;

/// <summary>An inclusive version range; "none" is empty.</summary>
internal readonly record struct Versions(short Low, short High)
{
    public static readonly Versions None = new(1, 0);

    public bool IsEmpty => Low > High;

    public static Versions Parse(string? text)
    {
        if (text is null or "none")
        {
            return None;
        }

        if (text.EndsWith('+'))
        {
            return new(short.Parse(text[..^1], CultureInfo.InvariantCulture), short.MaxValue);
        }

        int dash = text.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? new(short.Parse(text, CultureInfo.InvariantCulture), short.Parse(text, CultureInfo.InvariantCulture))
            : new(short.Parse(text[..dash], CultureInfo.InvariantCulture), short.Parse(text[(dash + 1)..], CultureInfo.InvariantCulture));
    }

    public Versions Intersect(Versions other) => new(Math.Max(Low, other.Low), Math.Min(High, other.High));

    /// <summary>A C# condition on <c>version</c> for this range within <paramref name="valid"/>.</summary>
    public string Condition(Versions valid)
    {
        Versions r = Intersect(valid);
        if (r.IsEmpty)
        {
            return "false";
        }

        bool low = r.Low > valid.Low, high = r.High < valid.High;
        return (low, high) switch
        {
            (false, false) => "true",
            (true, false) => $"version >= {r.Low}",
            (false, true) => $"version <= {r.High}",
            _ => r.Low == r.High ? $"version == {r.Low}" : $"version >= {r.Low} && version <= {r.High}",
        };
    }
}

internal sealed class Field
{
    public Field(JsonElement e, Dictionary<string, StructDef> structs, Dictionary<string, JsonElement> common)
    {
        Name = e.GetProperty("name").GetString()!;
        Type = e.GetProperty("type").GetString()!;
        Versions = Versions.Parse(e.GetProperty("versions").GetString());
        Nullable = Versions.Parse(e.TryGetProperty("nullableVersions", out JsonElement n) ? n.GetString() : null);
        Tagged = Versions.Parse(e.TryGetProperty("taggedVersions", out JsonElement t) ? t.GetString() : null);
        Tag = e.TryGetProperty("tag", out JsonElement tag) ? tag.GetInt32() : -1;
        Default = e.TryGetProperty("default", out JsonElement d) ? (d.ValueKind == JsonValueKind.String ? d.GetString() : d.GetRawText()) : null;
        About = e.TryGetProperty("about", out JsonElement a) ? a.GetString() : null;
        string element = ElementType;
        if (IsStruct)
        {
            if (e.TryGetProperty("fields", out JsonElement fields))
            {
                structs.TryAdd(element, new StructDef(element, fields, structs, common));
            }
            else if (common.TryGetValue(element, out JsonElement c) && !structs.ContainsKey(element))
            {
                structs[element] = new StructDef(element, c.GetProperty("fields"), structs, common);
            }
        }
    }

    public string Name { get; }

    public string Type { get; }

    public Versions Versions { get; }

    public Versions Nullable { get; }

    public Versions Tagged { get; }

    public int Tag { get; }

    public string? Default { get; }

    public string? About { get; }

    public bool IsArray => Type.StartsWith("[]", StringComparison.Ordinal);

    public string ElementType => IsArray ? Type[2..] : Type;

    public bool IsStruct => !Primitives.ContainsKey(ElementType);

    public bool CanBeNull => !Nullable.IsEmpty;

    public static readonly Dictionary<string, string> Primitives = new()
    {
        ["bool"] = "bool",
        ["int8"] = "sbyte",
        ["int16"] = "short",
        ["uint16"] = "ushort",
        ["int32"] = "int",
        ["uint32"] = "uint",
        ["int64"] = "long",
        ["float64"] = "double",
        ["string"] = "string",
        ["bytes"] = "ReadOnlyMemory<byte>",
        ["records"] = "ReadOnlyMemory<byte>",
        ["uuid"] = "Guid",
    };

    /// <summary>Struct classes renamed because a property of the message has the same name.</summary>
    public static Dictionary<string, string> StructRenames { get; } = [];

    public string CsElement => IsStruct ? StructRenames.GetValueOrDefault(ElementType, ElementType) : Primitives[ElementType];

    public string CsType
    {
        get
        {
            if (IsArray)
            {
                return $"List<{CsElement}>" + (CanBeNull ? "?" : string.Empty);
            }

            if (Type is "bytes" or "records")
            {
                return CanBeNull ? "ReadOnlyMemory<byte>?" : "ReadOnlyMemory<byte>";
            }

            if (Type == "string")
            {
                return CanBeNull ? "string?" : "string";
            }

            return IsStruct && (CanBeNull || !Tagged.IsEmpty) ? CsElement + "?" : CsElement;
        }
    }

    public string Initializer()
    {
        if (IsArray)
        {
            return Default == "null" ? string.Empty : " = [];";
        }

        if (IsStruct)
        {
            return CanBeNull || !Tagged.IsEmpty ? string.Empty : " = new();";
        }

        if (Type == "string")
        {
            return Default == "null" ? string.Empty : $" = {Quote(Default ?? string.Empty)};";
        }

        if (Type is "bytes" or "records")
        {
            return string.Empty;
        }

        if (Default is null)
        {
            return string.Empty;
        }

        return Type switch
        {
            "bool" => $" = {Default.ToLowerInvariant()};",
            "uuid" => string.Empty,
            "float64" => $" = {Default};",
            "int64" => $" = {Default}L;",
            "int8" or "int16" or "uint16" => $" = {Default};",
            _ => $" = {(Default.StartsWith("0x", StringComparison.Ordinal) ? "unchecked((int)" + Default + ")" : Default)};",
        };
    }

    /// <summary>The expression a tagged field is compared with to decide whether to write it.</summary>
    public string DefaultExpression()
    {
        if (IsArray || IsStruct || Type is "bytes" or "records")
        {
            return "null";
        }

        if (Type == "string")
        {
            return Default is null or "null" ? "null" : Quote(Default);
        }

        if (Type == "uuid")
        {
            return "Guid.Empty";
        }

        return Default is null ? (Type == "bool" ? "false" : "0") : Type == "bool" ? Default.ToLowerInvariant() : Default;
    }

    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}

internal sealed class StructDef
{
    public StructDef(string name, JsonElement fields, Dictionary<string, StructDef> structs, Dictionary<string, JsonElement> common)
    {
        Name = name;
        foreach (JsonElement f in fields.EnumerateArray())
        {
            Fields.Add(new Field(f, structs, common));
        }
    }

    public string Name { get; }

    public List<Field> Fields { get; } = [];
}

internal sealed class Schema
{
    public Schema(JsonElement root)
    {
        Name = root.GetProperty("name").GetString()!;
        Kind = root.GetProperty("type").GetString()!;
        ApiKey = root.TryGetProperty("apiKey", out JsonElement k) ? k.GetInt32() : -1;
        Valid = Versions.Parse(root.GetProperty("validVersions").GetString());
        Flexible = Versions.Parse(root.TryGetProperty("flexibleVersions", out JsonElement f) ? f.GetString() : "none");
        var common = new Dictionary<string, JsonElement>();
        if (root.TryGetProperty("commonStructs", out JsonElement cs))
        {
            foreach (JsonElement s in cs.EnumerateArray())
            {
                common[s.GetProperty("name").GetString()!] = s;
            }
        }

        Root = new StructDef(Name, root.GetProperty("fields"), Structs, common);
        Field.StructRenames.Clear();
        foreach (Field field in Root.Fields)
        {
            if (Structs.ContainsKey(field.Name))
            {
                Field.StructRenames[field.Name] = field.Name + "Data";
            }
        }
    }

    public string Name { get; }

    public string Kind { get; }

    public int ApiKey { get; }

    public Versions Valid { get; }

    public Versions Flexible { get; }

    public StructDef Root { get; }

    public Dictionary<string, StructDef> Structs { get; } = [];
}
