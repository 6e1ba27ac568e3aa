using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator;

/// <summary>An AWS error the emulator answers with, in the protocol's error shape.</summary>
public sealed class EmulatorError : Exception
{
    public EmulatorError()
        : this("InternalFailure", "Internal failure.")
    {
    }

    public EmulatorError(string message)
        : this("InternalFailure", message)
    {
    }

    public EmulatorError(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = "InternalFailure";
    }

    public EmulatorError(string code, string message, int? statusCode = null)
        : base(message)
    {
        Code = code;
        StatusCode = statusCode;
    }

    public string Code { get; }

    /// <summary>When null, the status comes from the model's error shape (400 if it has none).</summary>
    public int? StatusCode { get; }
}

/// <summary>Who called, from the SigV4 Authorization header.</summary>
public sealed class RequestContext
{
    public required string Service { get; init; }

    public required string Operation { get; init; }

    public required string Region { get; init; }

    public required string AccessKeyId { get; init; }

    public required string RequestId { get; init; }

    public required string AccountId { get; init; }

    public DateTimeOffset Now { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>One request the emulator received, accepted or not.</summary>
public sealed class RecordedRequest
{
    public long Sequence { get; init; }

    public DateTimeOffset Time { get; init; }

    public string Service { get; init; } = string.Empty;

    public string Operation { get; init; } = string.Empty;

    public string Region { get; init; } = string.Empty;

    public string AccessKeyId { get; init; } = string.Empty;

    public JsonNode? Parameters { get; set; }

    /// <summary>Whether the request carried X-Amz-Security-Token (its value is never kept).</summary>
    public bool HasSessionToken { get; set; }

    /// <summary>The request as sent, when <see cref="EmulatorState.CaptureRawRequests"/> is on (signature checks).</summary>
    public RawRequest? Raw { get; set; }

    public int StatusCode { get; set; }

    public string? ErrorCode { get; set; }

    public string? ErrorMessage { get; set; }
}

/// <summary>
/// A configured fault: answer the matching operation with throttling, a 5xx or a chosen error, or
/// delay it, <see cref="Count"/> times (every time when null).
/// </summary>
public sealed class FaultRule
{
    /// <summary>Service signing name (sagemaker, logs, s3, …); null matches any.</summary>
    public string? Service { get; set; }

    /// <summary>Operation name; null matches any.</summary>
    public string? Operation { get; set; }

    /// <summary>
    /// <c>Throttling</c>, <c>ServerError</c>, <c>Error</c> or <c>Latency</c>; or <c>AnswerLost</c>: the operation runs,
    /// then the caller gets a 500 as if the answer was lost (JSON services).
    /// </summary>
    public string Kind { get; set; } = "Throttling";

    public int? Count { get; set; }

    public int DelayMs { get; set; }

    /// <summary>For <c>Error</c> (and to override the defaults of the others).</summary>
    public string? ErrorCode { get; set; }

    public int? StatusCode { get; set; }

    public string? Message { get; set; }

    /// <summary>
    /// Answer with the error only after the call took effect (SageMaker and the other JSON and query services;
    /// not S3): an answer lost on its way back, which a client retries although its first call succeeded.
    /// </summary>
    public bool AfterInvoke { get; set; }

    internal bool Matches(string service, string operation) =>
        (Service is null || string.Equals(Service, service, StringComparison.OrdinalIgnoreCase))
        && (Operation is null || string.Equals(Operation, operation, StringComparison.Ordinal));
}

/// <summary>Holds the fault rules and hands out the ones that fire.</summary>
public sealed class FaultInjector
{
    private readonly List<FaultRule> _rules = [];

    public void Add(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        lock (_rules)
        {
            _rules.Add(rule);
        }
    }

    public void Clear()
    {
        lock (_rules)
        {
            _rules.Clear();
        }
    }

    /// <summary>The latency to add and the error to answer with (if any), consuming one use of each rule that fires.</summary>
    public (int DelayMs, FaultRule? Error) Take(string service, string operation)
    {
        lock (_rules)
        {
            var delay = 0;
            FaultRule? error = null;
            foreach (var rule in _rules.ToList())
            {
                if (!rule.Matches(service, operation) || rule.Count is <= 0)
                {
                    continue;
                }

                if (rule.Kind == "Latency")
                {
                    delay += rule.DelayMs;
                }
                else if (error is null)
                {
                    error = rule;
                }
                else
                {
                    continue;
                }

                if (rule.Count is not null)
                {
                    rule.Count--;
                }
            }

            return (delay, error);
        }
    }
}

/// <summary>Every request received, in order, for tests to assert on.</summary>
public sealed class RequestLog
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private long _sequence;

    public RecordedRequest Add(string service, string operation, string region, string accessKeyId)
    {
        var request = new RecordedRequest
        {
            Sequence = Interlocked.Increment(ref _sequence),
            Time = DateTimeOffset.UtcNow,
            Service = service,
            Operation = operation,
            Region = region,
            AccessKeyId = accessKeyId,
        };
        _requests.Enqueue(request);
        return request;
    }

    public IReadOnlyList<RecordedRequest> All => _requests.ToArray();

    public IReadOnlyList<RecordedRequest> For(string service, string? operation = null) =>
        _requests.Where(r => r.Service == service && (operation is null || r.Operation == operation)).ToArray();

    public void Clear() => _requests.Clear();
}

/// <summary>An emulated service whose operations take and return JSON trees shaped like the model.</summary>
public interface IEmulatedService
{
    /// <summary>Signing name, e.g. <c>sagemaker</c>.</summary>
    string Name { get; }

    BotocoreModel Model { get; }

    /// <summary>Operations this emulator implements; others answer as not implemented.</summary>
    IReadOnlySet<string> Operations { get; }

    JsonObject Invoke(string operation, JsonObject input, RequestContext context);

    void Reset();
}

/// <summary>Helpers for building model-shaped JSON.</summary>
public static class Json
{
    public static double Epoch(DateTimeOffset time) => Math.Round(time.ToUnixTimeMilliseconds() / 1000.0, 3);

    public static long EpochMs(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static string? Str(JsonObject input, string member) => (string?)input[member];

    public static int? Int(JsonObject input, string member) => input[member] is JsonValue v ? (int)Number(v) : null;

    /// <summary>A JSON number whichever CLR type the node was built from (parsed nodes hold JsonElement, built ones long or double).</summary>
    public static double Number(JsonNode node) =>
        double.Parse(node.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    public static bool? Bool(JsonObject input, string member) => input[member] is JsonValue v ? v.GetValue<bool>() : null;

    public static JsonNode? Clone(JsonNode? node) => node?.DeepClone();

    public static JsonObject Object(params (string Key, JsonNode? Value)[] members)
    {
        var obj = new JsonObject();
        foreach (var (key, value) in members)
        {
            if (value is not null)
            {
                obj[key] = value;
            }
        }

        return obj;
    }
}

/// <summary>A request exactly as it arrived: enough to recompute its SigV4 signature elsewhere.</summary>
public sealed class RawRequest
{
    public string Method { get; init; } = string.Empty;

    /// <summary>Path and query as sent, still percent-encoded.</summary>
    public string RawTarget { get; init; } = string.Empty;

    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    public string BodyBase64 { get; init; } = string.Empty;
}
