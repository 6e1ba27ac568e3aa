using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>An EC2 instance a test puts in place (the emulator never launches any).</summary>
public sealed class Ec2InstanceSeed
{
    public string InstanceId { get; set; } = string.Empty;

    /// <summary><c>running</c> or <c>stopped</c>.</summary>
    public string State { get; set; } = "stopped";

    public string InstanceType { get; set; } = "t3.medium";

    /// <summary>Shown while running; point SSH tests at 127.0.0.1.</summary>
    public string? PublicIpAddress { get; set; }

    public string? PublicDnsName { get; set; }

    public string? PrivateIpAddress { get; set; } = "10.0.0.10";

    /// <summary>How long pending/stopping last before running/stopped.</summary>
    public int TransitionMs { get; set; }

    public Dictionary<string, string> Tags { get; set; } = [];

    /// <summary>What GetConsoleOutput returns (plain text; null: no output yet, as right after a start).</summary>
    public string? ConsoleOutput { get; set; }
}

/// <summary>EC2 DescribeInstances/StartInstances/StopInstances over seeded instances.</summary>
public sealed partial class Ec2Service : IEmulatedService
{
    private readonly Dictionary<string, Instance> _instances = new(StringComparer.Ordinal);

    public Ec2Service(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "ec2";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal) { "DescribeInstances", "StartInstances", "StopInstances", "GetConsoleOutput" };

    public void Seed(Ec2InstanceSeed seed)
    {
        ArgumentNullException.ThrowIfNull(seed);
        lock (_instances)
        {
            _instances[seed.InstanceId] = new Instance(seed) { State = seed.State };
        }
    }

    /// <summary>The state a test can assert on without an API call.</summary>
    public string? StateOf(string instanceId)
    {
        lock (_instances)
        {
            if (!_instances.TryGetValue(instanceId, out var instance))
            {
                return null;
            }

            instance.Advance(DateTimeOffset.UtcNow);
            return instance.State;
        }
    }

    public void Reset()
    {
        lock (_instances)
        {
            _instances.Clear();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_instances)
        {
            var ids = input["InstanceIds"]?.AsArray().Select(i => (string)i!).ToList() ?? (input["InstanceId"] is { } single ? [(string)single!] : []);
            foreach (var id in ids)
            {
                if (!InstanceIdPattern().IsMatch(id))
                {
                    throw new EmulatorError("InvalidInstanceID.Malformed", $"Invalid id: \"{id}\"");
                }
            }

            var missing = ids.Where(id => !_instances.ContainsKey(id)).ToList();
            if (missing.Count > 0)
            {
                throw new EmulatorError("InvalidInstanceID.NotFound",
                    missing.Count == 1 ? $"The instance ID '{missing[0]}' does not exist" : $"The instance IDs '{string.Join(", ", missing)}' do not exist");
            }

            foreach (var instance in _instances.Values)
            {
                instance.Advance(context.Now);
            }

            return operation switch
            {
                "DescribeInstances" => Describe(ids, input, context),
                "StartInstances" => Change(ids, context, "stopped", "pending", "running"),
                "StopInstances" => Change(ids, context, "running", "stopping", "stopped"),
                "GetConsoleOutput" => ConsoleOutput(_instances[ids[0]], context),
                _ => throw new EmulatorError("InvalidAction", operation),
            };
        }
    }

    private static JsonObject ConsoleOutput(Instance instance, RequestContext context)
    {
        var output = new JsonObject { ["InstanceId"] = instance.Seed.InstanceId, ["Timestamp"] = context.Now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture) };
        if (instance.Seed.ConsoleOutput is { } text)
        {
            output["Output"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));
        }

        return output;
    }

    private JsonObject Describe(List<string> ids, JsonObject input, RequestContext context)
    {
        IEnumerable<Instance> selected = ids.Count > 0 ? ids.Select(id => _instances[id]) : _instances.Values;
        foreach (var filter in input["Filters"]?.AsArray() ?? [])
        {
            var name = (string?)filter!["Name"];
            var values = filter["Values"]?.AsArray().Select(v => (string)v!).ToHashSet(StringComparer.Ordinal) ?? [];
            selected = name switch
            {
                "instance-state-name" => selected.Where(i => values.Contains(i.State)),
                "instance-id" => selected.Where(i => values.Contains(i.Seed.InstanceId)),
                _ when name?.StartsWith("tag:", StringComparison.Ordinal) == true =>
                    selected.Where(i => i.Seed.Tags.TryGetValue(name[4..], out var v) && values.Contains(v)),
                _ => throw new EmulatorError("InvalidParameterValue", $"The filter '{name}' is invalid"),
            };
        }

        var reservations = new JsonArray();
        foreach (var instance in selected)
        {
            reservations.Add(new JsonObject
            {
                ["ReservationId"] = "r-" + instance.Seed.InstanceId[2..],
                ["OwnerId"] = context.AccountId,
                ["Instances"] = new JsonArray(instance.Describe()),
            });
        }

        return new JsonObject { ["Reservations"] = reservations };
    }

    private JsonObject Change(List<string> ids, RequestContext context, string from, string transition, string to)
    {
        var changes = new JsonArray();
        foreach (var id in ids)
        {
            var instance = _instances[id];
            var previous = instance.State;
            if (previous != from && previous != transition && previous != to)
            {
                throw new EmulatorError("IncorrectInstanceState", $"The instance '{id}' is not in a state from which it can be {(to == "running" ? "started" : "stopped")}.");
            }

            if (previous == from)
            {
                instance.State = transition;
                instance.TransitionEnds = context.Now.AddMilliseconds(instance.Seed.TransitionMs);
                instance.Target = to;
            }

            changes.Add(new JsonObject
            {
                ["InstanceId"] = id,
                ["PreviousState"] = Instance.StateNode(previous),
                ["CurrentState"] = Instance.StateNode(instance.State),
            });
        }

        return new JsonObject { [to == "running" ? "StartingInstances" : "StoppingInstances"] = changes };
    }

    [GeneratedRegex("^i-([0-9a-f]{8}|[0-9a-f]{17})$")]
    private static partial Regex InstanceIdPattern();

    private sealed class Instance(Ec2InstanceSeed seed)
    {
        public Ec2InstanceSeed Seed { get; } = seed;

        public string State { get; set; } = seed.State;

        public string? Target { get; set; }

        public DateTimeOffset TransitionEnds { get; set; }

        public void Advance(DateTimeOffset now)
        {
            if (Target is not null && now >= TransitionEnds)
            {
                State = Target;
                Target = null;
            }
        }

        public static JsonObject StateNode(string state) => new()
        {
            ["Code"] = state switch { "pending" => 0, "running" => 16, "shutting-down" => 32, "terminated" => 48, "stopping" => 64, _ => 80 },
            ["Name"] = state,
        };

        public JsonObject Describe()
        {
            // Like EC2 without an Elastic IP: the public address exists only while the instance runs.
            var running = State is "running" or "pending";
            return Json.Object(
                ("InstanceId", Seed.InstanceId),
                ("InstanceType", Seed.InstanceType),
                ("State", StateNode(State)),
                ("PublicIpAddress", running ? Seed.PublicIpAddress : null),
                ("PublicDnsName", running ? Seed.PublicDnsName ?? string.Empty : string.Empty),
                ("PrivateIpAddress", Seed.PrivateIpAddress),
                ("Tags", new JsonArray(Seed.Tags.Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value }).ToArray())));
        }
    }
}

/// <summary>
/// STS GetCallerIdentity (who signed the request) and AssumeRoleWithWebIdentity (the CI OIDC exchange): a token
/// registered through the admin API buys temporary keys with the lifetime the test chose; requests signed with
/// them after that fail with ExpiredToken, as AWS's do.
/// </summary>
public sealed class StsService : IEmulatedService
{
    private readonly object _gate = new();
    private readonly Dictionary<string, WebIdentityTrust> _trusts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _issued = new(StringComparer.Ordinal);
    private int _counter;

    public StsService(BotocoreModel model)
    {
        Model = model;
    }

    public string Name => "sts";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; } = new HashSet<string>(StringComparer.Ordinal) { "GetCallerIdentity", "AssumeRoleWithWebIdentity" };

    /// <summary>Operations AWS serves without a signature: the caller has no keys yet, only its token.</summary>
    public static IReadOnlySet<string> UnsignedOperations { get; } = new HashSet<string>(StringComparer.Ordinal) { "AssumeRoleWithWebIdentity" };

    /// <summary>Accepts <paramref name="trust"/>'s token for its role from now on.</summary>
    public void Trust(WebIdentityTrust trust)
    {
        ArgumentNullException.ThrowIfNull(trust);
        lock (_gate)
        {
            _trusts[trust.Token] = trust;
        }
    }

    /// <summary>Whether <paramref name="accessKeyId"/> was issued here and has expired.</summary>
    public bool IsExpired(string accessKeyId, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _issued.TryGetValue(accessKeyId, out var expiration) && expiration <= now;
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            _trusts.Clear();
            _issued.Clear();
            _counter = 0;
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        if (operation != "AssumeRoleWithWebIdentity")
        {
            return new()
            {
                ["UserId"] = context.AccessKeyId,
                ["Account"] = context.AccountId,
                ["Arn"] = $"arn:aws:iam::{context.AccountId}:user/emulator",
            };
        }
        var token = (string)input["WebIdentityToken"]!;
        var roleArn = (string)input["RoleArn"]!;
        var sessionName = (string)input["RoleSessionName"]!;
        lock (_gate)
        {
            if (!_trusts.TryGetValue(token, out var trust))
            {
                throw new EmulatorError("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements", 400);
            }
            if (trust.RoleArn is not null && trust.RoleArn != roleArn)
            {
                throw new EmulatorError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403);
            }
            var lifetime = TimeSpan.FromSeconds(trust.LifetimeSeconds ?? (input["DurationSeconds"] is { } d ? (long)d : 3600));
            var accessKeyId = "ASIAWEBIDENTITY" + (++_counter).ToString("D5", System.Globalization.CultureInfo.InvariantCulture);
            var expiration = context.Now + lifetime;
            _issued[accessKeyId] = expiration;
            return new()
            {
                ["Credentials"] = new JsonObject
                {
                    ["AccessKeyId"] = accessKeyId,
                    ["SecretAccessKey"] = "web-identity-secret-" + _counter.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["SessionToken"] = "web-identity-session-token-" + _counter.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["Expiration"] = Json.Epoch(expiration),
                },
                ["SubjectFromWebIdentityToken"] = trust.Subject,
                ["AssumedRoleUser"] = new JsonObject
                {
                    ["AssumedRoleId"] = "AROAEMULATOR:" + sessionName,
                    ["Arn"] = roleArn.Replace(":role/", ":assumed-role/", StringComparison.Ordinal).Replace(":iam::", ":sts::", StringComparison.Ordinal) + "/" + sessionName,
                },
                ["Provider"] = trust.Provider,
                ["Audience"] = "sts.amazonaws.com",
            };
        }
    }
}

/// <summary>A web identity token the emulator's STS accepts (admin POST /_emulator/sts/web-identity).</summary>
public sealed class WebIdentityTrust
{
    /// <summary>The token's exact text, as the token file holds it.</summary>
    public required string Token { get; init; }

    /// <summary>The only role it may assume; null: any.</summary>
    public string? RoleArn { get; init; }

    /// <summary>Lifetime of the keys it buys, overriding DurationSeconds (short, to test refreshing).</summary>
    public int? LifetimeSeconds { get; init; }

    public string Subject { get; init; } = "repo:rlabs/pipelines:ref:refs/heads/main";

    public string Provider { get; init; } = "token.actions.githubusercontent.com";
}
