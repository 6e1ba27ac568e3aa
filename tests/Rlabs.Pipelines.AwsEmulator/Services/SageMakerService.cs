using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>How an emulated processing job ends. Set per job name, or as the default.</summary>
public sealed class ProcessingJobBehaviour
{
    /// <summary>Time from creation to the terminal status.</summary>
    public int DurationMs { get; set; }

    /// <summary><c>Completed</c> or <c>Failed</c>.</summary>
    public string Outcome { get; set; } = "Completed";

    public string? FailureReason { get; set; }

    public string? ExitMessage { get; set; }

    /// <summary>Run the job's container command with the executor, if one is configured.</summary>
    public bool Execute { get; set; }

    /// <summary>How long the job stays <c>Stopping</c> after StopProcessingJob before it is <c>Stopped</c> (0: at the next call).</summary>
    public int StopDurationMs { get; set; }
}

/// <summary>Runs a processing job's command for real; see <see cref="LocalProcessingJobExecutor"/>.</summary>
public interface IProcessingJobExecutor
{
    /// <summary>Runs the job to its end, writing its output lines through <paramref name="log"/> as they come.</summary>
    Task<(bool Succeeded, string? FailureReason)> RunAsync(JsonObject job, Action<string> log, CancellationToken cancellationToken);
}

/// <summary>SageMaker Processing: jobs move InProgress → Completed/Failed, or Stopping → Stopped. SageMaker
/// Pipelines (<see cref="SageMakerPipelineService"/>) run their steps as such jobs; tags belong to either.</summary>
public sealed class SageMakerService : IEmulatedService
{
    public const string LogGroup = "/aws/sagemaker/ProcessingJobs";

    private static readonly string[] s_jobOperations =
        ["CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob", "ListProcessingJobs", "AddTags", "ListTags", "DeleteTags"];

    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ProcessingJobBehaviour> _behaviours = new(StringComparer.Ordinal);
    private readonly List<(string Prefix, ProcessingJobBehaviour Behaviour)> _once = [];
    private readonly Dictionary<string, List<(string Key, string Value)>> _tags = new(StringComparer.Ordinal);
    private readonly LogsService _logs;
    private ProcessingJobBehaviour _default = new();

    public SageMakerService(BotocoreModel model, LogsService logs)
    {
        Model = model;
        _logs = logs;
        Pipelines = new SageMakerPipelineService(this, model);
        Operations = new HashSet<string>(
            s_jobOperations.Concat(SageMakerPipelineService.OperationNames),
            StringComparer.Ordinal);
    }

    public SageMakerPipelineService Pipelines { get; }

    public string Name => "sagemaker";

    public BotocoreModel Model { get; }

    public IReadOnlySet<string> Operations { get; }

    public IProcessingJobExecutor? Executor { get; set; }

    /// <summary>Sets how the job called <paramref name="jobName"/> ends, or every job without its own when null.</summary>
    public void SetBehaviour(string? jobName, ProcessingJobBehaviour behaviour)
    {
        lock (_jobs)
        {
            if (jobName is null)
            {
                _default = behaviour;
            }
            else
            {
                _behaviours[jobName] = behaviour;
            }
        }
    }

    /// <summary>
    /// The next job created whose name starts with <paramref name="namePrefix"/> ends as <paramref name="behaviour"/>
    /// says, once (fault injection for a job name that is not known in advance, e.g. its random attempt suffix).
    /// </summary>
    public void SetBehaviourOnce(string namePrefix, ProcessingJobBehaviour behaviour)
    {
        lock (_jobs)
        {
            _once.Add((namePrefix, behaviour));
        }
    }

    public void Reset()
    {
        Pipelines.Reset();
        lock (_jobs)
        {
            foreach (var job in _jobs.Values)
            {
                job.Cancellation.Cancel();
            }

            _jobs.Clear();
            _tags.Clear();
            _behaviours.Clear();
            _once.Clear();
            _default = new ProcessingJobBehaviour();
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);

        // Pipelines take their own lock first and this one inside it, never the other way round.
        if (SageMakerPipelineService.OperationNames.Contains(operation))
        {
            return Pipelines.Invoke(operation, input, context);
        }

        if (operation is "AddTags" or "ListTags" or "DeleteTags")
        {
            return Tags(operation, input);
        }

        lock (_jobs)
        {
            foreach (var job in _jobs.Values)
            {
                Advance(job, context.Now);
            }

            return operation switch
            {
                "CreateProcessingJob" => Create(input, context),
                "DescribeProcessingJob" => Find(Json.Str(input, "ProcessingJobName")!).Describe(),
                "StopProcessingJob" => Stop(Json.Str(input, "ProcessingJobName")!, context),
                "ListProcessingJobs" => List(input),
                _ => throw new EmulatorError("UnknownOperationException", operation),
            };
        }
    }

    private JsonObject Create(JsonObject input, RequestContext context)
    {
        var name = Json.Str(input, "ProcessingJobName")!;
        var once = _once.FindIndex(o => name.StartsWith(o.Prefix, StringComparison.Ordinal));
        var behaviour = once >= 0 && !_jobs.ContainsKey(name) ? _once[once].Behaviour : _behaviours.GetValueOrDefault(name) ?? _default;
        if (once >= 0 && !_jobs.ContainsKey(name))
        {
            _once.RemoveAt(once);
        }
        return CreateLocked(input, behaviour, context.Region, context.AccountId, context.Now);
    }

    /// <summary>Creates the job of a pipeline step (SageMaker Pipelines calls CreateProcessingJob itself; the client never sees it).</summary>
    internal string CreateForPipeline(JsonObject request, ProcessingJobBehaviour behaviour, string region, string accountId)
    {
        lock (_jobs)
        {
            return (string)CreateLocked(request, behaviour, region, accountId, DateTimeOffset.UtcNow)["ProcessingJobArn"]!;
        }
    }

    /// <summary>The job's DescribeProcessingJob answer, its status brought up to now.</summary>
    internal JsonObject PollForPipeline(string name)
    {
        lock (_jobs)
        {
            var job = Find(name);
            Advance(job, DateTimeOffset.UtcNow);
            return job.Describe();
        }
    }

    /// <summary>Stops a pipeline step's job if it still runs (a stopped execution stops its running jobs).</summary>
    internal void StopForPipeline(string name)
    {
        lock (_jobs)
        {
            if (_jobs.TryGetValue(name, out var job) && job.Status == "InProgress")
            {
                job.Cancellation.Cancel();
                job.SetStatus("Stopping", DateTimeOffset.UtcNow);
                job.StopCalledAt = DateTimeOffset.UtcNow;
                job.StoppedAt = DateTimeOffset.UtcNow;
            }
        }
    }

    /// <summary>Replaces the tags of <paramref name="arn"/> with those of a create request.</summary>
    internal void SetTags(string arn, JsonArray? tags)
    {
        lock (_jobs)
        {
            _tags[arn] = (tags ?? []).Select(t => ((string)t!["Key"]!, (string)t["Value"]!)).ToList();
        }
    }

    private JsonObject Tags(string operation, JsonObject input)
    {
        var arn = Json.Str(input, "ResourceArn")!;
        var known = Pipelines.Exists(arn);
        lock (_jobs)
        {
            if (!known && !_jobs.Values.Any(j => (string?)j.Data["ProcessingJobArn"] == arn))
            {
                throw new EmulatorError("ResourceNotFound", $"Resource {arn} does not exist.");
            }

            var tags = _tags.TryGetValue(arn, out var list) ? list : _tags[arn] = [];
            switch (operation)
            {
                case "AddTags":
                    foreach (var tag in input["Tags"]!.AsArray())
                    {
                        var key = (string)tag!["Key"]!;
                        tags.RemoveAll(t => t.Key == key);
                        tags.Add((key, (string)tag["Value"]!));
                    }

                    if (tags.Count > 50)
                    {
                        throw new EmulatorError("ResourceLimitExceeded", $"Resource {arn} would have more than 50 tags.");
                    }

                    return new JsonObject { ["Tags"] = TagList(tags) };
                case "DeleteTags":
                    var keys = input["TagKeys"]!.AsArray().Select(k => (string)k!).ToHashSet(StringComparer.Ordinal);
                    tags.RemoveAll(t => keys.Contains(t.Key));
                    return [];
                default:
                    var offset = Json.Str(input, "NextToken") is { } token ? int.Parse(token, System.Globalization.CultureInfo.InvariantCulture) : 0;
                    var page = tags.Skip(offset).Take(Json.Int(input, "MaxResults") ?? 50).ToList();
                    var result = new JsonObject { ["Tags"] = TagList(page) };
                    if (offset + page.Count < tags.Count)
                    {
                        result["NextToken"] = (offset + page.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    }

                    return result;
            }
        }
    }

    private static JsonArray TagList(IEnumerable<(string Key, string Value)> tags) =>
        new(tags.Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value }).ToArray());

    private JsonObject CreateLocked(JsonObject input, ProcessingJobBehaviour behaviour, string region, string accountId, DateTimeOffset now)
    {
        var name = Json.Str(input, "ProcessingJobName")!;
        var arn = $"arn:aws:sagemaker:{region}:{accountId}:processing-job/{name.ToLowerInvariant()}";
        if (_jobs.ContainsKey(name))
        {
            throw new EmulatorError("ResourceInUse", $"Job name must be unique within an AWS account and region, and a job with this name already exists ({arn})");
        }

        var description = (JsonObject)input.DeepClone();
        description.Remove("Tags");
        description["ProcessingJobArn"] = arn;
        var job = new Job(description, behaviour, now, region);
        job.SetStatus("InProgress", now);
        job.Data["ProcessingStartTime"] = Json.Epoch(now);
        _jobs[name] = job;
        _tags[arn] = (input["Tags"] as JsonArray ?? []).Select(t => ((string)t!["Key"]!, (string)t["Value"]!)).ToList();
        _logs.CreateStream(LogGroup, job.LogStream, now);
        _logs.Append(LogGroup, job.LogStream, now, [$"Processing job {name} started on {input["ProcessingResources"]?["ClusterConfig"]?["InstanceType"]}."]);

        if (behaviour.Execute && Executor is not null)
        {
            job.Execution = RunExecutorAsync(job);
        }

        return new JsonObject { ["ProcessingJobArn"] = arn };
    }

    private async Task RunExecutorAsync(Job job)
    {
        // Off the request thread: the job runs while clients poll DescribeProcessingJob and read its logs.
        await Task.Yield();
        void Log(string line)
        {
            lock (_jobs)
            {
                _logs.Append(LogGroup, job.LogStream, DateTimeOffset.UtcNow, [line]);
            }
        }

        (bool Succeeded, string? FailureReason) result;
        try
        {
            result = await Executor!.RunAsync((JsonObject)job.Data.DeepClone(), Log, job.Cancellation.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception ex)
        {
            Log(ex.ToString());
            result = (false, "InternalServerError: " + ex.Message);
        }

        lock (_jobs)
        {
            if (job.Status == "InProgress")
            {
                Finish(job, result.Succeeded ? "Completed" : "Failed", result.FailureReason, DateTimeOffset.UtcNow);
            }
        }
    }

    private JsonObject Stop(string name, RequestContext context)
    {
        var job = Find(name);
        if (job.Status != "InProgress")
        {
            throw new EmulatorError("ValidationException", $"The request was rejected because the processing job is in status {job.Status}.");
        }

        job.Cancellation.Cancel();
        job.SetStatus("Stopping", context.Now);
        job.StopCalledAt = context.Now;
        job.StoppedAt = context.Now.AddMilliseconds(job.Behaviour.StopDurationMs);
        return [];
    }

    private JsonObject List(JsonObject input)
    {
        IEnumerable<Job> jobs = _jobs.Values;
        if (Json.Str(input, "NameContains") is { } contains)
        {
            jobs = jobs.Where(j => j.Name.Contains(contains, StringComparison.OrdinalIgnoreCase));
        }

        if (Json.Str(input, "StatusEquals") is { } status)
        {
            jobs = jobs.Where(j => j.Status == status);
        }

        if (input["CreationTimeAfter"] is JsonValue after)
        {
            jobs = jobs.Where(j => j.Created > ToTime(after));
        }

        if (input["CreationTimeBefore"] is JsonValue before)
        {
            jobs = jobs.Where(j => j.Created < ToTime(before));
        }

        var byName = Json.Str(input, "SortBy") == "Name";
        var ascending = Json.Str(input, "SortOrder") == "Ascending";
        var ordered = byName ? jobs.OrderBy(j => j.Name, StringComparer.Ordinal).ThenBy(j => j.Sequence) : jobs.OrderBy(j => j.Created).ThenBy(j => j.Sequence);
        var list = (ascending ? ordered : ordered.Reverse()).ToList();
        var offset = Json.Str(input, "NextToken") is { } token ? int.Parse(token, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var max = Json.Int(input, "MaxResults") ?? 10;
        var page = list.Skip(offset).Take(max).ToList();
        var result = new JsonObject { ["ProcessingJobSummaries"] = new JsonArray(page.Select(j => (JsonNode)j.Summary()).ToArray()) };
        if (offset + page.Count < list.Count)
        {
            result["NextToken"] = (offset + page.Count).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return result;
    }

    /// <summary>
    /// Every processing job (SageMaker Pipelines' too), oldest first: name, status, creation, end and stop times,
    /// environment. Lets tests prove that two jobs of one step never ran at the same time.
    /// </summary>
    public JsonArray Snapshot()
    {
        lock (_jobs)
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var job in _jobs.Values)
            {
                Advance(job, now);
            }

            return new JsonArray(_jobs.Values.OrderBy(j => j.Sequence).Select(j => (JsonNode)Json.Object(
                ("processingJobName", j.Name),
                ("processingJobStatus", j.Status),
                ("creationTime", j.Data["CreationTime"]!.DeepClone()),
                ("processingEndTime", j.Data["ProcessingEndTime"]?.DeepClone()),
                ("stopRequestedTime", j.StopCalledAt is { } stop ? (JsonNode)Json.Epoch(stop) : null),
                ("failureReason", j.Data["FailureReason"]?.DeepClone()),
                ("environment", j.Data["Environment"]?.DeepClone()))).ToArray());
        }
    }

    private Job Find(string name) =>
        _jobs.GetValueOrDefault(name) ?? throw new EmulatorError("ValidationException", $"Could not find requested job with name {name}");

    private void Advance(Job job, DateTimeOffset now)
    {
        if (job.Status == "Stopping" && job.StoppedAt is { } stopAt && now >= stopAt)
        {
            Finish(job, "Stopped", null, stopAt);
        }
        else if (job.Status == "InProgress" && job.Execution is null && now >= job.Created.AddMilliseconds(job.Behaviour.DurationMs))
        {
            var end = job.Created.AddMilliseconds(job.Behaviour.DurationMs);
            Finish(job, job.Behaviour.Outcome, job.Behaviour.FailureReason, end);
        }
    }

    private void Finish(Job job, string status, string? failureReason, DateTimeOffset at)
    {
        job.SetStatus(status, at);
        job.Data["ProcessingEndTime"] = Json.Epoch(at);
        if (status == "Failed")
        {
            job.Data["FailureReason"] = failureReason ?? "AlgorithmError: the job failed.";
            job.Data["ExitMessage"] = job.Behaviour.ExitMessage ?? failureReason ?? "Failed";
        }
        else if (job.Behaviour.ExitMessage is { } exit && status == "Completed")
        {
            job.Data["ExitMessage"] = exit;
        }

        _logs.Append(LogGroup, job.LogStream, at, [status == "Failed" ? $"Job failed: {job.Data["FailureReason"]}" : $"Job {status.ToLowerInvariant()}."]);
    }

    private static DateTimeOffset ToTime(JsonValue value) =>
        value.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(Json.Number(value) * 1000))
            : DateTimeOffset.Parse(value.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);

    private sealed class Job
    {
        private static long s_sequence;

        public Job(JsonObject data, ProcessingJobBehaviour behaviour, DateTimeOffset created, string region)
        {
            Data = data;
            Behaviour = behaviour;
            Created = created;
            Region = region;
            Sequence = Interlocked.Increment(ref s_sequence);
            Data["CreationTime"] = Json.Epoch(created);
            LogStream = $"{Name}/algo-1-{created.ToUnixTimeSeconds()}";
        }

        public JsonObject Data { get; }

        public ProcessingJobBehaviour Behaviour { get; }

        public DateTimeOffset Created { get; }

        public string Region { get; }

        public long Sequence { get; }

        public string LogStream { get; }

        public string Name => (string)Data["ProcessingJobName"]!;

        public string Status => (string)Data["ProcessingJobStatus"]!;

        /// <summary>When a stopping job turns Stopped (StopProcessingJob's time plus the behaviour's stop duration).</summary>
        public DateTimeOffset? StoppedAt { get; set; }

        /// <summary>When StopProcessingJob (or a pipeline's stop) was received.</summary>
        public DateTimeOffset? StopCalledAt { get; set; }

        public Task? Execution { get; set; }

        public CancellationTokenSource Cancellation { get; } = new();

        public void SetStatus(string status, DateTimeOffset at)
        {
            Data["ProcessingJobStatus"] = status;
            Data["LastModifiedTime"] = Json.Epoch(at);
        }

        public JsonObject Describe() => (JsonObject)Data.DeepClone();

        public JsonObject Summary() => Json.Object(
            ("ProcessingJobName", Name),
            ("ProcessingJobArn", Data["ProcessingJobArn"]!.DeepClone()),
            ("CreationTime", Data["CreationTime"]!.DeepClone()),
            ("ProcessingEndTime", Data["ProcessingEndTime"]?.DeepClone()),
            ("LastModifiedTime", Data["LastModifiedTime"]?.DeepClone()),
            ("ProcessingJobStatus", Status),
            ("FailureReason", Data["FailureReason"]?.DeepClone()),
            ("ExitMessage", Data["ExitMessage"]?.DeepClone()));
    }
}
