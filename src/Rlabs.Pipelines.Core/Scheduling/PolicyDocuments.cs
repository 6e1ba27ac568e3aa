using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// Compares IAM and resource policy documents by meaning, not by text: AWS gives them back re-serialised
/// (key order, a lone action as a string or a one-element list), so comparing text would write again and
/// again although nothing changed.
/// </summary>
public static class PolicyDocuments
{
    private static readonly HashSet<string> s_listMembers = new(StringComparer.Ordinal) { "Action", "NotAction", "Resource", "NotResource" };

    /// <summary>Whether two policy documents grant the same; false when either does not parse.</summary>
    public static bool AreEquivalent(string? left, string? right)
    {
        if (left is null || right is null)
        {
            return false;
        }
        try
        {
            return JsonNode.DeepEquals(Normalize(JsonNode.Parse(left)), Normalize(JsonNode.Parse(right)));
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether a function's resource policy holds the statement <paramref name="statementId"/> letting
    /// <paramref name="principal"/> call <paramref name="action"/> from <paramref name="sourceArn"/> only.
    /// </summary>
    public static bool HasPermission(string? policy, string statementId, string principal, string action, string sourceArn)
    {
        if (policy is null)
        {
            return false;
        }
        try
        {
            if (JsonNode.Parse(policy)?["Statement"] is not JsonArray statements)
            {
                return false;
            }
            var statement = statements.OfType<JsonObject>().FirstOrDefault(s => Text(s["Sid"]) == statementId);
            return statement is not null
                && Text(statement["Effect"]) == "Allow"
                && Text(statement["Principal"]?["Service"]) == principal
                && Text(statement["Action"]) == action
                && Text(statement["Condition"]?["ArnLike"]?["AWS:SourceArn"]) == sourceArn;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Whether the policy has a statement with this id at all (so it must be removed before it can be added again).</summary>
    public static bool HasStatement(string? policy, string statementId)
    {
        if (policy is null)
        {
            return false;
        }
        try
        {
            return JsonNode.Parse(policy)?["Statement"] is JsonArray statements && statements.OfType<JsonObject>().Any(s => Text(s["Sid"]) == statementId);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static JsonNode? Normalize(JsonNode? node, string? member = null)
    {
        switch (node)
        {
            case JsonObject obj:
            {
                var sorted = new JsonObject();
                foreach (var (key, value) in obj.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    sorted[key] = Normalize(value, key);
                }
                return sorted;
            }
            case JsonArray array when member == "Statement":
            {
                // Statement order carries no meaning.
                var items = array.Select(i => Normalize(i)).OrderBy(i => i?.ToJsonString(), StringComparer.Ordinal).ToArray();
                return new JsonArray(items);
            }
            case JsonArray array when member is not null && s_listMembers.Contains(member):
                return new JsonArray(array.Select(i => i?.DeepClone()).OrderBy(i => i?.ToJsonString(), StringComparer.Ordinal).ToArray());
            case JsonArray array:
                return new JsonArray(array.Select(i => Normalize(i)).ToArray());
            case JsonValue value when member is not null && s_listMembers.Contains(member):
                return new JsonArray(value.DeepClone());
            default:
                return node?.DeepClone();
        }
    }
}
