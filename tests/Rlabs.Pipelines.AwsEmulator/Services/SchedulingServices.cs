using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>IAM roles with inline policies.</summary>
public sealed class IamService : IEmulatedService
{
    private readonly Dictionary<string, Role> _roles = new(StringComparer.OrdinalIgnoreCase);

    public IamService(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "iam";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "GetRole", "CreateRole", "GetRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole",
    };

    /// <summary>Whether a role with this ARN exists and trusts <paramref name="principal"/> (Lambda checks this).</summary>
    public bool RoleTrusts(string roleArn, string principal)
    {
        lock (_roles)
        {
            return _roles.Values.Any(r => (string?)r.Data["Arn"] == roleArn && r.TrustPolicy.Contains(principal, StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// Whether the role's inline policies allow <paramref name="action"/> on <paramref name="resource"/>: an
    /// Allow statement matches (IAM wildcards * and ?) and no Deny statement does.
    /// </summary>
    public bool RoleAllows(string roleArn, string action, string resource)
    {
        lock (_roles)
        {
            var role = _roles.Values.FirstOrDefault(r => (string?)r.Data["Arn"] == roleArn);
            if (role is null)
            {
                return false;
            }

            var allowed = false;
            foreach (var document in role.Policies.Values)
            {
                var statements = JsonNode.Parse(document)!["Statement"];
                foreach (var statement in statements is JsonArray array ? array.OfType<JsonObject>() : statements is JsonObject single ? [single] : [])
                {
                    if (!Matches(statement["Action"], action, ignoreCase: true) || !Matches(statement["Resource"], resource, ignoreCase: false))
                    {
                        continue;
                    }

                    if ((string?)statement["Effect"] == "Deny")
                    {
                        return false;
                    }

                    allowed |= (string?)statement["Effect"] == "Allow";
                }
            }

            return allowed;
        }
    }

    private static bool Matches(JsonNode? patterns, string value, bool ignoreCase)
    {
        var list = patterns is JsonArray array ? array.Select(p => (string?)p) : [(string?)patterns];
        return list.Any(p => p is not null && Regex.IsMatch(value, "^" + Regex.Escape(p).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None));
    }

    /// <summary>Inline policy documents of a role, for test assertions.</summary>
    public IReadOnlyDictionary<string, string> InlinePolicies(string roleName)
    {
        lock (_roles)
        {
            return _roles.TryGetValue(roleName, out var role) ? new Dictionary<string, string>(role.Policies) : [];
        }
    }

    public void Reset()
    {
        lock (_roles)
        {
            _roles.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_roles)
        {
            var roleName = Json.Str(input, "RoleName")!;
            switch (operation)
            {
                case "CreateRole":
                {
                    if (_roles.ContainsKey(roleName))
                    {
                        throw new EmulatorError("EntityAlreadyExists", $"Role with name {roleName} already exists.", 409);
                    }

                    var document = Json.Str(input, "AssumeRolePolicyDocument")!;
                    RequirePolicy(document);
                    var path = Json.Str(input, "Path") ?? "/";
                    var data = Json.Object(
                        ("Path", path),
                        ("RoleName", roleName),
                        ("RoleId", "AROA" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8))),
                        ("Arn", $"arn:aws:iam::{context.AccountId}:role{path}{roleName}"),
                        ("CreateDate", Json.Epoch(context.Now)),
                        // IAM returns policy documents URL-encoded (RFC 3986); clients decode them.
                        ("AssumeRolePolicyDocument", Uri.EscapeDataString(document)),
                        ("Description", Json.Str(input, "Description")),
                        ("MaxSessionDuration", Json.Int(input, "MaxSessionDuration") ?? 3600),
                        ("Tags", input["Tags"]?.DeepClone()));
                    _roles[roleName] = new Role(data, document);
                    return new JsonObject { ["Role"] = data.DeepClone() };
                }

                case "GetRole":
                    return new JsonObject { ["Role"] = Find(roleName).Data.DeepClone() };
                case "GetRolePolicy":
                {
                    var policyName = Json.Str(input, "PolicyName")!;
                    if (!Find(roleName).Policies.TryGetValue(policyName, out var document))
                    {
                        throw new EmulatorError("NoSuchEntity", $"The role policy with name {policyName} cannot be found.", 404);
                    }

                    // IAM returns policy documents URL-encoded (RFC 3986), as stored (not normalised).
                    return Json.Object(("RoleName", roleName), ("PolicyName", policyName), ("PolicyDocument", Uri.EscapeDataString(document)));
                }

                case "PutRolePolicy":
                {
                    var role = Find(roleName);
                    var document = Json.Str(input, "PolicyDocument")!;
                    RequirePolicy(document);
                    role.Policies[Json.Str(input, "PolicyName")!] = document;
                    return [];
                }

                case "DeleteRolePolicy":
                {
                    var policyName = Json.Str(input, "PolicyName")!;
                    if (!Find(roleName).Policies.Remove(policyName))
                    {
                        throw new EmulatorError("NoSuchEntity", $"The role policy with name {policyName} cannot be found.", 404);
                    }

                    return [];
                }

                case "DeleteRole":
                    if (Find(roleName).Policies.Count > 0)
                    {
                        throw new EmulatorError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409);
                    }

                    _roles.Remove(roleName);
                    return [];
                default:
                    throw new EmulatorError("InvalidAction", operation);
            }
        }
    }

    private Role Find(string roleName) =>
        _roles.GetValueOrDefault(roleName) ?? throw new EmulatorError("NoSuchEntity", $"The role with name {roleName} cannot be found.", 404);

    private static void RequirePolicy(string document)
    {
        try
        {
            if (JsonNode.Parse(document) is not JsonObject policy || policy["Statement"] is null)
            {
                throw new EmulatorError("MalformedPolicyDocument", "Syntax errors in policy.");
            }
        }
        catch (JsonException)
        {
            throw new EmulatorError("MalformedPolicyDocument", "This policy contains invalid Json");
        }
    }

    private sealed class Role(JsonObject data, string trustPolicy)
    {
        public JsonObject Data { get; } = data;

        public string TrustPolicy { get; } = trustPolicy;

        public Dictionary<string, string> Policies { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>Lambda functions with zip code and resource-policy statements.</summary>
public sealed class LambdaService : IEmulatedService
{
    private readonly Dictionary<string, Function> _functions = new(StringComparer.Ordinal);
    private readonly IamService _iam;

    public LambdaService(BotocoreModel model, IamService iam)
    {
        Model = model;
        _iam = iam;
    }

    public string Name => "lambda";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "CreateFunction", "GetFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration", "DeleteFunction", "AddPermission", "GetPolicy", "RemovePermission",
    };

    /// <summary>The deployed zip, for tests that inspect the handler.</summary>
    public byte[]? FunctionZip(string name)
    {
        lock (_functions)
        {
            return _functions.GetValueOrDefault(name)?.Zip;
        }
    }

    /// <summary>Resource-policy statements by id, for test assertions.</summary>
    public IReadOnlyDictionary<string, JsonObject> Permissions(string name)
    {
        lock (_functions)
        {
            return _functions.TryGetValue(name, out var f) ? f.Statements.ToDictionary(s => s.Key, s => (JsonObject)s.Value.DeepClone()) : [];
        }
    }

    public void Reset()
    {
        lock (_functions)
        {
            _functions.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_functions)
        {
            var name = Json.Str(input, "FunctionName")!;
            var arn = $"arn:aws:lambda:{context.Region}:{context.AccountId}:function:{name}";
            switch (operation)
            {
                case "CreateFunction":
                {
                    if (_functions.ContainsKey(name))
                    {
                        throw new EmulatorError("ResourceConflictException", $"Function already exist: {name}");
                    }

                    if ((Json.Str(input, "PackageType") ?? "Zip") == "Zip" && (Json.Str(input, "Runtime") is null || Json.Str(input, "Handler") is null))
                    {
                        throw new EmulatorError("InvalidParameterValueException", "Runtime and Handler are mandatory parameters for functions created with deployment packages.");
                    }

                    RequireRole(Json.Str(input, "Role")!);
                    var zip = Code(input["Code"]?.AsObject() ?? []);
                    var configuration = Json.Object(
                        ("FunctionName", name),
                        ("FunctionArn", arn),
                        ("Runtime", Json.Str(input, "Runtime")),
                        ("Role", Json.Str(input, "Role")),
                        ("Handler", Json.Str(input, "Handler")),
                        ("Description", Json.Str(input, "Description") ?? string.Empty),
                        ("Timeout", Json.Int(input, "Timeout") ?? 3),
                        ("MemorySize", Json.Int(input, "MemorySize") ?? 128),
                        ("Version", "$LATEST"),
                        ("Environment", input["Environment"] is JsonObject env ? new JsonObject { ["Variables"] = env["Variables"]?.DeepClone() ?? new JsonObject() } : null),
                        ("State", "Active"),
                        ("LastUpdateStatus", "Successful"),
                        ("PackageType", "Zip"),
                        ("Architectures", input["Architectures"]?.DeepClone() ?? new JsonArray("x86_64")));
                    var function = new Function(configuration, input["Tags"]?.AsObject().DeepClone() as JsonObject);
                    function.SetCode(zip, context.Now);
                    _functions[name] = function;
                    return (JsonObject)configuration.DeepClone();
                }

                case "GetFunction":
                {
                    var function = Find(name, arn);
                    return Json.Object(
                        ("Configuration", function.Configuration.DeepClone()),
                        ("Code", new JsonObject { ["RepositoryType"] = "S3", ["Location"] = $"https://awslambda-{context.Region}-tasks.s3.{context.Region}.amazonaws.com/snapshots/{context.AccountId}/{name}" }),
                        ("Tags", function.Tags?.DeepClone()));
                }

                case "UpdateFunctionCode":
                {
                    var function = Find(name, arn);
                    function.SetCode(Code(input), context.Now);
                    return (JsonObject)function.Configuration.DeepClone();
                }

                case "UpdateFunctionConfiguration":
                {
                    var function = Find(name, arn);
                    if (Json.Str(input, "Role") is { } role)
                    {
                        RequireRole(role);
                    }

                    foreach (var member in new[] { "Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime" })
                    {
                        if (input[member] is { } value)
                        {
                            function.Configuration[member] = value.DeepClone();
                        }
                    }

                    if (input["Environment"] is JsonObject environment)
                    {
                        function.Configuration["Environment"] = new JsonObject { ["Variables"] = environment["Variables"]?.DeepClone() ?? new JsonObject() };
                    }

                    function.Touch(context.Now);
                    return (JsonObject)function.Configuration.DeepClone();
                }

                case "DeleteFunction":
                    Find(name, arn);
                    _functions.Remove(name);
                    return [];
                case "AddPermission":
                {
                    var function = Find(name, arn);
                    var statementId = Json.Str(input, "StatementId")!;
                    if (function.Statements.ContainsKey(statementId))
                    {
                        throw new EmulatorError("ResourceConflictException",
                            $"The statement id ({statementId}) provided already exists. Please provide a new statement id, or remove the existing statement.");
                    }

                    var statement = new JsonObject
                    {
                        ["Sid"] = statementId,
                        ["Effect"] = "Allow",
                        ["Principal"] = new JsonObject { ["Service"] = Json.Str(input, "Principal") },
                        ["Action"] = Json.Str(input, "Action"),
                        ["Resource"] = arn,
                    };
                    if (Json.Str(input, "SourceArn") is { } sourceArn)
                    {
                        statement["Condition"] = new JsonObject { ["ArnLike"] = new JsonObject { ["AWS:SourceArn"] = sourceArn } };
                    }

                    function.Statements[statementId] = statement;
                    return new JsonObject { ["Statement"] = statement.ToJsonString() };
                }

                case "GetPolicy":
                {
                    var function = Find(name, arn);
                    if (function.Statements.Count == 0)
                    {
                        throw new EmulatorError("ResourceNotFoundException", "The resource you requested does not exist.");
                    }

                    var policy = new JsonObject
                    {
                        ["Version"] = "2012-10-17",
                        ["Id"] = "default",
                        ["Statement"] = new JsonArray(function.Statements.Values.Select(s => (JsonNode)s.DeepClone()).ToArray()),
                    };
                    return Json.Object(("Policy", policy.ToJsonString()), ("RevisionId", Guid.NewGuid().ToString()));
                }

                case "RemovePermission":
                {
                    var function = Find(name, arn);
                    if (!function.Statements.Remove(Json.Str(input, "StatementId")!))
                    {
                        throw new EmulatorError("ResourceNotFoundException", "The resource you requested does not exist.");
                    }

                    return [];
                }

                default:
                    throw new EmulatorError("UnknownOperationException", operation);
            }
        }
    }

    private Function Find(string name, string arn) =>
        _functions.GetValueOrDefault(name) ?? throw new EmulatorError("ResourceNotFoundException", $"Function not found: {arn}");

    private void RequireRole(string roleArn)
    {
        if (!_iam.RoleTrusts(roleArn, "lambda.amazonaws.com"))
        {
            throw new EmulatorError("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.");
        }
    }

    private static byte[] Code(JsonObject code)
    {
        if (Json.Str(code, "ZipFile") is not { } base64)
        {
            throw new EmulatorError("InvalidParameterValueException", "Please provide a source for function code.");
        }

        var zip = Convert.FromBase64String(base64);
        if (zip.Length < 4 || zip[0] != 'P' || zip[1] != 'K')
        {
            throw new EmulatorError("InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again.");
        }

        return zip;
    }

    private sealed class Function(JsonObject configuration, JsonObject? tags)
    {
        public JsonObject Configuration { get; } = configuration;

        public JsonObject? Tags { get; } = tags;

        public byte[] Zip { get; private set; } = [];

        public Dictionary<string, JsonObject> Statements { get; } = new(StringComparer.Ordinal);

        public void SetCode(byte[] zip, DateTimeOffset now)
        {
            Zip = zip;
            Configuration["CodeSize"] = zip.LongLength;
            Configuration["CodeSha256"] = Convert.ToBase64String(SHA256.HashData(zip));
            Touch(now);
        }

        public void Touch(DateTimeOffset now)
        {
            Configuration["LastModified"] = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
            Configuration["RevisionId"] = Guid.NewGuid().ToString();
        }
    }
}

/// <summary>EventBridge rules on the default bus and their targets.</summary>
public sealed partial class EventsService : IEmulatedService
{
    private const int MaxTargetsPerRule = 5;
    private readonly SortedDictionary<string, Rule> _rules = new(StringComparer.Ordinal);

    public EventsService(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "events";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "PutRule", "DescribeRule", "ListRules", "EnableRule", "DisableRule", "DeleteRule", "PutTargets", "ListTargetsByRule", "RemoveTargets",
    };

    public void Reset()
    {
        lock (_rules)
        {
            _rules.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_rules)
        {
            var bus = Json.Str(input, "EventBusName") ?? "default";
            if (bus != "default")
            {
                throw new EmulatorError("ResourceNotFoundException", $"Event bus {bus} does not exist.");
            }

            var name = Json.Str(input, "Name") ?? Json.Str(input, "Rule");
            switch (operation)
            {
                case "PutRule":
                {
                    var schedule = Json.Str(input, "ScheduleExpression");
                    var pattern = Json.Str(input, "EventPattern");
                    if (schedule is null && pattern is null)
                    {
                        throw new EmulatorError("ValidationException", "Parameter(s) ScheduleExpression or EventPattern must be specified.");
                    }

                    if (schedule is not null && !SchedulePattern().IsMatch(schedule))
                    {
                        throw new EmulatorError("ValidationException", "Parameter ScheduleExpression is not valid.");
                    }

                    if (pattern is not null)
                    {
                        try
                        {
                            if (JsonNode.Parse(pattern) is not JsonObject)
                            {
                                throw new EmulatorError("InvalidEventPatternException", "Event pattern is not valid. Reason: Filter is not an object");
                            }
                        }
                        catch (JsonException ex)
                        {
                            throw new EmulatorError("InvalidEventPatternException", $"Event pattern is not valid. Reason: {ex.Message}");
                        }
                    }

                    var arn = $"arn:aws:events:{context.Region}:{context.AccountId}:rule/{name}";
                    var data = Json.Object(
                        ("Name", name),
                        ("Arn", arn),
                        ("EventPattern", pattern),
                        ("ScheduleExpression", schedule),
                        ("State", Json.Str(input, "State") ?? "ENABLED"),
                        ("Description", Json.Str(input, "Description")),
                        ("RoleArn", Json.Str(input, "RoleArn")),
                        ("EventBusName", "default"));
                    if (_rules.TryGetValue(name!, out var existing))
                    {
                        existing.Data = data;
                    }
                    else
                    {
                        _rules[name!] = new Rule(data);
                    }

                    return new JsonObject { ["RuleArn"] = arn };
                }

                case "DescribeRule":
                {
                    var data = (JsonObject)Find(name!).Data.DeepClone();
                    data["CreatedBy"] = context.AccountId;
                    return data;
                }

                case "ListRules":
                {
                    var prefix = Json.Str(input, "NamePrefix") ?? string.Empty;
                    var all = _rules.Values.Where(r => ((string)r.Data["Name"]!).StartsWith(prefix, StringComparison.Ordinal)).ToList();
                    return Page(all.Select(r => (JsonNode)r.Data.DeepClone()).ToList(), "Rules", input);
                }

                case "EnableRule" or "DisableRule":
                    Find(name!).Data["State"] = operation == "EnableRule" ? "ENABLED" : "DISABLED";
                    return [];
                case "DeleteRule":
                    if (_rules.TryGetValue(name!, out var rule))
                    {
                        if (rule.Targets.Count > 0 && Json.Bool(input, "Force") != true)
                        {
                            throw new EmulatorError("ValidationException", "Rule can't be deleted since it has targets.");
                        }

                        _rules.Remove(name!);
                    }

                    return [];
                case "PutTargets":
                {
                    var target = Find(name!);
                    var targets = input["Targets"]!.AsArray();
                    var ids = targets.Select(t => (string)t!["Id"]!).ToList();
                    if (target.Targets.Keys.Union(ids).Count() > MaxTargetsPerRule)
                    {
                        throw new EmulatorError("LimitExceededException", "The requested resource exceeds the maximum number allowed.");
                    }

                    foreach (var item in targets)
                    {
                        target.Targets[(string)item!["Id"]!] = (JsonObject)item.DeepClone();
                    }

                    return new JsonObject { ["FailedEntryCount"] = 0, ["FailedEntries"] = new JsonArray() };
                }

                case "ListTargetsByRule":
                    return Page(Find(name!).Targets.Values.Select(t => (JsonNode)t.DeepClone()).ToList(), "Targets", input);
                case "RemoveTargets":
                {
                    var target = Find(name!);
                    foreach (var id in input["Ids"]!.AsArray())
                    {
                        target.Targets.Remove((string)id!);
                    }

                    return new JsonObject { ["FailedEntryCount"] = 0, ["FailedEntries"] = new JsonArray() };
                }

                default:
                    throw new EmulatorError("UnknownOperationException", operation);
            }
        }
    }

    private Rule Find(string name) =>
        _rules.GetValueOrDefault(name) ?? throw new EmulatorError("ResourceNotFoundException", $"Rule {name} does not exist on EventBus default.");

    private static JsonObject Page(List<JsonNode> items, string member, JsonObject input)
    {
        var offset = Json.Str(input, "NextToken") is { } token ? int.Parse(token, CultureInfo.InvariantCulture) : 0;
        var limit = Json.Int(input, "Limit") ?? 100;
        var page = items.Skip(offset).Take(limit).ToArray();
        var result = new JsonObject { [member] = new JsonArray(page) };
        if (offset + page.Length < items.Count)
        {
            result["NextToken"] = (offset + page.Length).ToString(CultureInfo.InvariantCulture);
        }

        return result;
    }

    // rate(1 minute|hour|day), rate(N minutes|hours|days) or a six-field cron(...).
    [GeneratedRegex(@"^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)|cron\(\S+ \S+ \S+ \S+ \S+ \S+\))$")]
    private static partial Regex SchedulePattern();

    private sealed class Rule(JsonObject data)
    {
        public JsonObject Data { get; set; } = data;

        public Dictionary<string, JsonObject> Targets { get; } = new(StringComparer.Ordinal);
    }
}
