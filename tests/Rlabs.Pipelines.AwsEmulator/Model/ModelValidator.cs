using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.AwsEmulator.Model;

/// <summary>What the model has to say about one request.</summary>
public sealed class ValidationResult
{
    /// <summary>A value of the wrong JSON type: AWS answers these before checking constraints.</summary>
    public List<string> TypeErrors { get; } = [];

    /// <summary>Violated constraints, phrased as AWS phrases them.</summary>
    public List<string> ConstraintErrors { get; } = [];

    public bool IsValid => TypeErrors.Count == 0 && ConstraintErrors.Count == 0;

    /// <summary>"N validation error(s) detected: …" as AWS's Coral services word it.</summary>
    public string Message => TypeErrors.Count > 0
        ? string.Join("; ", TypeErrors)
        : $"{ConstraintErrors.Count} validation error{(ConstraintErrors.Count == 1 ? string.Empty : "s")} detected: {string.Join("; ", ConstraintErrors)}";
}

/// <summary>
/// Checks a request, as a JSON tree, against the input shape of the botocore model: required members,
/// types, enums, string lengths and patterns, numeric ranges, list and map sizes, recursively.
/// </summary>
public static class ModelValidator
{
    /// <param name="deferred">Values this check leaves alone because they are only known later (a pipeline
    /// definition's <c>{"Get": …}</c> expressions stand where the model expects a string or a number).</param>
    public static ValidationResult Validate(BotocoreModel model, string shapeName, JsonNode? value, Func<JsonNode, bool>? deferred = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new ValidationResult();
        Walk(model, shapeName, value ?? new JsonObject(), string.Empty, result, deferred ?? (_ => false));
        return result;
    }

    private static void Walk(BotocoreModel model, string shapeName, JsonNode value, string path, ValidationResult result, Func<JsonNode, bool> deferred)
    {
        if (deferred(value))
        {
            return;
        }

        var shape = model.Shape(shapeName);
        var type = (string)shape["type"]!;
        switch (type)
        {
            case "structure":
                if (value is not JsonObject obj)
                {
                    result.TypeErrors.Add($"Expected a structure at '{Display(path)}'");
                    return;
                }

                var members = shape["members"]?.AsObject() ?? [];
                var required = shape["required"]?.AsArray().Select(r => (string)r!).ToHashSet(StringComparer.Ordinal) ?? [];
                foreach (var member in members)
                {
                    var memberPath = Join(path, member.Key);
                    var present = obj.TryGetPropertyValue(member.Key, out var child) && child is not null;
                    if (!present)
                    {
                        if (required.Contains(member.Key))
                        {
                            result.ConstraintErrors.Add($"Value null at '{memberPath}' failed to satisfy constraint: Member must not be null");
                        }

                        continue;
                    }

                    Walk(model, (string)member.Value!["shape"]!, child!, memberPath, result, deferred);
                }

                break;

            case "list":
                if (value is not JsonArray array)
                {
                    result.TypeErrors.Add($"Expected a list at '{Display(path)}'");
                    return;
                }

                CheckSize(shape, array.Count, path, "length", result);
                var memberShape = (string)shape["member"]!["shape"]!;
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is null)
                    {
                        result.ConstraintErrors.Add($"Value null at '{path}.{i + 1}.member' failed to satisfy constraint: Member must not be null");
                        continue;
                    }

                    Walk(model, memberShape, array[i]!, $"{path}.{i + 1}.member", result, deferred);
                }

                break;

            case "map":
                if (value is not JsonObject map)
                {
                    result.TypeErrors.Add($"Expected a map at '{Display(path)}'");
                    return;
                }

                CheckSize(shape, map.Count, path, "length", result);
                var keyShape = (string)shape["key"]!["shape"]!;
                var valueShape = (string)shape["value"]!["shape"]!;
                foreach (var entry in map)
                {
                    Walk(model, keyShape, JsonValue.Create(entry.Key), $"{path}.{entry.Key}.key", result, deferred);
                    if (entry.Value is null)
                    {
                        result.ConstraintErrors.Add($"Value null at '{path}.{entry.Key}.value' failed to satisfy constraint: Member must not be null");
                        continue;
                    }

                    Walk(model, valueShape, entry.Value, $"{path}.{entry.Key}.value", result, deferred);
                }

                break;

            case "string":
                if (!TryString(value, out var text))
                {
                    result.TypeErrors.Add($"Expected a string at '{Display(path)}'");
                    return;
                }

                CheckSize(shape, text.Length, path, "length", result);
                if (shape["enum"] is JsonArray allowed && !allowed.Any(a => (string?)a == text))
                {
                    result.ConstraintErrors.Add(
                        $"Value '{text}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", allowed.Select(a => (string?)a))}]");
                }

                if ((string?)shape["pattern"] is { } pattern && !JavaRegex.Compile(pattern).IsMatch(text))
                {
                    result.ConstraintErrors.Add(
                        $"Value '{text}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}");
                }

                break;

            case "integer" or "long" or "double" or "float":
                if (value is not JsonValue number || number.GetValueKind() != JsonValueKind.Number)
                {
                    result.TypeErrors.Add($"Expected a number at '{Display(path)}'");
                    return;
                }

                var numeric = Json.Number(number);
                if (type is "integer" or "long" && numeric != Math.Floor(numeric))
                {
                    result.TypeErrors.Add($"Expected an integer at '{Display(path)}'");
                    return;
                }

                if (shape["min"] is JsonNode min && numeric < (double)min)
                {
                    result.ConstraintErrors.Add($"Value '{Format(numeric)}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {min}");
                }

                if (shape["max"] is JsonNode max && numeric > (double)max)
                {
                    result.ConstraintErrors.Add($"Value '{Format(numeric)}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {max}");
                }

                break;

            case "boolean":
                if (value is not JsonValue boolean || boolean.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    result.TypeErrors.Add($"Expected a boolean at '{Display(path)}'");
                }

                break;

            case "timestamp":
                if (value is not JsonValue stamp || stamp.GetValueKind() is not (JsonValueKind.Number or JsonValueKind.String))
                {
                    result.TypeErrors.Add($"Expected a timestamp at '{Display(path)}'");
                }

                break;

            case "blob":
                // Streaming blobs arrive as the raw body and are checked by the protocol handler.
                if (value is JsonValue blob && blob.GetValueKind() == JsonValueKind.String && shape["streaming"] is null)
                {
                    var encoded = blob.GetValue<string>();
                    var buffer = new byte[encoded.Length];
                    if (!Convert.TryFromBase64String(encoded, buffer, out var length))
                    {
                        result.TypeErrors.Add($"Expected base64 data at '{Display(path)}'");
                        return;
                    }

                    CheckSize(shape, length, path, "length", result);
                }

                break;
        }
    }

    private static void CheckSize(JsonObject shape, long size, string path, string what, ValidationResult result)
    {
        if (shape["min"] is JsonNode min && size < (long)min)
        {
            result.ConstraintErrors.Add($"Value at '{path}' failed to satisfy constraint: Member must have {what} greater than or equal to {min}");
        }

        if (shape["max"] is JsonNode max && size > (long)max)
        {
            result.ConstraintErrors.Add($"Value at '{path}' failed to satisfy constraint: Member must have {what} less than or equal to {max}");
        }
    }

    private static bool TryString(JsonNode value, out string text)
    {
        if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            text = v.GetValue<string>();
            return true;
        }

        text = string.Empty;
        return false;
    }

    // AWS names members in messages as camelCase paths, e.g. 'processingResources.clusterConfig.instanceType'.
    private static string Join(string path, string member)
    {
        var camel = member.Length > 0 ? char.ToLowerInvariant(member[0]) + member[1..] : member;
        return path.Length == 0 ? camel : path + "." + camel;
    }

    private static string Display(string path) => path.Length == 0 ? "(request)" : path;

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}
