using System.Text.Json.Nodes;

namespace Rlabs.Pipelines.AwsEmulator.Model;

/// <summary>One service's official model as shipped by Debian's python3-botocore (service-2.json).</summary>
public sealed class BotocoreModel
{
    public const string DefaultDataDirectory = "/usr/lib/python3/dist-packages/botocore/data";

    private readonly JsonObject _shapes;
    private readonly JsonObject _operations;

    private BotocoreModel(string service, string apiVersion, JsonObject document)
    {
        Service = service;
        ApiVersion = apiVersion;
        Metadata = document["metadata"]!.AsObject();
        _shapes = document["shapes"]!.AsObject();
        _operations = document["operations"]!.AsObject();
    }

    public string Service { get; }

    public string ApiVersion { get; }

    public JsonObject Metadata { get; }

    public string Protocol => (string)Metadata["protocol"]!;

    public string? TargetPrefix => (string?)Metadata["targetPrefix"];

    public string? XmlNamespace => (string?)Metadata["xmlNamespace"];

    public IEnumerable<string> OperationNames => _operations.Select(o => o.Key);

    public IEnumerable<string> ShapeNames => _shapes.Select(s => s.Key);

    /// <summary>Loads <paramref name="service"/> from <paramref name="dataDirectory"/>, the newest API version
    /// if botocore ships several.</summary>
    public static BotocoreModel Load(string dataDirectory, string service)
    {
        var serviceDirectory = Path.Combine(dataDirectory, service);
        if (!Directory.Exists(serviceDirectory))
        {
            throw new DirectoryNotFoundException(
                $"No botocore model for '{service}' under '{dataDirectory}'. Install Debian's python3-botocore or pass --botocore-data.");
        }

        var versionDirectory = Directory.GetDirectories(serviceDirectory)
            .Where(d => File.Exists(Path.Combine(d, "service-2.json")))
            .OrderByDescending(d => Path.GetFileName(d), StringComparer.Ordinal)
            .First();
        var document = JsonNode.Parse(File.ReadAllText(Path.Combine(versionDirectory, "service-2.json")))!.AsObject();
        return new BotocoreModel(service, Path.GetFileName(versionDirectory), document);
    }

    public JsonObject? Operation(string name) => _operations[name]?.AsObject();

    public JsonObject Shape(string name) =>
        _shapes[name]?.AsObject() ?? throw new KeyNotFoundException($"Shape '{name}' is not in the {Service} model.");

    public string? InputShapeName(string operation) => (string?)Operation(operation)?["input"]?["shape"];

    public string? OutputShapeName(string operation) => (string?)Operation(operation)?["output"]?["shape"];

    /// <summary>The HTTP status the model gives an error code, looked up by shape name or by its wire code.</summary>
    public int ErrorStatus(string code, int fallback)
    {
        foreach (var shape in _shapes)
        {
            var error = shape.Value?["error"];
            if (error is null)
            {
                continue;
            }

            if (shape.Key == code || (string?)error["code"] == code)
            {
                return (int?)error["httpStatusCode"] ?? fallback;
            }
        }

        return fallback;
    }
}
