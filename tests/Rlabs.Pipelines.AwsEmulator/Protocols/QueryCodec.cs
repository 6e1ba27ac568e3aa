using System.Globalization;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Protocols;

/// <summary>
/// The Query and EC2 protocols' flattening: decodes form parameters such as <c>Tags.member.1.Key</c>
/// (Query) or <c>InstanceId.1</c> (EC2) into a model-shaped tree, and encodes outputs as XML.
/// </summary>
public static class QueryCodec
{
    public static JsonObject Decode(BotocoreModel model, string? shapeName, IReadOnlyDictionary<string, string> parameters, bool ec2)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (shapeName is null)
        {
            return [];
        }

        return DecodeNode(model, shapeName, parameters, string.Empty, ec2) as JsonObject ?? [];
    }

    private static JsonNode? DecodeNode(BotocoreModel model, string shapeName, IReadOnlyDictionary<string, string> parameters, string prefix, bool ec2)
    {
        var shape = model.Shape(shapeName);
        switch ((string)shape["type"]!)
        {
            case "structure":
            {
                var obj = new JsonObject();
                foreach (var member in shape["members"]?.AsObject() ?? [])
                {
                    var name = ec2
                        ? (string?)member.Value!["queryName"] ?? Capitalize((string?)member.Value["locationName"]) ?? member.Key
                        : (string?)member.Value!["locationName"] ?? member.Key;
                    var child = DecodeNode(model, (string)member.Value["shape"]!, parameters, prefix.Length == 0 ? name : prefix + "." + name, ec2);
                    if (child is not null)
                    {
                        obj[member.Key] = child;
                    }
                }

                return prefix.Length == 0 || obj.Count > 0 ? obj : null;
            }

            case "list":
            {
                if (parameters.TryGetValue(prefix, out var empty) && empty.Length == 0)
                {
                    return new JsonArray();
                }

                var flattened = ec2 || (bool?)shape["flattened"] == true;
                var itemName = (string?)shape["member"]!["locationName"] ?? "member";
                var itemPrefix = flattened ? prefix : prefix + "." + itemName;
                var array = new JsonArray();
                for (var i = 1; ; i++)
                {
                    var key = $"{itemPrefix}.{i}";
                    if (!parameters.Keys.Any(k => k == key || k.StartsWith(key + ".", StringComparison.Ordinal)))
                    {
                        break;
                    }

                    array.Add(DecodeNode(model, (string)shape["member"]!["shape"]!, parameters, key, ec2));
                }

                return array.Count > 0 ? array : null;
            }

            case "map":
            {
                var flattened = (bool?)shape["flattened"] == true;
                var entryPrefix = flattened ? prefix : prefix + ".entry";
                var keyName = (string?)shape["key"]!["locationName"] ?? "key";
                var valueName = (string?)shape["value"]!["locationName"] ?? "value";
                var map = new JsonObject();
                for (var i = 1; parameters.TryGetValue($"{entryPrefix}.{i}.{keyName}", out var key); i++)
                {
                    map[key] = DecodeNode(model, (string)shape["value"]!["shape"]!, parameters, $"{entryPrefix}.{i}.{valueName}", ec2);
                }

                return map.Count > 0 ? map : null;
            }

            default:
                if (!parameters.TryGetValue(prefix, out var text))
                {
                    return null;
                }

                return Scalar((string)shape["type"]!, text);
        }
    }

    /// <summary>Form values are text; a value that does not parse stays text so validation reports its type.</summary>
    private static JsonNode Scalar(string type, string text) => type switch
    {
        "integer" or "long" when long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        "double" or "float" when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        "boolean" when text is "true" or "false" => JsonValue.Create(text == "true"),
        _ => JsonValue.Create(text),
    };

    private static string? Capitalize(string? name) =>
        string.IsNullOrEmpty(name) ? null : char.ToUpperInvariant(name[0]) + name[1..];

    /// <summary>Encodes <paramref name="value"/> as the children of <paramref name="parent"/> following the output shape.</summary>
    public static void Encode(BotocoreModel model, string shapeName, JsonNode value, XElement parent, bool ec2)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(parent);
        var ns = parent.Name.Namespace;
        var shape = model.Shape(shapeName);
        foreach (var member in shape["members"]?.AsObject() ?? [])
        {
            if (value[member.Key] is not { } child)
            {
                continue;
            }

            var name = (string?)member.Value!["locationName"] ?? member.Key;
            EncodeMember(model, (string)member.Value["shape"]!, child, parent, ns + name, ec2);
        }
    }

    private static void EncodeMember(BotocoreModel model, string shapeName, JsonNode value, XElement parent, XName name, bool ec2)
    {
        var ns = parent.Name.Namespace;
        var shape = model.Shape(shapeName);
        switch ((string)shape["type"]!)
        {
            case "structure":
                var element = new XElement(name);
                Encode(model, shapeName, value, element, ec2);
                parent.Add(element);
                break;
            case "list":
                var itemName = ns + ((string?)shape["member"]!["locationName"] ?? (ec2 ? "item" : "member"));
                var flattened = (bool?)shape["flattened"] == true;
                var container = flattened ? parent : new XElement(name);
                foreach (var item in value.AsArray())
                {
                    if (item is not null)
                    {
                        EncodeMember(model, (string)shape["member"]!["shape"]!, item, container, flattened ? name : itemName, ec2);
                    }
                }

                if (!flattened)
                {
                    parent.Add(container);
                }

                break;
            case "map":
                var map = new XElement(name);
                foreach (var entry in value.AsObject())
                {
                    var xmlEntry = new XElement(ns + "entry", new XElement(ns + "key", entry.Key));
                    if (entry.Value is not null)
                    {
                        EncodeMember(model, (string)shape["value"]!["shape"]!, entry.Value, xmlEntry, ns + "value", ec2);
                    }

                    map.Add(xmlEntry);
                }

                parent.Add(map);
                break;
            case "timestamp":
                var time = value.GetValueKind() == System.Text.Json.JsonValueKind.Number
                    ? DateTimeOffset.FromUnixTimeMilliseconds((long)(Json.Number(value) * 1000))
                    : DateTimeOffset.Parse(value.GetValue<string>(), CultureInfo.InvariantCulture);
                parent.Add(new XElement(name, time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)));
                break;
            case "boolean":
                parent.Add(new XElement(name, value.GetValue<bool>() ? "true" : "false"));
                break;
            default:
                parent.Add(new XElement(name, value.GetValueKind() == System.Text.Json.JsonValueKind.String
                    ? value.GetValue<string>()
                    : value.ToJsonString()));
                break;
        }
    }
}
