using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>A pipeline parameter: its type decides what a <c>{"Get": "Parameters.X"}</c> resolves to.</summary>
public sealed record PipelineParameterDefinition(string Name, string Type, JsonNode? DefaultValue);

/// <summary>One entry of a step's <c>RetryPolicies</c>.</summary>
public sealed record PipelineRetryPolicy(IReadOnlyList<string> ExceptionTypes, double IntervalSeconds, double BackoffRate, int? MaxAttempts, int? ExpireAfterMin);

/// <summary>A Processing step as the emulator runs it.</summary>
public sealed record PipelineStepDefinition(
    string Name,
    string? DisplayName,
    string? Description,
    IReadOnlyList<string> DependsOn,
    IReadOnlySet<string> DataDependencies,
    JsonObject Arguments,
    bool CacheEnabled,
    TimeSpan? CacheExpireAfter,
    IReadOnlyList<PipelineRetryPolicy> RetryPolicies)
{
    /// <summary>Steps that must have succeeded before this one starts.</summary>
    public IEnumerable<string> Upstream => DependsOn.Concat(DataDependencies).Distinct(StringComparer.Ordinal);
}

/// <summary>A parsed, validated pipeline definition.</summary>
public sealed record PipelineDefinitionModel(IReadOnlyList<PipelineParameterDefinition> Parameters, IReadOnlyList<PipelineStepDefinition> Steps);

/// <summary>
/// Reads a SageMaker pipeline definition (Version 2020-12-01) the way the service does: the shape of the
/// published definition schema (with the corrections SageMaker itself accepts: <c>Std:Join</c> with
/// <c>On</c>, <c>AppManaged</c>, <c>PropertyFiles</c>, <c>PipelineExperimentConfig</c>, <c>ExceptionType</c>
/// as a list), each Processing step's <c>Arguments</c> against botocore's CreateProcessingJob input shape,
/// references that resolve, and a step graph without cycles. The emulator runs Processing steps only, so
/// other step types are refused by name rather than accepted and never run.
/// </summary>
public static partial class PipelineDefinition
{
    public const string Version = "2020-12-01";

    /// <summary>Execution variables a definition may read with <c>{"Get": "Execution.…"}</c>.</summary>
    public static readonly IReadOnlySet<string> ExecutionVariables = new HashSet<string>(StringComparer.Ordinal)
    {
        "PipelineExecutionId", "PipelineExecutionArn", "StartDateTime", "CurrentDateTime", "PipelineName", "PipelineArn",
    };

    public static readonly IReadOnlySet<string> RetryExceptionTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT",
    };

    private static readonly HashSet<string> s_otherStepTypes = new(StringComparer.Ordinal)
    {
        "Condition", "Training", "Transform", "CreateModel", "RegisterModel", "Lambda", "Callback", "Tuning", "ClarifyCheck",
        "QualityCheck", "EMR", "Fail", "AutoML", "Endpoint", "EndpointConfig",
    };

    /// <summary>The job the step's properties read from: <c>Steps.S.…</c> paths follow DescribeProcessingJob's output.</summary>
    public const string StepPropertiesShape = "DescribeProcessingJobResponse";

    /// <summary>Parses and validates <paramref name="json"/>; the errors are empty exactly when the model is not null.</summary>
    public static (PipelineDefinitionModel? Definition, IReadOnlyList<string> Errors) Parse(string json, BotocoreModel sageMaker)
    {
        ArgumentNullException.ThrowIfNull(sageMaker);
        var errors = new List<string>();
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("the definition is not a JSON object");
        }
        catch (JsonException ex)
        {
            return (null, [$"The pipeline definition is not valid JSON: {ex.Message}"]);
        }

        Only(root, "the definition", errors, "Version", "Metadata", "Parameters", "PipelineExperimentConfig", "Steps");
        if (root["Version"] is { } version && (version.GetValueKind() != JsonValueKind.String || (string)version! != Version))
        {
            errors.Add($"Version must be \"{Version}\", not {version.ToJsonString()}.");
        }

        if (root["Metadata"] is { } metadata)
        {
            if (metadata is not JsonObject metadataObject)
            {
                errors.Add("Metadata must be an object.");
            }
            else
            {
                foreach (var entry in metadataObject)
                {
                    if (!MetadataKey().IsMatch(entry.Key) || !IsString(entry.Value) || ((string)entry.Value!).Length > 1024)
                    {
                        errors.Add($"Metadata.{entry.Key} must be a string of at most 1024 characters under a key matching ^[A-Za-z0-9\\-_]{{1,128}}$.");
                    }
                }
            }
        }

        if (root["PipelineExperimentConfig"] is { } experiment)
        {
            if (experiment is not JsonObject experimentObject)
            {
                errors.Add("PipelineExperimentConfig must be an object.");
            }
            else
            {
                Only(experimentObject, "PipelineExperimentConfig", errors, "ExperimentName", "TrialName");
            }
        }

        var parameters = ParseParameters(root["Parameters"], errors);
        if (root["Steps"] is not JsonArray steps)
        {
            errors.Add("Steps is required and must be an array.");
            return (null, errors);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var step in steps)
        {
            if (step is JsonObject { } s && IsString(s["Name"]) && !names.Add((string)s["Name"]!))
            {
                errors.Add($"Step names must be unique; '{s["Name"]}' is used twice.");
            }
        }

        var parsed = new List<PipelineStepDefinition>();
        for (var i = 0; i < steps.Count; i++)
        {
            if (ParseStep(steps[i], i, names, parameters, sageMaker, errors) is { } step)
            {
                parsed.Add(step);
            }
        }

        if (errors.Count == 0 && FindCycle(parsed) is { } cycle)
        {
            errors.Add($"The steps depend on each other in a cycle: {string.Join(" -> ", cycle)}.");
        }

        return errors.Count == 0 ? (new PipelineDefinitionModel(parameters, parsed), errors) : (null, errors);
    }

    /// <summary>Whether <paramref name="node"/> is a <c>Get</c> or <c>Std:*</c> expression (resolved when the step starts).</summary>
    public static bool IsExpression(JsonNode? node) =>
        node is JsonObject { Count: 1 } obj && obj.First() is var member && (member.Key == "Get" || member.Key.StartsWith("Std:", StringComparison.Ordinal));

    /// <summary>Parses <c>Outputs['name'].S3Output</c>-style paths into member names and indexes.</summary>
    public static IReadOnlyList<PathToken>? ParsePropertyPath(string path)
    {
        var tokens = new List<PathToken>();
        var position = 0;
        while (position < path.Length)
        {
            var match = PathSegment().Match(path, position);
            if (!match.Success || match.Index != position)
            {
                return null;
            }

            tokens.Add(new PathToken(match.Groups["name"].Value, null, null));
            foreach (Capture index in match.Groups["index"].Captures)
            {
                var text = index.Value;
                tokens.Add(text[0] is '\'' or '"'
                    ? new PathToken(null, text[1..^1], null)
                    : new PathToken(null, null, int.Parse(text, CultureInfo.InvariantCulture)));
            }

            position = match.Index + match.Length;
            if (position < path.Length)
            {
                if (path[position] != '.')
                {
                    return null;
                }

                position++;
                if (position == path.Length)
                {
                    return null;
                }
            }
        }

        return tokens.Count == 0 ? null : tokens;
    }

    /// <summary>Follows <paramref name="tokens"/> through a job description; a ['key'] on a list picks the element
    /// whose <c>…Name</c> member is the key (SageMaker's <c>Outputs['train']</c>).</summary>
    public static JsonNode? Navigate(JsonNode? node, IReadOnlyList<PathToken> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        foreach (var token in tokens)
        {
            node = token switch
            {
                { Member: { } member } => (node as JsonObject)?[member],
                { Key: { } key } when node is JsonArray list => list.FirstOrDefault(e => e is JsonObject o && o.Any(m => m.Key.EndsWith("Name", StringComparison.Ordinal) && IsString(m.Value) && (string)m.Value! == key)),
                { Key: { } key } => (node as JsonObject)?[key],
                { Index: { } index } when node is JsonArray list => index >= 0 && index < list.Count ? list[index] : null,
                _ => null,
            };
            if (node is null)
            {
                return null;
            }
        }

        return node;
    }

    /// <summary>An ISO-8601 duration (PnYnMnWnDTnHnMnS; months count 30 days and years 365), case-insensitive.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var match = Duration().Match(text);
        if (!match.Success || match.Length <= 1 || text.EndsWith('T') || text.EndsWith('t'))
        {
            return null;
        }

        double Part(string name) => match.Groups[name].Success ? double.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
        return TimeSpan.FromDays((Part("y") * 365) + (Part("mo") * 30) + (Part("w") * 7) + Part("d"))
            + TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("mi")) + TimeSpan.FromSeconds(Part("s"));
    }

    private static List<PipelineParameterDefinition> ParseParameters(JsonNode? node, List<string> errors)
    {
        var parameters = new List<PipelineParameterDefinition>();
        if (node is null)
        {
            return parameters;
        }

        if (node is not JsonArray array)
        {
            errors.Add("Parameters must be an array.");
            return parameters;
        }

        foreach (var item in array)
        {
            if (item is not JsonObject parameter)
            {
                errors.Add("Each parameter must be an object.");
                continue;
            }

            Only(parameter, "a parameter", errors, "Name", "Type", "DefaultValue", "Description");
            var name = IsString(parameter["Name"]) ? (string)parameter["Name"]! : null;
            if (name is null || !StepOrParameterName().IsMatch(name))
            {
                errors.Add($"Parameter name {parameter["Name"]?.ToJsonString() ?? "(missing)"} must match ^[A-Za-z0-9\\-_]{{1,64}}$.");
                continue;
            }

            if (parameters.Any(p => p.Name == name))
            {
                errors.Add($"Parameter names must be unique; '{name}' is declared twice.");
                continue;
            }

            var type = parameter["Type"] is null ? "String" : IsString(parameter["Type"]) ? (string)parameter["Type"]! : string.Empty;
            if (type is not ("String" or "Integer" or "Float" or "Boolean"))
            {
                errors.Add($"Parameter '{name}' has Type {parameter["Type"]?.ToJsonString()}; it must be String, Integer, Float or Boolean.");
                continue;
            }

            if (parameter["Description"] is { } description && !IsString(description))
            {
                errors.Add($"Parameter '{name}': Description must be a string.");
            }

            var value = parameter["DefaultValue"];
            if (value is not null && !Fits(type, value))
            {
                errors.Add($"Parameter '{name}' of Type {type} has DefaultValue {value.ToJsonString()} of another type.");
                continue;
            }

            parameters.Add(new PipelineParameterDefinition(name, type, value?.DeepClone()));
        }

        return parameters;
    }

    private static bool Fits(string type, JsonNode value) => (type, value.GetValueKind()) switch
    {
        ("String", JsonValueKind.String) => ((string)value!).Length <= 4096,
        ("Integer", JsonValueKind.Number) => Json.Number(value) == Math.Floor(Json.Number(value)),
        ("Float", JsonValueKind.Number) => true,
        ("Boolean", JsonValueKind.True or JsonValueKind.False) => true,
        _ => false,
    };

    private static PipelineStepDefinition? ParseStep(JsonNode? node, int index, HashSet<string> names, List<PipelineParameterDefinition> parameters, BotocoreModel sageMaker, List<string> errors)
    {
        if (node is not JsonObject step)
        {
            errors.Add($"Steps[{index}] must be an object.");
            return null;
        }

        var name = IsString(step["Name"]) ? (string)step["Name"]! : null;
        if (name is null || !StepOrParameterName().IsMatch(name))
        {
            errors.Add($"Steps[{index}].Name {step["Name"]?.ToJsonString() ?? "(missing)"} must match ^[A-Za-z0-9\\-_]{{1,64}}$.");
            return null;
        }

        var type = IsString(step["Type"]) ? (string)step["Type"]! : null;
        if (type != "Processing")
        {
            errors.Add(type is not null && s_otherStepTypes.Contains(type)
                ? $"Step '{name}' has Type '{type}': the emulator runs Processing steps only."
                : $"Step '{name}' has Type {step["Type"]?.ToJsonString() ?? "(missing)"}, which is not a pipeline step type.");
            return null;
        }

        var before = errors.Count;
        Only(step, $"step '{name}'", errors, "Name", "Type", "DependsOn", "DisplayName", "Description", "RetryPolicies", "CacheConfig", "Arguments", "PropertyFiles");
        var dependsOn = new List<string>();
        if (step["DependsOn"] is { } depends)
        {
            if (depends is not JsonArray dependsArray || dependsArray.Any(d => !IsString(d)))
            {
                errors.Add($"Step '{name}': DependsOn must be an array of step names.");
            }
            else
            {
                foreach (var dependency in dependsArray.Select(d => (string)d!))
                {
                    if (dependency == name)
                    {
                        errors.Add($"Step '{name}' depends on itself.");
                    }
                    else if (!names.Contains(dependency))
                    {
                        errors.Add($"Step '{name}' depends on '{dependency}', which is not a step of this pipeline.");
                    }
                    else
                    {
                        dependsOn.Add(dependency);
                    }
                }
            }
        }

        if (step["DisplayName"] is { } displayName && (!IsString(displayName) || !StepOrParameterName().IsMatch((string)displayName!)))
        {
            errors.Add($"Step '{name}': DisplayName must match ^[A-Za-z0-9\\-_]{{1,64}}$.");
        }

        if (step["Description"] is { } description && !IsString(description))
        {
            errors.Add($"Step '{name}': Description must be a string.");
        }

        var (cacheEnabled, expireAfter) = ParseCache(step["CacheConfig"], name, errors);
        var retries = ParseRetries(step["RetryPolicies"], name, errors);
        if (step["PropertyFiles"] is { } propertyFiles && (propertyFiles is not JsonArray files
            || files.Any(f => f is not JsonObject o || o.Any(m => m.Key is not ("PropertyFileName" or "OutputName" or "FilePath") || !IsString(m.Value)))))
        {
            errors.Add($"Step '{name}': PropertyFiles must be a list of {{PropertyFileName, OutputName, FilePath}}.");
        }

        if (step["Arguments"] is not JsonObject arguments)
        {
            errors.Add($"Step '{name}': Arguments is required and must be a CreateProcessingJob request without ProcessingJobName.");
            return null;
        }

        var dataDependencies = new HashSet<string>(StringComparer.Ordinal);
        CheckExpressions(arguments, name, $"Steps.{name}.Arguments", names, parameters, sageMaker, dataDependencies, errors);
        if (arguments.ContainsKey("ProcessingJobName"))
        {
            errors.Add($"Step '{name}': Arguments must not name the job; SageMaker Pipelines names it.");
        }

        // The name is SageMaker's to choose; a placeholder lets the rest be checked against the model's shape.
        var request = (JsonObject)arguments.DeepClone();
        request["ProcessingJobName"] = "pipelines-validation";
        var validation = ModelValidator.Validate(sageMaker, "CreateProcessingJobRequest", request, IsExpression);
        if (!validation.IsValid)
        {
            errors.Add($"Step '{name}': Arguments are not a valid CreateProcessingJob request: {validation.Message}");
        }

        return errors.Count > before
            ? null
            : new PipelineStepDefinition(name, (string?)step["DisplayName"], (string?)step["Description"], dependsOn, dataDependencies,
                (JsonObject)arguments.DeepClone(), cacheEnabled, expireAfter, retries);
    }

    private static (bool Enabled, TimeSpan? ExpireAfter) ParseCache(JsonNode? node, string step, List<string> errors)
    {
        if (node is null)
        {
            return (false, null);
        }

        if (node is not JsonObject cache)
        {
            errors.Add($"Step '{step}': CacheConfig must be an object.");
            return (false, null);
        }

        Only(cache, $"step '{step}' CacheConfig", errors, "Enabled", "ExpireAfter");
        var enabled = false;
        if (cache["Enabled"] is { } flag)
        {
            if (flag.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            {
                errors.Add($"Step '{step}': CacheConfig.Enabled must be a boolean.");
            }
            else
            {
                enabled = flag.GetValue<bool>();
            }
        }

        TimeSpan? expire = null;
        if (cache["ExpireAfter"] is { } after)
        {
            expire = IsString(after) ? ParseDuration((string)after!) : null;
            if (expire is null)
            {
                errors.Add($"Step '{step}': CacheConfig.ExpireAfter {after.ToJsonString()} is not an ISO 8601 duration such as PT1H or P30D.");
            }
        }

        return (enabled, expire);
    }

    private static List<PipelineRetryPolicy> ParseRetries(JsonNode? node, string step, List<string> errors)
    {
        var policies = new List<PipelineRetryPolicy>();
        if (node is null)
        {
            return policies;
        }

        if (node is not JsonArray array)
        {
            errors.Add($"Step '{step}': RetryPolicies must be an array.");
            return policies;
        }

        foreach (var item in array)
        {
            if (item is not JsonObject policy)
            {
                errors.Add($"Step '{step}': each retry policy must be an object.");
                continue;
            }

            Only(policy, $"step '{step}' retry policy", errors, "ExceptionType", "IntervalSeconds", "BackoffRate", "MaxAttempts", "ExpireAfterMin");
            var types = policy["ExceptionType"] is JsonArray list && list.Count > 0 && list.All(IsString)
                ? list.Select(t => (string)t!).ToList()
                : null;
            if (types is null)
            {
                errors.Add($"Step '{step}': a retry policy needs ExceptionType, a non-empty list of {string.Join(", ", RetryExceptionTypes)}.");
                continue;
            }

            foreach (var type in types.Where(t => !RetryExceptionTypes.Contains(t)))
            {
                errors.Add($"Step '{step}': '{type}' is not a retry exception type ({string.Join(", ", RetryExceptionTypes)}).");
            }

            int? Integer(string member, int min, int max)
            {
                if (policy[member] is not { } value)
                {
                    return null;
                }

                if (value.GetValueKind() != JsonValueKind.Number || Json.Number(value) != Math.Floor(Json.Number(value)) || Json.Number(value) < min || Json.Number(value) > max)
                {
                    errors.Add($"Step '{step}': {member} must be an integer from {min} to {max}.");
                    return null;
                }

                return (int)Json.Number(value);
            }

            var interval = Integer("IntervalSeconds", 1, 43_200) ?? 1;
            var maxAttempts = Integer("MaxAttempts", 1, 20);
            var expireAfterMin = Integer("ExpireAfterMin", 1, 14_400);
            var backoff = 2.0;
            if (policy["BackoffRate"] is { } rate)
            {
                if (rate.GetValueKind() != JsonValueKind.Number || Json.Number(rate) < 1)
                {
                    errors.Add($"Step '{step}': BackoffRate must be a number of at least 1.");
                }
                else
                {
                    backoff = Json.Number(rate);
                }
            }

            if (maxAttempts is not null && expireAfterMin is not null)
            {
                errors.Add($"Step '{step}': a retry policy takes MaxAttempts or ExpireAfterMin, not both.");
            }

            policies.Add(new PipelineRetryPolicy(types, interval, backoff, maxAttempts, expireAfterMin));
        }

        return policies;
    }

    private static void CheckExpressions(JsonNode? node, string step, string at, HashSet<string> steps, List<PipelineParameterDefinition> parameters,
        BotocoreModel sageMaker, HashSet<string> dataDependencies, List<string> errors)
    {
        switch (node)
        {
            case JsonObject obj when obj.ContainsKey("Get") || obj.Any(m => m.Key.StartsWith("Std:", StringComparison.Ordinal)):
                if (obj.Count != 1)
                {
                    errors.Add($"{at}: an expression object has exactly one member, not {string.Join(", ", obj.Select(m => m.Key))}.");
                    return;
                }

                if (obj["Get"] is { } get)
                {
                    CheckGet(get, step, at, steps, parameters, sageMaker, dataDependencies, errors);
                }
                else if (obj["Std:Join"] is { } join)
                {
                    if (join is not JsonObject joinObject || !IsString(joinObject["On"]) || joinObject["Values"] is not JsonArray values || joinObject.Count != 2)
                    {
                        errors.Add($"{at}: Std:Join takes exactly {{\"On\": string, \"Values\": [...]}}.");
                        return;
                    }

                    for (var i = 0; i < values.Count; i++)
                    {
                        var value = values[i];
                        if (value is JsonObject)
                        {
                            if (!IsExpression(value))
                            {
                                errors.Add($"{at}.Std:Join.Values[{i}] must be a string, a number, a boolean or an expression.");
                                continue;
                            }

                            CheckExpressions(value, step, $"{at}.Std:Join.Values[{i}]", steps, parameters, sageMaker, dataDependencies, errors);
                        }
                        else if (value is null || value.GetValueKind() is JsonValueKind.Array)
                        {
                            errors.Add($"{at}.Std:Join.Values[{i}] must be a string, a number, a boolean or an expression.");
                        }
                    }
                }
                else
                {
                    errors.Add($"{at}: {obj.First().Key} is not a function the emulator evaluates (Get, Std:Join).");
                }

                return;
            case JsonObject obj:
                foreach (var member in obj)
                {
                    CheckExpressions(member.Value, step, $"{at}.{member.Key}", steps, parameters, sageMaker, dataDependencies, errors);
                }

                return;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    CheckExpressions(array[i], step, $"{at}[{i}]", steps, parameters, sageMaker, dataDependencies, errors);
                }

                return;
        }
    }

    private static void CheckGet(JsonNode get, string step, string at, HashSet<string> steps, List<PipelineParameterDefinition> parameters,
        BotocoreModel sageMaker, HashSet<string> dataDependencies, List<string> errors)
    {
        var reference = IsString(get) ? (string)get! : null;
        if (reference is null)
        {
            errors.Add($"{at}: Get takes a string.");
            return;
        }

        var parts = reference.Split('.', 3);
        switch (parts[0])
        {
            case "Parameters" when parts.Length == 2:
                if (!parameters.Any(p => p.Name == parts[1]))
                {
                    errors.Add($"{at}: {reference} names no parameter of this pipeline.");
                }

                return;
            case "Execution" when parts.Length == 2:
                if (!ExecutionVariables.Contains(parts[1]))
                {
                    errors.Add($"{at}: {reference} is not an execution variable ({string.Join(", ", ExecutionVariables)}).");
                }

                return;
            case "Steps" when parts.Length == 3:
                if (parts[1] == step)
                {
                    errors.Add($"{at}: step '{step}' reads its own properties ({reference}).");
                    return;
                }

                if (!steps.Contains(parts[1]))
                {
                    errors.Add($"{at}: {reference} names no step of this pipeline.");
                    return;
                }

                var tokens = ParsePropertyPath(parts[2]);
                var problem = tokens is null ? "it is not a property path" : CheckPropertyPath(sageMaker, tokens);
                if (problem is not null)
                {
                    errors.Add($"{at}: {reference} is not a property of a Processing step: {problem}.");
                    return;
                }

                dataDependencies.Add(parts[1]);
                return;
            default:
                errors.Add($"{at}: Get '{reference}' must read Parameters.<name>, Execution.<variable> or Steps.<step>.<property>.");
                return;
        }
    }

    // The step's properties are its DescribeProcessingJob answer; a path must exist in that shape.
    private static string? CheckPropertyPath(BotocoreModel sageMaker, IReadOnlyList<PathToken> tokens)
    {
        var shape = sageMaker.Shape(StepPropertiesShape);
        foreach (var token in tokens)
        {
            var type = (string)shape["type"]!;
            if (token.Member is { } member)
            {
                if (type != "structure" || shape["members"]?[member] is not JsonObject memberNode)
                {
                    return $"'{member}' is not a member there";
                }

                shape = sageMaker.Shape((string)memberNode["shape"]!);
            }
            else if (type == "list" && token.Key is null)
            {
                shape = sageMaker.Shape((string)shape["member"]!["shape"]!);
            }
            else if (type == "list" && token.Key is not null)
            {
                shape = sageMaker.Shape((string)shape["member"]!["shape"]!);
                if (!(shape["members"]?.AsObject().Any(m => m.Key.EndsWith("Name", StringComparison.Ordinal)) ?? false))
                {
                    return $"the list cannot be indexed by name ['{token.Key}']";
                }
            }
            else if (type == "map" && token.Key is not null)
            {
                shape = sageMaker.Shape((string)shape["value"]!["shape"]!);
            }
            else
            {
                return "an index where the value is not a list or map";
            }
        }

        return (string)shape["type"]! is "structure" or "list" or "map" ? "it names a structure, not a value" : null;
    }

    private static List<string>? FindCycle(List<PipelineStepDefinition> steps)
    {
        var byName = steps.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new List<string>();
        List<string>? Visit(string name)
        {
            state[name] = 1;
            stack.Add(name);
            foreach (var upstream in byName[name].Upstream)
            {
                var seen = state.GetValueOrDefault(upstream);
                if (seen == 1)
                {
                    return [.. stack.Skip(stack.IndexOf(upstream)), upstream];
                }

                if (seen == 0 && Visit(upstream) is { } cycle)
                {
                    return cycle;
                }
            }

            stack.RemoveAt(stack.Count - 1);
            state[name] = 2;
            return null;
        }

        foreach (var step in steps)
        {
            if (state.GetValueOrDefault(step.Name) == 0 && Visit(step.Name) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }

    private static void Only(JsonObject obj, string where, List<string> errors, params string[] allowed)
    {
        foreach (var member in obj.Where(m => !allowed.Contains(m.Key, StringComparer.Ordinal)))
        {
            errors.Add($"'{member.Key}' is not a member of {where} (allowed: {string.Join(", ", allowed)}).");
        }
    }

    private static bool IsString(JsonNode? node) => node is JsonValue value && value.GetValueKind() == JsonValueKind.String;

    [GeneratedRegex(@"^[A-Za-z0-9\-_]{1,64}$")]
    private static partial Regex StepOrParameterName();

    [GeneratedRegex(@"^[A-Za-z0-9\-_]{1,128}$")]
    private static partial Regex MetadataKey();

    [GeneratedRegex(@"\G(?<name>[A-Za-z_][A-Za-z0-9_]*)(\[(?<index>\d+|'[^']*'|""[^""]*"")\])*")]
    private static partial Regex PathSegment();

    [GeneratedRegex(@"^P(?:(?<y>\d+(?:\.\d+)?)Y)?(?:(?<mo>\d+(?:\.\d+)?)M)?(?:(?<w>\d+(?:\.\d+)?)W)?(?:(?<d>\d+(?:\.\d+)?)D)?(?:T(?:(?<h>\d+(?:\.\d+)?)H)?(?:(?<mi>\d+(?:\.\d+)?)M)?(?:(?<s>\d+(?:\.\d+)?)S)?)?$", RegexOptions.IgnoreCase)]
    private static partial Regex Duration();
}

/// <summary>One step of a property path: a member name, a ['key'] or an [index].</summary>
public sealed record PathToken(string? Member, string? Key, int? Index);
