using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.AwsEmulator;

/// <summary>
/// Test control under <c>/_emulator/</c>, unsigned, for tests in other processes (Pester):
/// GET/DELETE requests, POST/DELETE faults, POST reset, POST processing-job behaviour, POST EC2
/// instances, POST log events, GET pipeline executions, POST pipeline step behaviour, POST scheduler/fire
/// (fire a schedule at a time as EventBridge Scheduler would), GET scheduler/next-fire-times.
/// </summary>
public sealed class AdminApi
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly EmulatorState _emulator;

    public AdminApi(EmulatorState emulator)
    {
        _emulator = emulator;
    }

    public async Task HandleAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        var path = http.Request.Path.Value!["/_emulator".Length..].TrimEnd('/');
        var method = http.Request.Method;
        try
        {
            switch (method, path)
            {
                case ("GET", "/requests"):
                    var service = http.Request.Query["service"].ToString();
                    var operation = http.Request.Query["operation"].ToString();
                    var requests = _emulator.Requests.All.Where(r =>
                        (service.Length == 0 || r.Service == service) && (operation.Length == 0 || r.Operation == operation));
                    await WriteJsonAsync(http, requests).ConfigureAwait(false);
                    return;
                case ("DELETE", "/requests"):
                    _emulator.Requests.Clear();
                    break;
                case ("POST", "/faults"):
                    _emulator.Faults.Add(await ReadAsync<FaultRule>(http).ConfigureAwait(false));
                    break;
                case ("DELETE", "/faults"):
                    _emulator.Faults.Clear();
                    break;
                case ("POST", "/reset"):
                    _emulator.Reset();
                    break;
                case ("POST", "/sagemaker/job-behaviour"):
                    var body = await ReadAsync<JsonObject>(http).ConfigureAwait(false);
                    var behaviour = body.Deserialize<ProcessingJobBehaviour>(JsonOptions)!;
                    _emulator.SageMaker.SetBehaviour((string?)body["jobName"], behaviour);
                    break;
                case ("POST", "/logs/events"):
                    var events = await ReadAsync<JsonObject>(http).ConfigureAwait(false);
                    _emulator.Logs.Append((string)events["logGroupName"]!, (string)events["logStreamName"]!, DateTimeOffset.UtcNow,
                        events["messages"]!.AsArray().Select(m => (string)m!));
                    break;
                default:
                    if (!await HandleExtraAsync(http, method, path).ConfigureAwait(false))
                    {
                        http.Response.StatusCode = 404;
                        await http.Response.WriteAsync($"Unknown admin call {method} {path}").ConfigureAwait(false);
                    }

                    return;
            }

            http.Response.StatusCode = 204;
        }
        catch (JsonException ex)
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync(ex.Message).ConfigureAwait(false);
        }
    }

    private async Task<bool> HandleExtraAsync(HttpContext http, string method, string path)
    {
        switch (method, path)
        {
            case ("POST", "/access-keys"):
                var keys = await ReadAsync<JsonObject>(http).ConfigureAwait(false);
                lock (_emulator.KnownAccessKeys)
                {
                    _emulator.KnownAccessKeys.Clear();
                    _emulator.KnownAccessKeys.UnionWith(keys["accessKeys"]!.AsArray().Select(k => (string)k!));
                }

                http.Response.StatusCode = 204;
                return true;
            case ("POST", "/sts/web-identity"):
                _emulator.Sts.Trust(await ReadAsync<WebIdentityTrust>(http).ConfigureAwait(false));
                http.Response.StatusCode = 204;
                return true;
            case ("GET", "/sagemaker/processing-jobs"):
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync(_emulator.SageMaker.Snapshot().ToJsonString()).ConfigureAwait(false);
                return true;
            case ("GET", "/sagemaker/pipeline-executions"):
                var pipelineName = http.Request.Query["pipelineName"].ToString();
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync(_emulator.SageMaker.Pipelines.Snapshot(pipelineName.Length == 0 ? null : pipelineName).ToJsonString()).ConfigureAwait(false);
                return true;
            case ("POST", "/sagemaker/pipeline-step-behaviour"):
                _emulator.SageMaker.Pipelines.SetStepBehaviour(await ReadAsync<PipelineStepBehaviour>(http).ConfigureAwait(false));
                http.Response.StatusCode = 204;
                return true;
            case ("POST", "/scheduler/fire"):
            {
                var fire = await ReadAsync<JsonObject>(http).ConfigureAwait(false);
                var firing = _emulator.Scheduler.Fire((string?)fire["group"] ?? "default", (string)fire["name"]!,
                    DateTimeOffset.Parse((string)fire["time"]!, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal));
                await WriteJsonAsync(http, firing).ConfigureAwait(false);
                return true;
            }

            case ("GET", "/scheduler/next-fire-times"):
            {
                var query = http.Request.Query;
                var times = _emulator.Scheduler.NextFireTimes(query["group"].ToString() is { Length: > 0 } g ? g : "default", query["name"].ToString(),
                    DateTimeOffset.Parse(query["after"].ToString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal),
                    int.TryParse(query["count"].ToString(), System.Globalization.CultureInfo.InvariantCulture, out var count) ? count : 3);
                await WriteJsonAsync(http, times.Select(t => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture))).ConfigureAwait(false);
                return true;
            }

            case ("POST", "/ec2/instances"):
                _emulator.Ec2.Seed(await ReadAsync<Ec2InstanceSeed>(http).ConfigureAwait(false));
                http.Response.StatusCode = 204;
                return true;
            default:
                return false;
        }
    }

    private static async Task<T> ReadAsync<T>(HttpContext http) =>
        await JsonSerializer.DeserializeAsync<T>(http.Request.Body, JsonOptions).ConfigureAwait(false)
        ?? throw new JsonException("Empty body.");

    private static async Task WriteJsonAsync<T>(HttpContext http, T value)
    {
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, value, JsonOptions).ConfigureAwait(false);
    }
}
