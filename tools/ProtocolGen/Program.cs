// Generates C# message classes from Kafka's JSON message schemas.
//
// Run by hand when the schemas or the generator change; the output is committed and the build never
// reads the schemas:
//   dotnet run --project tools/ProtocolGen -- ../shared/kafka-protocol/messages src/Protocol/Messages/Generated
//
// For each request/response/data schema it writes one sealed class with a property per field, nested
// classes for the structs, and Read/Write methods that follow the schema's versions, nullable versions,
// flexible versions (compact encodings and tagged fields) exactly. It also writes ApiMessages.g.cs: the
// per-API tables (schema versions, flexible versions, request and response factories) for every API
// whose request and response it generated.
using System.Globalization;
using System.Text;
using System.Text.Json;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: ProtocolGen <schema directory> <output directory>");
    return 2;
}

string[] wanted =
[
    "ApiVersions", "Metadata", "Produce", "Fetch", "ListOffsets", "CreateTopics", "DeleteTopics",
    "CreatePartitions", "DescribeConfigs", "AlterConfigs", "IncrementalAlterConfigs", "DeleteRecords",
    "DescribeCluster", "InitProducerId", "OffsetForLeaderEpoch", "FindCoordinator", "JoinGroup", "SyncGroup",
    "Heartbeat", "LeaveGroup", "OffsetCommit", "OffsetFetch", "ListGroups", "DescribeGroups", "DeleteGroups",
    "ConsumerGroupHeartbeat", "ConsumerGroupDescribe", "SaslHandshake", "SaslAuthenticate",
    "DescribeUserScramCredentials", "AlterUserScramCredentials", "DescribeAcls", "CreateAcls", "DeleteAcls",
    "DescribeClientQuotas", "AlterClientQuotas", "ElectLeaders", "AlterPartitionReassignments",
    "ListPartitionReassignments",
];

Directory.CreateDirectory(args[1]);
foreach (string old in Directory.EnumerateFiles(args[1], "*.g.cs"))
{
    File.Delete(old);
}

var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
int count = 0;
var apis = new SortedDictionary<int, (Schema? Request, Schema? Response)>();
foreach (string path in Directory.EnumerateFiles(args[0], "*.json").Order(StringComparer.Ordinal))
{
    string file = Path.GetFileNameWithoutExtension(path);
    bool isData = file.StartsWith("ConsumerProtocol", StringComparison.Ordinal);
    if (!isData && !wanted.Any(w => file == w + "Request" || file == w + "Response"))
    {
        continue;
    }

    using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path), options);
    var schema = new Schema(doc.RootElement);
    File.WriteAllText(Path.Combine(args[1], schema.Name + ".g.cs"), new Emitter(schema).Emit());
    count++;
    if (schema.Kind is "request" or "response")
    {
        (Schema? request, Schema? response) = apis.GetValueOrDefault(schema.ApiKey);
        apis[schema.ApiKey] = schema.Kind == "request" ? (schema, response) : (request, schema);
    }
}

File.WriteAllText(Path.Combine(args[1], "ApiMessages.g.cs"), ApiTables.Emit(apis));

Console.WriteLine($"Generated {count} messages into {args[1]}");
return 0;

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

internal sealed class Emitter(Schema schema)
{
    private readonly StringBuilder _out = new();
    private int _indent;

    public string Emit()
    {
        Line("// <auto-generated>");
        Line($"// Generated by tools/ProtocolGen from Kafka's {schema.Name}.json. Do not edit by hand.");
        Line("// </auto-generated>");
        Line("#nullable enable");
        Line("#pragma warning disable CA1002, CA1819, CA1805, CA2227, CS0162, CS1591, IDE0005, IDE0028");
        Line("using LogBroker.Protocol.Primitives;");
        Line();
        Line("namespace LogBroker.Protocol.Messages;");
        Line();
        string kindDoc = schema.Kind == "data" ? "data structure" : schema.Kind;
        Line($"/// <summary>Kafka {schema.Name} ({kindDoc}{(schema.ApiKey >= 0 ? $", API key {schema.ApiKey}" : string.Empty)}), versions {schema.Valid.Low}–{schema.Valid.High}, flexible {(schema.Flexible.IsEmpty ? "never" : schema.Flexible.Low + "+")}.</summary>");
        Line($"public sealed partial class {schema.Name} : IKafkaMessage");
        Open();
        if (schema.ApiKey >= 0)
        {
            Line($"public const short ApiKey = {schema.ApiKey};");
        }

        Line($"public const short LowestVersion = {schema.Valid.Low};");
        Line($"public const short HighestVersion = {schema.Valid.High};");
        Line();
        Line("/// <summary>True when <paramref name=\"version\"/> uses compact encodings and tagged fields.</summary>");
        Line($"public static bool IsFlexible(short version) => {(schema.Flexible.IsEmpty ? "false" : $"version >= {schema.Flexible.Low}")};");
        Line();
        Line("private static ReadOnlyMemory<byte> NullNotAllowed(ref KafkaReader reader)");
        Open();
        Line("reader.MarkFailed();");
        Line("return default;");
        Close();
        Line();
        EmitBody(schema.Root, isRoot: true);
        foreach (StructDef s in schema.Structs.Values)
        {
            Line();
            Line($"public sealed partial class {Field.StructRenames.GetValueOrDefault(s.Name, s.Name)}");
            Open();
            EmitBody(s, isRoot: false);
            Close();
        }

        Close();
        return _out.ToString();
    }

    private void EmitBody(StructDef def, bool isRoot)
    {
        foreach (Field f in def.Fields)
        {
            if (f.About is not null)
            {
                Line($"/// <summary>{System.Security.SecurityElement.Escape(f.About)} (versions {f.Versions.Low}{(f.Versions.High == short.MaxValue ? "+" : "–" + f.Versions.High)})</summary>");
            }

            Line($"public {f.CsType} {f.Name} {{ get; set; }}{f.Initializer()}");
        }

        Line();
        Line("/// <summary>Reads the fields of <paramref name=\"version\"/>; malformed input sets <see cref=\"KafkaReader.Failed\"/>.</summary>");
        Line(isRoot ? "public void Read(ref KafkaReader reader, short version)" : "public void Read(ref KafkaReader reader, short version)");
        Open();
        Line("bool flexible = IsFlexible(version);");
        foreach (Field f in def.Fields.Where(f => f.Tagged.IsEmpty))
        {
            string cond = f.Versions.Condition(schema.Valid);
            if (cond == "false")
            {
                continue;
            }

            If(cond, () => ReadField(f, f.Name));
        }

        Line("if (flexible)");
        Open();
        var tagged = def.Fields.Where(f => !f.Tagged.IsEmpty).ToList();
        if (tagged.Count == 0)
        {
            Line("reader.SkipTaggedFields();");
        }
        else
        {
            Line("uint tagCount = reader.ReadUnsignedVarInt();");
            Line("for (uint t = 0; t < tagCount && !reader.Failed; t++)");
            Open();
            Line("uint tag = reader.ReadUnsignedVarInt();");
            Line("int size = (int)Math.Min(reader.ReadUnsignedVarInt(), int.MaxValue);");
            Line("int end = reader.Position + size;");
            Line("switch (tag)");
            Open();
            foreach (Field f in tagged)
            {
                Line($"case {f.Tag} when {f.Tagged.Condition(schema.Valid)}:");
                _indent++;
                ReadField(f, f.Name);
                Line("break;");
                _indent--;
            }

            Line("default:");
            _indent++;
            Line("reader.ReadRaw(size);");
            Line("break;");
            _indent--;
            Close();
            Line("if (reader.Position != end)");
            Open();
            Line("reader.MarkFailed();");
            Close();
            Close();
        }

        Close();
        Close();
        Line();
        Line("/// <summary>Writes the fields of <paramref name=\"version\"/>.</summary>");
        Line("public void Write(ref KafkaWriter writer, short version)");
        Open();
        Line("bool flexible = IsFlexible(version);");
        foreach (Field f in def.Fields.Where(f => f.Tagged.IsEmpty))
        {
            string cond = f.Versions.Condition(schema.Valid);
            if (cond == "false")
            {
                continue;
            }

            If(cond, () => WriteField(f, f.Name));
        }

        Line("if (flexible)");
        Open();
        if (tagged.Count == 0)
        {
            Line("writer.WriteEmptyTaggedFields();");
        }
        else
        {
            // Tagged fields are written only when they differ from their default, in tag order, each
            // as tag, size, value; the size needs the value encoded first.
            Line("uint tagCount = 0;");
            foreach (Field f in tagged.OrderBy(f => f.Tag))
            {
                Line($"bool write{f.Name} = {f.Tagged.Condition(schema.Valid)} && {NotDefault(f)};");
                Line($"if (write{f.Name})");
                Open();
                Line("tagCount++;");
                Close();
            }

            Line("writer.WriteUnsignedVarInt(tagCount);");
            foreach (Field f in tagged.OrderBy(f => f.Tag))
            {
                Line($"if (write{f.Name})");
                Open();
                Line("var tagged = new System.Buffers.ArrayBufferWriter<byte>();");
                Line("var inner = new KafkaWriter(tagged);");
                WriteField(f, f.Name, "inner");
                Line("inner.Commit();");
                Line($"writer.WriteUnsignedVarInt({f.Tag});");
                Line("writer.WriteUnsignedVarInt((uint)tagged.WrittenCount);");
                Line("writer.WriteRaw(tagged.WrittenSpan);");
                Close();
            }
        }

        Close();
        Close();
    }

    private static string NotDefault(Field f)
    {
        string d = f.DefaultExpression();
        if (f.IsArray)
        {
            return $"{f.Name} is {{ Count: > 0 }}";
        }

        if (f.IsStruct)
        {
            return $"{f.Name} is not null";
        }

        if (f.Type is "bytes" or "records")
        {
            return $"{f.Name} is not null";
        }

        return $"{f.Name} != {d}";
    }

    private void ReadField(Field f, string target)
    {
        string nullable = f.CanBeNull ? f.Nullable.Condition(schema.Valid) : "false";
        if (f.IsArray)
        {
            Open();
            Line("int count = reader.ReadArrayLength(flexible);");
            Line("if (count < 0)");
            Open();
            if (nullable == "false")
            {
                Line("reader.MarkFailed();");
            }
            else
            {
                Line($"if (!({nullable}))");
                Open();
                Line("reader.MarkFailed();");
                Close();
            }

            Line($"{target} = {(f.CanBeNull ? "null" : "[]")};");
            Close();
            Line("else");
            Open();
            // The count is only bounded by the bytes left (one per element), so it pre-sizes at most
            // InitialCapacityCap elements: a hostile count costs a small list, and a real one grows as
            // elements are actually read.
            Line($"var list = new List<{f.CsElement}>(Math.Min(count, KafkaReader.InitialCapacityCap));");
            Line("for (int i = 0; i < count && !reader.Failed; i++)");
            Open();
            if (f.IsStruct)
            {
                Line($"var item = new {f.CsElement}();");
                Line("item.Read(ref reader, version);");
                Line("list.Add(item);");
            }
            else
            {
                Line($"list.Add({ReadPrimitive(f.ElementType, "false")});");
            }

            Close();
            Line($"{target} = list;");
            Close();
            Close();
            return;
        }

        if (f.IsStruct)
        {
            if (f.CanBeNull)
            {
                Line($"if ({nullable} && reader.ReadInt8() < 0)");
                Open();
                Line($"{target} = null;");
                Close();
                Line("else");
                Open();
                Line($"{target} = new {f.CsElement}();");
                Line($"{target}.Read(ref reader, version);");
                Close();
            }
            else
            {
                Line($"{target} = new {f.CsElement}();");
                Line($"{target}.Read(ref reader, version);");
            }

            return;
        }

        Line($"{target} = {ReadPrimitive(f.Type, nullable)};");
    }

    private static string ReadPrimitive(string type, string nullable) => type switch
    {
        "bool" => "reader.ReadBoolean()",
        "int8" => "reader.ReadInt8()",
        "int16" => "reader.ReadInt16()",
        "uint16" => "reader.ReadUInt16()",
        "int32" => "reader.ReadInt32()",
        "uint32" => "reader.ReadUInt32()",
        "int64" => "reader.ReadInt64()",
        "float64" => "reader.ReadFloat64()",
        "uuid" => "reader.ReadUuid()",
        "string" => nullable == "false" ? "reader.ReadString(flexible)" : nullable == "true" ? "reader.ReadNullableString(flexible)" : $"({nullable}) ? reader.ReadNullableString(flexible) : reader.ReadString(flexible)",
        "bytes" or "records" => nullable == "false" ? "reader.ReadBytesAsMemory(flexible) ?? NullNotAllowed(ref reader)" : "reader.ReadBytesAsMemory(flexible)",
        _ => throw new InvalidOperationException(type),
    };

    private void WriteField(Field f, string source, string w = "writer")
    {
        if (f.IsArray)
        {
            if (f.CanBeNull)
            {
                Line($"if ({source} is null)");
                Open();
                Line($"{w}.WriteArrayLength(-1, flexible);");
                Close();
                Line("else");
            }

            Open();
            Line($"{w}.WriteArrayLength({source}{(f.CanBeNull ? "!" : string.Empty)}.Count, flexible);");
            Line($"foreach ({f.CsElement} item in {source}{(f.CanBeNull ? "!" : string.Empty)})");
            Open();
            if (f.IsStruct)
            {
                Line($"item.Write(ref {w}, version);");
            }
            else
            {
                Line(WritePrimitive(f.ElementType, "item", w));
            }

            Close();
            Close();
            return;
        }

        if (f.IsStruct)
        {
            if (f.CanBeNull)
            {
                Line($"{w}.WriteInt8({source} is null ? (sbyte)-1 : (sbyte)1);");
                Line($"{source}?.Write(ref {w}, version);");
            }
            else if (!f.Tagged.IsEmpty)
            {
                Line($"{source}!.Write(ref {w}, version);");
            }
            else
            {
                Line($"{source}.Write(ref {w}, version);");
            }

            return;
        }

        if (f.Type is "bytes" or "records")
        {
            Line(f.CanBeNull
                ? $"{w}.WriteBytes({source}.GetValueOrDefault().Span, flexible, isNull: {source} is null);"
                : $"{w}.WriteBytes({source}.Span, flexible);");
            return;
        }

        Line(WritePrimitive(f.Type, source, w));
    }

    private static string WritePrimitive(string type, string source, string w) => type switch
    {
        "bool" => $"{w}.WriteBoolean({source});",
        "int8" => $"{w}.WriteInt8({source});",
        "int16" => $"{w}.WriteInt16({source});",
        "uint16" => $"{w}.WriteUInt16({source});",
        "int32" => $"{w}.WriteInt32({source});",
        "uint32" => $"{w}.WriteUInt32({source});",
        "int64" => $"{w}.WriteInt64({source});",
        "float64" => $"{w}.WriteFloat64({source});",
        "uuid" => $"{w}.WriteUuid({source});",
        "string" => $"{w}.WriteString({source}, flexible);",
        _ => throw new InvalidOperationException(type),
    };

    private void If(string condition, Action body)
    {
        if (condition == "true")
        {
            body();
            return;
        }

        Line($"if ({condition})");
        Open();
        body();
        Close();
    }

    private void Open()
    {
        Line("{");
        _indent++;
    }

    private void Close()
    {
        _indent--;
        Line("}");
    }

    private void Line(string text = "")
    {
        if (text.Length > 0)
        {
            _out.Append(' ', _indent * 4);
        }

        _out.Append(text).Append('\n');
    }
}
