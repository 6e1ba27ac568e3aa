using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Protocols;

/// <summary>Finds a REST operation by method and path using the model's requestUri templates, and binds
/// uri, querystring and header members into the input tree.</summary>
public static class RestRoute
{
    public readonly record struct Matched(string Operation, IReadOnlyDictionary<string, string> PathValues);

    public static Matched? Match(BotocoreModel model, string method, string path, ICollection<string> queryKeys)
    {
        ArgumentNullException.ThrowIfNull(model);
        Matched? best = null;
        var bestScore = -1;
        foreach (var name in model.OperationNames)
        {
            var http = model.Operation(name)!["http"]!;
            if (!string.Equals((string?)http["method"], method, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var template = (string)http["requestUri"]!;
            var query = string.Empty;
            var q = template.IndexOf('?', StringComparison.Ordinal);
            if (q >= 0)
            {
                query = template[(q + 1)..];
                template = template[..q];
            }

            var literalKeys = query.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')[0]).ToArray();
            if (!literalKeys.All(queryKeys.Contains))
            {
                continue;
            }

            var values = MatchPath(template, path);
            if (values is null)
            {
                continue;
            }

            // The most specific template wins: more literal query keys, then more literal path text.
            var score = (literalKeys.Length * 1000) + template.Count(c => c == '/') * 10 + template.Length - template.Count(c => c == '{') * 20;
            if (score > bestScore)
            {
                best = new Matched(name, values);
                bestScore = score;
            }
        }

        return best;
    }

    private static Dictionary<string, string>? MatchPath(string template, string path)
    {
        var templateParts = template.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var pathParts = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < templateParts.Length; i++)
        {
            var part = templateParts[i];
            if (part.StartsWith('{') && part.EndsWith("+}", StringComparison.Ordinal))
            {
                if (i >= pathParts.Length)
                {
                    return null;
                }

                // Greedy label: the rest of the path, slashes included (S3 keys).
                var rest = path.TrimStart('/').Split('/', i + 1);
                values[part[1..^2]] = Uri.UnescapeDataString(rest[^1]);
                return values;
            }

            if (i >= pathParts.Length)
            {
                return null;
            }

            if (part.StartsWith('{') && part.EndsWith('}'))
            {
                values[part[1..^1]] = Uri.UnescapeDataString(pathParts[i]);
            }
            else if (!string.Equals(part, pathParts[i], StringComparison.Ordinal))
            {
                return null;
            }
        }

        return templateParts.Length == pathParts.Length ? values : null;
    }

    /// <summary>
    /// S3 takes x-amz-copy-source URL-encoded, with or without its leading slash (SDKs send "bucket%2Fkey"); the
    /// value is checked decoded, and with the slash that Debian's older model's pattern (\/.+\/.+) expects.
    /// </summary>
    private static string CopySource(string header)
    {
        var decoded = Uri.UnescapeDataString(header);
        return decoded.StartsWith('/') ? decoded : "/" + decoded;
    }

    public static void Bind(BotocoreModel model, Matched route, JsonObject input, IReadOnlyDictionary<string, string> query, IReadOnlyDictionary<string, string> headers)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(input);
        var shapeName = model.InputShapeName(route.Operation);
        if (shapeName is null)
        {
            return;
        }

        foreach (var member in model.Shape(shapeName)["members"]?.AsObject() ?? [])
        {
            var location = (string?)member.Value!["location"];
            var locationName = (string?)member.Value["locationName"] ?? member.Key;
            var type = (string)model.Shape((string)member.Value["shape"]!)["type"]!;
            string? text = location switch
            {
                "uri" => route.PathValues.GetValueOrDefault(locationName),
                "querystring" => query.GetValueOrDefault(locationName),
                "header" when locationName == "x-amz-copy-source" && headers.GetValueOrDefault(locationName) is { } source => CopySource(source),
                "header" => headers.GetValueOrDefault(locationName),
                _ => null,
            };
            if (location is "uri" or "querystring" or "header")
            {
                input.Remove(member.Key);
                if (text is not null)
                {
                    input[member.Key] = type switch
                    {
                        "integer" or "long" when long.TryParse(text, out var l) => JsonValue.Create(l),
                        "boolean" when bool.TryParse(text, out var b) => JsonValue.Create(b),
                        _ => JsonValue.Create(text),
                    };
                }
            }
        }
    }
}
