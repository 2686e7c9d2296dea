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
