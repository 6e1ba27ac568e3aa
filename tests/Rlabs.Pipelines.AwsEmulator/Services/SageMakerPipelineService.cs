using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rlabs.Pipelines.AwsEmulator.Model;

namespace Rlabs.Pipelines.AwsEmulator.Services;

/// <summary>How the processing jobs of one pipeline step end, attempt by attempt (the last entry repeats).</summary>
public sealed class PipelineStepBehaviour
{
    /// <summary>Null matches the step in every pipeline.</summary>
    public string? PipelineName { get; set; }

    public string StepName { get; set; } = string.Empty;

    public List<ProcessingJobBehaviour> Attempts { get; set; } = [];
}

/// <summary>
/// SageMaker Pipelines: pipelines hold a validated definition; an execution runs its Processing steps as
/// processing jobs of <see cref="SageMakerService"/> (so their commands really run), each step once its
/// DependsOn and data dependencies have succeeded, independent steps at the same time, with step caching,
/// retry policies, stop and retry of an execution.
/// </summary>
public sealed class SageMakerPipelineService
{
    private const int PollMs = 25;
    private readonly object _lock = new();
    private readonly Dictionary<string, Pipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Execution> _executions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _deletedByToken = new(StringComparer.Ordinal);
    private readonly List<CacheEntry> _cache = [];
    private readonly List<PipelineStepBehaviour> _behaviours = [];
    private readonly SageMakerService _jobs;
    private readonly BotocoreModel _model;
    private long _sequence;

    internal SageMakerPipelineService(SageMakerService jobs, BotocoreModel model)
    {
        _jobs = jobs;
        _model = model;
    }

    public static readonly IReadOnlySet<string> OperationNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "CreatePipeline", "UpdatePipeline", "DescribePipeline", "DeletePipeline", "ListPipelines", "StartPipelineExecution",
        "DescribePipelineExecution", "ListPipelineExecutions", "ListPipelineExecutionSteps", "StopPipelineExecution", "RetryPipelineExecution",
    };

    /// <summary>Reads a definition given by S3 location; set by the emulator to its S3.</summary>
    internal Func<string, string, byte[]?>? ReadS3Object { get; set; }

    /// <summary>Sets how the jobs of <see cref="PipelineStepBehaviour.StepName"/> end; without one a step's job runs its command.</summary>
    public void SetStepBehaviour(PipelineStepBehaviour behaviour)
    {
        ArgumentNullException.ThrowIfNull(behaviour);
        lock (_lock)
        {
            _behaviours.RemoveAll(b => b.PipelineName == behaviour.PipelineName && b.StepName == behaviour.StepName);
            _behaviours.Add(behaviour);
        }
    }

    public void Reset()
    {
        lock (_lock)
        {
            foreach (var execution in _executions.Values)
            {
                execution.Stop.Cancel();
            }

            _pipelines.Clear();
            _executions.Clear();
            _deletedByToken.Clear();
            _cache.Clear();
            _behaviours.Clear();
        }
    }

    /// <summary>Every execution (of one pipeline, when named) with its steps and the jobs they ran, for tests.</summary>
    public JsonArray Snapshot(string? pipelineName = null)
    {
        lock (_lock)
        {
            return new JsonArray(_executions.Values
                .Where(e => pipelineName is null || e.Pipeline.Name == pipelineName)
                .OrderBy(e => e.Sequence)
                .Select(e => (JsonNode)Json.Object(
                    ("pipelineName", e.Pipeline.Name),
                    ("pipelineExecutionArn", e.Arn),
                    ("status", e.Status),
                    ("failureReason", e.FailureReason),
                    ("clientRequestToken", e.Token),
                    ("parameters", new JsonObject(e.Parameters.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value.DeepClone())))),
                    ("steps", new JsonArray(e.Definition.Steps.Select(s => e.Steps[s.Name]).Select(s => (JsonNode)Json.Object(
                        ("name", s.Definition.Name),
                        ("status", s.Status),
                        ("attemptCount", s.AttemptCount),
                        ("jobNames", new JsonArray(s.JobNames.Select(n => (JsonNode)n).ToArray())),
                        ("cacheSourceExecutionArn", s.CacheSource),
                        ("failureReason", s.FailureReason),
                        ("startTime", s.StartTime is { } start ? start.ToString("O", CultureInfo.InvariantCulture) : null),
                        ("endTime", s.EndTime is { } end ? end.ToString("O", CultureInfo.InvariantCulture) : null),
                        ("arguments", s.Arguments?.DeepClone()))).ToArray())))).ToArray());
        }
    }

    public JsonObject Invoke(string operation, JsonObject input, RequestContext context)
    {
        lock (_lock)
        {
            return operation switch
            {
                "CreatePipeline" => CreatePipeline(input, context),
                "UpdatePipeline" => UpdatePipeline(input, context),
                "DescribePipeline" => FindPipeline(Json.Str(input, "PipelineName")!).Describe(),
                "DeletePipeline" => DeletePipeline(input),
                "ListPipelines" => ListPipelines(input),
                "StartPipelineExecution" => StartExecution(input, context),
                "DescribePipelineExecution" => FindExecution(Json.Str(input, "PipelineExecutionArn")!).Describe(),
                "ListPipelineExecutions" => ListExecutions(input),
                "ListPipelineExecutionSteps" => ListSteps(input),
                "StopPipelineExecution" => StopExecution(input, context),
                "RetryPipelineExecution" => RetryExecution(input, context),
                _ => throw new EmulatorError("UnknownOperationException", operation),
            };
        }
    }

    /// <summary>Whether <paramref name="arn"/> is a pipeline or execution the service holds (for tags).</summary>
    internal bool Exists(string arn)
    {
        lock (_lock)
        {
            return _pipelines.Values.Any(p => p.Arn == arn) || _executions.ContainsKey(arn);
        }
    }

    private JsonObject CreatePipeline(JsonObject input, RequestContext context)
    {
        var name = Json.Str(input, "PipelineName")!;
        var token = Json.Str(input, "ClientRequestToken")!;
        if (_pipelines.TryGetValue(name, out var existing))
        {
            if (existing.CreateToken == token)
            {
                return new JsonObject { ["PipelineArn"] = existing.Arn };
            }

            throw new EmulatorError("ValidationException", $"Pipeline names must be unique within an AWS account and region. Pipeline with name ({name}) already exists.");
        }

        var (text, definition) = ReadDefinition(input, required: true);
        var pipeline = new Pipeline(name, $"arn:aws:sagemaker:{context.Region}:{context.AccountId}:pipeline/{name.ToLowerInvariant()}", token, context.Now)
        {
            DefinitionText = text!,
            Definition = definition!,
            DisplayName = Json.Str(input, "PipelineDisplayName") ?? name,
            Description = Json.Str(input, "PipelineDescription"),
            RoleArn = Json.Str(input, "RoleArn")!,
            Parallelism = Json.Clone(input["ParallelismConfiguration"]) as JsonObject,
        };
        _pipelines[name] = pipeline;
        _jobs.SetTags(pipeline.Arn, input["Tags"] as JsonArray);
        return new JsonObject { ["PipelineArn"] = pipeline.Arn };
    }

    private JsonObject UpdatePipeline(JsonObject input, RequestContext context)
    {
        var pipeline = FindPipeline(Json.Str(input, "PipelineName")!);
        var (text, definition) = ReadDefinition(input, required: false);
        if (definition is not null)
        {
            pipeline.DefinitionText = text!;
            pipeline.Definition = definition;
        }

        pipeline.DisplayName = Json.Str(input, "PipelineDisplayName") ?? pipeline.DisplayName;
        pipeline.Description = Json.Str(input, "PipelineDescription") ?? pipeline.Description;
        pipeline.RoleArn = Json.Str(input, "RoleArn") ?? pipeline.RoleArn;
        pipeline.Parallelism = Json.Clone(input["ParallelismConfiguration"]) as JsonObject ?? pipeline.Parallelism;
        pipeline.LastModified = context.Now;
        return new JsonObject { ["PipelineArn"] = pipeline.Arn };
    }

    private (string? Text, PipelineDefinitionModel? Definition) ReadDefinition(JsonObject input, bool required)
    {
        var text = Json.Str(input, "PipelineDefinition");
        if (input["PipelineDefinitionS3Location"] is JsonObject location)
        {
            if (text is not null)
            {
                throw new EmulatorError("ValidationException", "Specify either PipelineDefinition or PipelineDefinitionS3Location, not both.");
            }

            var bytes = ReadS3Object?.Invoke(Json.Str(location, "Bucket")!, Json.Str(location, "ObjectKey")!)
                ?? throw new EmulatorError("ValidationException", $"Could not read the pipeline definition from s3://{location["Bucket"]}/{location["ObjectKey"]}.");
            text = System.Text.Encoding.UTF8.GetString(bytes);
        }

        if (text is null)
        {
            return required
                ? throw new EmulatorError("ValidationException", "Either PipelineDefinition or PipelineDefinitionS3Location is required.")
                : (null, null);
        }

        var (definition, errors) = PipelineDefinition.Parse(text, _model);
        if (definition is null)
        {
            throw new EmulatorError("ValidationException", "Invalid pipeline definition: " + string.Join(" ", errors));
        }

        return (text, definition);
    }

    private JsonObject DeletePipeline(JsonObject input)
    {
        var name = Json.Str(input, "PipelineName")!;
        var token = Json.Str(input, "ClientRequestToken")!;
        if (!_pipelines.TryGetValue(name, out var pipeline))
        {
            return _deletedByToken.TryGetValue(token, out var deletedArn) && deletedArn.EndsWith("/" + name.ToLowerInvariant(), StringComparison.Ordinal)
                ? new JsonObject { ["PipelineArn"] = deletedArn }
                : throw new EmulatorError("ResourceNotFound", $"Pipeline '{name}' does not exist.");
        }

        foreach (var execution in _executions.Values.Where(e => e.Pipeline == pipeline).ToList())
        {
            if (execution.Status is "Executing" or "Stopping")
            {
                RequestStop(execution, DateTimeOffset.UtcNow);
            }

            _executions.Remove(execution.Arn);
        }

        _pipelines.Remove(name);
        _cache.RemoveAll(c => c.PipelineName == name);
        _deletedByToken[token] = pipeline.Arn;
        return new JsonObject { ["PipelineArn"] = pipeline.Arn };
    }

    private JsonObject ListPipelines(JsonObject input)
    {
        IEnumerable<Pipeline> pipelines = _pipelines.Values;
        if (Json.Str(input, "PipelineNamePrefix") is { } prefix)
        {
            pipelines = pipelines.Where(p => p.Name.StartsWith(prefix, StringComparison.Ordinal));
        }

        pipelines = FilterTimes(pipelines, p => p.Created, input, "CreatedAfter", "CreatedBefore");
        var ordered = Json.Str(input, "SortBy") == "Name"
            ? pipelines.OrderBy(p => p.Name, StringComparer.Ordinal)
            : pipelines.OrderBy(p => p.Created).ThenBy(p => p.Name, StringComparer.Ordinal);
        var (page, next) = Page(Json.Str(input, "SortOrder") == "Ascending" ? ordered.ToList() : ordered.Reverse().ToList(), input);
        return Json.Object(
            ("PipelineSummaries", new JsonArray(page.Select(p => (JsonNode)Json.Object(
                ("PipelineArn", p.Arn),
                ("PipelineName", p.Name),
                ("PipelineDisplayName", p.DisplayName),
                ("PipelineDescription", p.Description),
                ("RoleArn", p.RoleArn),
                ("CreationTime", Json.Epoch(p.Created)),
                ("LastModifiedTime", Json.Epoch(p.LastModified)),
                ("LastExecutionTime", p.LastRun is { } run ? Json.Epoch(run) : null))).ToArray())),
            ("NextToken", next));
    }

    private JsonObject StartExecution(JsonObject input, RequestContext context)
    {
        var pipeline = FindPipeline(Json.Str(input, "PipelineName")!);
        var token = Json.Str(input, "ClientRequestToken")!;
        var given = (input["PipelineParameters"] as JsonArray ?? []).Select(p => (Name: (string)p!["Name"]!, Value: (string)p["Value"]!)).ToList();

        // The same token is the same request: a client that retries a start it could not see answered gets
        // the execution it already started, never a second one.
        if (_executions.Values.FirstOrDefault(e => e.Pipeline == pipeline && e.Token == token) is { } earlier)
        {
            if (!earlier.GivenParameters.SequenceEqual(given) || Canonical(earlier.SelectiveExecutionConfig) != Canonical(input["SelectiveExecutionConfig"]))
            {
                throw new EmulatorError("ValidationException", $"ClientRequestToken {token} was already used to start {earlier.Arn} with other parameters.");
            }

            return new JsonObject { ["PipelineExecutionArn"] = earlier.Arn };
        }

        var parameters = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        foreach (var (name, value) in given)
        {
            var declared = pipeline.Definition.Parameters.FirstOrDefault(p => p.Name == name)
                ?? throw new EmulatorError("ValidationException", $"Parameter '{name}' is not a parameter of pipeline {pipeline.Name}.");
            if (parameters.ContainsKey(name))
            {
                throw new EmulatorError("ValidationException", $"Parameter '{name}' is given twice.");
            }

            parameters[name] = Convert(declared, value);
        }

        foreach (var declared in pipeline.Definition.Parameters.Where(p => !parameters.ContainsKey(p.Name)))
        {
            parameters[declared.Name] = declared.DefaultValue?.DeepClone()
                ?? throw new EmulatorError("ValidationException", $"Parameter '{declared.Name}' has no default value and was not given.");
        }

        var selective = input["SelectiveExecutionConfig"] as JsonObject;
        var (selected, source) = selective is null ? (null, null) : Select(pipeline, selective);

        var id = NewExecutionId();
        var execution = new Execution(pipeline, pipeline.Definition, $"{pipeline.Arn}/execution/{id}", id, token, given, parameters, context.Now, Interlocked.Increment(ref _sequence))
        {
            Selected = selected,
            SelectiveExecutionConfig = (JsonObject?)selective?.DeepClone(),
            DisplayName = Json.Str(input, "PipelineExecutionDisplayName") ?? $"execution-{context.Now.ToUnixTimeMilliseconds()}",
            Description = Json.Str(input, "PipelineExecutionDescription"),
            Parallelism = Json.Clone(input["ParallelismConfiguration"]) as JsonObject ?? Json.Clone(pipeline.Parallelism) as JsonObject,
            Region = context.Region,
        };
        if (source is not null)
        {
            // The steps the selected ones need but that are not selected carry the source execution's results.
            foreach (var needed in selected!.SelectMany(name => execution.Definition.Steps.First(d => d.Name == name).Upstream).Where(u => !selected!.Contains(u)).Distinct(StringComparer.Ordinal))
            {
                var from = source.Steps[needed];
                var step = execution.Steps[needed];
                step.Status = "Succeeded";
                step.StartTime = from.StartTime;
                step.EndTime = from.EndTime;
                step.JobArn = from.JobArn;
                step.JobDescription = (JsonObject?)from.JobDescription?.DeepClone();
                step.SelectiveSource = source.Arn;
            }
        }

        _executions[execution.Arn] = execution;
        pipeline.LastRun = context.Now;
        execution.Runner = RunAsync(execution);
        return new JsonObject { ["PipelineExecutionArn"] = execution.Arn };
    }

    /// <summary>
    /// Checks a SelectiveExecutionConfig as SageMaker does: the steps exist, every step on a path between two
    /// selected steps is selected, and when a selected step depends on one that is not, the source execution (of
    /// this pipeline, Succeeded or Failed) ran that step to success. Returns the selected names and the source.
    /// </summary>
    private (HashSet<string> Selected, Execution? Source) Select(Pipeline pipeline, JsonObject selective)
    {
        // The shape as the API reference defines it (Debian's botocore model predates the member, so the
        // model validator does not see it): 1 to 50 steps, names of at most 256 characters, an execution ARN.
        var items = selective["SelectedSteps"] as JsonArray
            ?? throw new EmulatorError("ValidationException", "1 validation error detected: Value null at 'selectiveExecutionConfig.selectedSteps' failed to satisfy constraint: Member must not be null");
        if (items.Count is < 1 or > 50)
        {
            throw new EmulatorError("ValidationException", $"1 validation error detected: Value '{items.Count}' at 'selectiveExecutionConfig.selectedSteps' failed to satisfy constraint: Member must have length between 1 and 50");
        }

        if (items.Any(i => i?["StepName"] is not JsonValue name || ((string)name!).Length is < 1 or > 256))
        {
            throw new EmulatorError("ValidationException", "1 validation error detected: Value at 'selectiveExecutionConfig.selectedSteps.member.stepName' failed to satisfy constraint: Member must have length between 1 and 256");
        }

        if (Json.Str(selective, "SourcePipelineExecutionArn") is { Length: > 0 } givenArn
            && !System.Text.RegularExpressions.Regex.IsMatch(givenArn, @"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:pipeline\/.*\/execution\/.*$"))
        {
            throw new EmulatorError("ValidationException", $"1 validation error detected: Value '{givenArn}' at 'selectiveExecutionConfig.sourcePipelineExecutionArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{{12}}:pipeline\\/.*\\/execution\\/.*");
        }

        var definition = pipeline.Definition;
        var names = definition.Steps.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        var selected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var name = (string)item!["StepName"]!;
            if (!names.Contains(name))
            {
                throw new EmulatorError("ValidationException", $"Selected step '{name}' is not a step of pipeline {pipeline.Name}.");
            }

            if (!selected.Add(name))
            {
                throw new EmulatorError("ValidationException", $"Selected step '{name}' is given twice.");
            }
        }

        if (selected.Count == 0)
        {
            throw new EmulatorError("ValidationException", "SelectedSteps must name at least one step.");
        }

        var byName = definition.Steps.ToDictionary(d => d.Name, StringComparer.Ordinal);
        bool Reaches(string from, string to) => from == to || byName[to].Upstream.Any(u => Reaches(from, u));
        foreach (var step in definition.Steps.Where(d => !selected.Contains(d.Name)))
        {
            if (selected.Any(a => Reaches(a, step.Name)) && selected.Any(b => Reaches(step.Name, b)))
            {
                throw new EmulatorError("ValidationException", $"Step '{step.Name}' lies on a path between selected steps and must be selected too: all steps in all paths between two selected steps must be included.");
            }
        }

        var needed = selected.SelectMany(name => byName[name].Upstream).Where(u => !selected.Contains(u)).Distinct(StringComparer.Ordinal).ToList();
        Execution? source = null;
        if (Json.Str(selective, "SourcePipelineExecutionArn") is { Length: > 0 } sourceArn)
        {
            source = _executions.GetValueOrDefault(sourceArn)
                ?? throw new EmulatorError("ResourceNotFound", $"Pipeline execution '{sourceArn}' does not exist.");
            if (source.Pipeline != pipeline)
            {
                throw new EmulatorError("ValidationException", $"Source pipeline execution {sourceArn} is not an execution of pipeline {pipeline.Name}.");
            }

            if (source.Status is not ("Succeeded" or "Failed"))
            {
                throw new EmulatorError("ValidationException", $"Source pipeline execution {sourceArn} is {source.Status}; it must be Succeeded or Failed.");
            }

            foreach (var name in needed.Where(n => !source.Steps.TryGetValue(n, out var from) || from.Status != "Succeeded"))
            {
                throw new EmulatorError("ValidationException", $"Step '{name}' did not succeed in source pipeline execution {sourceArn}; the selected steps depend on it.");
            }
        }
        else if (needed.Count > 0)
        {
            throw new EmulatorError("ValidationException", $"SourcePipelineExecutionArn is required: the selected steps depend on step(s) not selected ({string.Join(", ", needed)}).");
        }

        return (selected, source);
    }

    private static JsonNode Convert(PipelineParameterDefinition declared, string value)
    {
        var invariant = CultureInfo.InvariantCulture;
        JsonNode? converted = declared.Type switch
        {
            "Integer" when long.TryParse(value, NumberStyles.Integer, invariant, out var integer) => JsonValue.Create(integer),
            "Float" when double.TryParse(value, NumberStyles.Float, invariant, out var number) => JsonValue.Create(number),
            "Boolean" when bool.TryParse(value, out var flag) => JsonValue.Create(flag),
            "String" => JsonValue.Create(value),
            _ => null,
        };
        return converted ?? throw new EmulatorError("ValidationException", $"Parameter '{declared.Name}' is of type {declared.Type}; '{value}' is not.");
    }

    private JsonObject ListExecutions(JsonObject input)
    {
        var pipeline = FindPipeline(Json.Str(input, "PipelineName")!);
        var executions = FilterTimes(_executions.Values.Where(e => e.Pipeline == pipeline), e => e.Created, input, "CreatedAfter", "CreatedBefore");
        var ordered = Json.Str(input, "SortBy") == "PipelineExecutionArn"
            ? executions.OrderBy(e => e.Arn, StringComparer.Ordinal)
            : executions.OrderBy(e => e.Created).ThenBy(e => e.Sequence);
        var (page, next) = Page(Json.Str(input, "SortOrder") == "Ascending" ? ordered.ToList() : ordered.Reverse().ToList(), input);
        return Json.Object(
            ("PipelineExecutionSummaries", new JsonArray(page.Select(e => (JsonNode)Json.Object(
                ("PipelineExecutionArn", e.Arn),
                ("StartTime", Json.Epoch(e.Created)),
                ("PipelineExecutionStatus", e.Status),
                ("PipelineExecutionDescription", e.Description),
                ("PipelineExecutionDisplayName", e.DisplayName),
                ("PipelineExecutionFailureReason", e.FailureReason))).ToArray())),
            ("NextToken", next));
    }

    private JsonObject ListSteps(JsonObject input)
    {
        var arn = Json.Str(input, "PipelineExecutionArn")
            ?? throw new EmulatorError("ValidationException", "PipelineExecutionArn is required.");
        var execution = FindExecution(arn);

        // Steps appear once they have started; the newest first unless asked otherwise, as SageMaker lists them.
        var started = execution.Steps.Values.Where(s => s.StartTime is not null).OrderBy(s => s.StartTime).ThenBy(s => s.Order).ToList();
        if (Json.Str(input, "SortOrder") != "Ascending")
        {
            started.Reverse();
        }

        var (page, next) = Page(started, input);
        return Json.Object(
            ("PipelineExecutionSteps", new JsonArray(page.Select(s => (JsonNode)s.Describe()).ToArray())),
            ("NextToken", next));
    }

    private JsonObject StopExecution(JsonObject input, RequestContext context)
    {
        var execution = FindExecution(Json.Str(input, "PipelineExecutionArn")!);
        var token = Json.Str(input, "ClientRequestToken")!;
        if (execution.Status is "Stopping" or "Stopped" && execution.StopToken == token)
        {
            return new JsonObject { ["PipelineExecutionArn"] = execution.Arn };
        }

        if (execution.Status != "Executing")
        {
            throw new EmulatorError("ValidationException", $"Pipeline execution {execution.Arn} is in status {execution.Status} and cannot be stopped.");
        }

        execution.StopToken = token;
        RequestStop(execution, context.Now);
        return new JsonObject { ["PipelineExecutionArn"] = execution.Arn };
    }

    private void RequestStop(Execution execution, DateTimeOffset now)
    {
        execution.StopRequested = true;
        execution.SetStatus("Stopping", now);
        execution.Stop.Cancel();
        foreach (var step in execution.Steps.Values.Where(s => s.Status is "Starting" or "Executing"))
        {
            step.Status = "Stopping";
            if (step.CurrentJob is { } job)
            {
                _jobs.StopForPipeline(job);
            }
        }
    }

    private JsonObject RetryExecution(JsonObject input, RequestContext context)
    {
        var execution = FindExecution(Json.Str(input, "PipelineExecutionArn")!);
        var token = Json.Str(input, "ClientRequestToken")!;
        if (execution.RetryTokens.Contains(token))
        {
            return new JsonObject { ["PipelineExecutionArn"] = execution.Arn };
        }

        if (execution.Status is "Executing" or "Stopping")
        {
            throw new EmulatorError("ConflictException", $"Pipeline execution {execution.Arn} is {execution.Status}; only a Failed or Stopped execution can be retried.");
        }

        if (execution.Status != "Failed" && execution.Status != "Stopped")
        {
            throw new EmulatorError("ValidationException", $"Pipeline execution {execution.Arn} has Succeeded; only a Failed or Stopped execution can be retried.");
        }

        execution.RetryTokens.Add(token);
        foreach (var step in execution.Steps.Values.Where(s => s.Status is "Failed" or "Stopped" or "Stopping"))
        {
            step.Status = null;
            step.StartTime = null;
            step.EndTime = null;
            step.FailureReason = null;
        }

        execution.StopRequested = false;
        execution.Stop = new CancellationTokenSource();
        execution.FailureReason = null;
        execution.Parallelism = Json.Clone(input["ParallelismConfiguration"]) as JsonObject ?? execution.Parallelism;
        execution.SetStatus("Executing", context.Now);
        execution.Runner = RunAsync(execution);
        return new JsonObject { ["PipelineExecutionArn"] = execution.Arn };
    }

    /// <summary>Starts steps as their upstream steps succeed, until none runs and none can start.</summary>
    private async Task RunAsync(Execution execution)
    {
        // Off the request thread: StartPipelineExecution answers at once, as SageMaker does.
        await Task.Yield();
        var running = new List<Task>();
        while (true)
        {
            lock (_lock)
            {
                var limit = (int?)execution.Parallelism?["MaxParallelExecutionSteps"] ?? 50;
                var failed = execution.Steps.Values.Any(s => s.Status == "Failed");
                if (!execution.StopRequested && !failed)
                {
                    foreach (var step in execution.Definition.Steps.Select(d => execution.Steps[d.Name]).Where(s => s.Status is null && (execution.Selected is null || execution.Selected.Contains(s.Definition.Name))))
                    {
                        if (running.Count >= limit)
                        {
                            break;
                        }

                        if (step.Definition.Upstream.All(u => execution.Steps[u].Status == "Succeeded"))
                        {
                            step.Status = "Starting";
                            step.StartTime = DateTimeOffset.UtcNow;
                            running.Add(RunStepAsync(execution, step));
                        }
                    }
                }

                if (running.Count == 0)
                {
                    Finish(execution);
                    return;
                }
            }

            var done = await Task.WhenAny(running).ConfigureAwait(false);
            running.Remove(done);
        }
    }

    private static void Finish(Execution execution)
    {
        var now = DateTimeOffset.UtcNow;
        var failed = execution.Definition.Steps.Select(d => execution.Steps[d.Name]).Where(s => s.Status == "Failed").ToList();
        if (execution.StopRequested)
        {
            execution.SetStatus("Stopped", now);
        }
        else if (failed.Count > 0)
        {
            var reason = $"Step failure: One or multiple steps failed. {string.Join(" ", failed.Select(s => $"Step {s.Definition.Name}: {s.FailureReason}"))}";
            execution.FailureReason = reason.Length > 1300 ? reason[..1300] : reason;
            execution.SetStatus("Failed", now);
        }
        else
        {
            execution.SetStatus("Succeeded", now);
        }
    }

    private async Task RunStepAsync(Execution execution, StepRun step)
    {
        await Task.Yield();
        JsonObject arguments;
        try
        {
            lock (_lock)
            {
                arguments = (JsonObject)Resolve(step.Definition.Arguments, execution);
                step.Arguments = (JsonObject)arguments.DeepClone();
            }
        }
        catch (EmulatorError ex)
        {
            EndStep(step, "Failed", "ClientError: " + ex.Message);
            return;
        }

        var check = (JsonObject)arguments.DeepClone();
        check["ProcessingJobName"] = "pipelines-validation";
        var validation = ModelValidator.Validate(_model, "CreateProcessingJobRequest", check);
        if (!validation.IsValid)
        {
            EndStep(step, "Failed", "ValidationException: " + validation.Message);
            return;
        }

        var key = Canonical(arguments);
        if (step.Definition.CacheEnabled && TryCacheHit(execution, step, key))
        {
            return;
        }

        var firstAttempt = DateTimeOffset.UtcNow;
        var retries = new Dictionary<PipelineRetryPolicy, int>();
        while (true)
        {
            string? jobName;
            lock (_lock)
            {
                if (execution.StopRequested)
                {
                    EndStepLocked(step, "Stopped", null);
                    return;
                }

                step.AttemptCount++;
                step.Status = "Executing";
                jobName = JobName(execution, step.Definition.Name);
                var request = (JsonObject)arguments.DeepClone();
                request["ProcessingJobName"] = jobName;
                step.JobArn = _jobs.CreateForPipeline(request, NextBehaviour(execution.Pipeline.Name, step), execution.Region, execution.Pipeline.Arn.Split(':')[4]);
                step.CurrentJob = jobName;
                step.JobNames.Add(jobName);
            }

            JsonObject job;
            while (true)
            {
                try
                {
                    job = _jobs.PollForPipeline(jobName);
                }
                catch (EmulatorError ex)
                {
                    // The emulator was reset under the running execution.
                    EndStep(step, "Failed", "InternalServerError: " + ex.Message);
                    return;
                }

                if ((string?)job["ProcessingJobStatus"] is "Completed" or "Failed" or "Stopped")
                {
                    break;
                }

                await Task.Delay(PollMs, CancellationToken.None).ConfigureAwait(false);
            }

            var status = (string)job["ProcessingJobStatus"]!;
            if (status == "Completed")
            {
                lock (_lock)
                {
                    step.JobDescription = job;
                    EndStepLocked(step, "Succeeded", null);
                    if (step.Definition.CacheEnabled)
                    {
                        _cache.Add(new CacheEntry(execution.Pipeline.Name, key, execution.Arn, step.JobArn!, job, step.EndTime!.Value));
                    }
                }

                return;
            }

            if (status == "Stopped")
            {
                EndStep(step, "Stopped", null);
                return;
            }

            var reason = (string?)job["FailureReason"] ?? "AlgorithmError: the job failed.";
            var type = Classify(reason);
            var policy = type is null ? null : step.Definition.RetryPolicies.FirstOrDefault(p => p.ExceptionTypes.Contains(type));
            var used = policy is null ? 0 : retries.GetValueOrDefault(policy);

            // MaxAttempts counts retries after the first attempt (5 when the policy names neither bound);
            // ExpireAfterMin bounds the time since the step's first attempt.
            var allowed = policy is not null
                && (policy.ExpireAfterMin is { } minutes ? DateTimeOffset.UtcNow - firstAttempt < TimeSpan.FromMinutes(minutes) : used < (policy.MaxAttempts ?? 5));
            if (!allowed)
            {
                EndStep(step, "Failed", reason);
                return;
            }

            retries[policy!] = used + 1;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(policy!.IntervalSeconds * Math.Pow(policy.BackoffRate, used)), execution.Stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                EndStep(step, "Stopped", null);
                return;
            }
        }
    }

    /// <summary>SageMaker's job failure reasons as the retry policy's exception types; an algorithm or client error is not retried.</summary>
    private static string? Classify(string reason) =>
        reason.StartsWith("InternalServerError", StringComparison.Ordinal) ? "SageMaker.JOB_INTERNAL_ERROR"
        : reason.StartsWith("CapacityError", StringComparison.Ordinal) || reason.Contains("InsufficientCapacity", StringComparison.Ordinal) ? "SageMaker.CAPACITY_ERROR"
        : reason.StartsWith("ResourceLimitExceeded", StringComparison.Ordinal) ? "SageMaker.RESOURCE_LIMIT"
        : null;

    private bool TryCacheHit(Execution execution, StepRun step, string key)
    {
        lock (_lock)
        {
            var now = DateTimeOffset.UtcNow;
            var hit = _cache
                .Where(c => c.PipelineName == execution.Pipeline.Name && c.Key == key && c.ExecutionArn != execution.Arn)
                .Where(c => step.Definition.CacheExpireAfter is not { } expire || c.SucceededAt + expire >= now)
                .OrderByDescending(c => c.SucceededAt)
                .FirstOrDefault();
            if (hit is null)
            {
                return false;
            }

            step.CacheSource = hit.ExecutionArn;
            step.JobArn = hit.JobArn;
            step.JobDescription = (JsonObject)hit.Job.DeepClone();
            step.AttemptCount = 0;
            EndStepLocked(step, "Succeeded", null);
            return true;
        }
    }

    private ProcessingJobBehaviour NextBehaviour(string pipelineName, StepRun step)
    {
        var configured = _behaviours.LastOrDefault(b => b.StepName == step.Definition.Name && b.PipelineName == pipelineName)
            ?? _behaviours.LastOrDefault(b => b.StepName == step.Definition.Name && b.PipelineName is null);
        if (configured is null || configured.Attempts.Count == 0)
        {
            return new ProcessingJobBehaviour { Execute = true };
        }

        var index = Math.Min(step.BehaviourIndex++, configured.Attempts.Count - 1);
        return configured.Attempts[index];
    }

    private void EndStep(StepRun step, string status, string? reason)
    {
        lock (_lock)
        {
            EndStepLocked(step, status, reason);
        }
    }

    private static void EndStepLocked(StepRun step, string status, string? reason)
    {
        step.Status = status;
        step.EndTime = DateTimeOffset.UtcNow;
        step.CurrentJob = null;
        step.FailureReason = reason is { Length: > 1024 } ? reason[..1024] : reason;
    }

    /// <summary>Evaluates Get and Std:Join against the execution's parameters, variables and finished steps.</summary>
    private static JsonNode Resolve(JsonNode? node, Execution execution)
    {
        switch (node)
        {
            case JsonObject obj when PipelineDefinition.IsExpression(obj):
                if (obj["Get"] is { } get)
                {
                    return ResolveGet((string)get!, execution);
                }

                var join = obj["Std:Join"]!;
                var parts = join["Values"]!.AsArray().Select(v => Resolve(v, execution)).Select(v => v.GetValueKind() == JsonValueKind.String ? (string)v! : v.ToJsonString());
                return JsonValue.Create(string.Join((string)join["On"]!, parts))!;
            case JsonObject obj:
                return new JsonObject(obj.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)Resolve(m.Value, execution))));
            case JsonArray array:
                return new JsonArray(array.Select(i => (JsonNode?)Resolve(i, execution)).ToArray());
            case null:
                throw new EmulatorError("ValidationException", "A null value cannot be resolved.");
            default:
                return node.DeepClone();
        }
    }

    private static JsonNode ResolveGet(string reference, Execution execution)
    {
        var parts = reference.Split('.', 3);
        switch (parts[0])
        {
            case "Parameters":
                return execution.Parameters[parts[1]].DeepClone();
            case "Execution":
                return JsonValue.Create(parts[1] switch
                {
                    "PipelineExecutionId" => execution.Id,
                    "PipelineExecutionArn" => execution.Arn,
                    "PipelineName" => execution.Pipeline.Name,
                    "PipelineArn" => execution.Pipeline.Arn,
                    "StartDateTime" => execution.Created.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
                    _ => DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
                })!;
            default:
                var source = execution.Steps[parts[1]].JobDescription;
                var value = PipelineDefinition.Navigate(source, PipelineDefinition.ParsePropertyPath(parts[2])!);
                return value?.DeepClone() ?? throw new EmulatorError("ValidationException", $"{reference} has no value in the job step {parts[1]} ran.");
        }
    }

    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject obj => "{" + string.Join(",", obj.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => JsonSerializer.Serialize(m.Key) + ":" + Canonical(m.Value))) + "}",
        JsonArray array => "[" + string.Join(",", array.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };

    // SageMaker names a step's job pipelines-<execution id>-<step>-<random>, within the job name's 63 characters.
    private static string JobName(Execution execution, string step)
    {
        var cleaned = new string(step.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());
        cleaned = cleaned.Length > 29 ? cleaned[..29] : cleaned;
        return $"pipelines-{execution.Id}-{cleaned}-{RandomString(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")}";
    }

    private static string NewExecutionId() => RandomString(12, "abcdefghijklmnopqrstuvwxyz0123456789");

    private static string RandomString(int length, string alphabet) =>
        new(Enumerable.Range(0, length).Select(_ => alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]).ToArray());

    private static IEnumerable<T> FilterTimes<T>(IEnumerable<T> items, Func<T, DateTimeOffset> time, JsonObject input, string after, string before)
    {
        if (input[after] is JsonValue a)
        {
            items = items.Where(i => time(i) > ToTime(a));
        }

        if (input[before] is JsonValue b)
        {
            items = items.Where(i => time(i) < ToTime(b));
        }

        return items;
    }

    private static DateTimeOffset ToTime(JsonValue value) =>
        value.GetValueKind() == JsonValueKind.Number
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(Json.Number(value) * 1000))
            : DateTimeOffset.Parse(value.GetValue<string>(), CultureInfo.InvariantCulture);

    private static (List<T> Page, string? NextToken) Page<T>(List<T> items, JsonObject input)
    {
        var offset = 0;
        if (Json.Str(input, "NextToken") is { } token && (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out offset) || offset > items.Count))
        {
            throw new EmulatorError("ValidationException", $"Invalid NextToken '{token}'.");
        }

        var page = items.Skip(offset).Take(Json.Int(input, "MaxResults") ?? 10).ToList();
        return (page, offset + page.Count < items.Count ? (offset + page.Count).ToString(CultureInfo.InvariantCulture) : null);
    }

    private Pipeline FindPipeline(string nameOrArn)
    {
        var name = nameOrArn.StartsWith("arn:", StringComparison.Ordinal) ? nameOrArn[(nameOrArn.IndexOf(":pipeline/", StringComparison.Ordinal) + ":pipeline/".Length)..] : nameOrArn;
        return _pipelines.Values.FirstOrDefault(p => p.Name == name || (nameOrArn.StartsWith("arn:", StringComparison.Ordinal) && p.Arn == nameOrArn))
            ?? throw new EmulatorError("ResourceNotFound", $"Pipeline '{nameOrArn}' does not exist.");
    }

    private Execution FindExecution(string arn) =>
        _executions.GetValueOrDefault(arn) ?? throw new EmulatorError("ResourceNotFound", $"Pipeline execution '{arn}' does not exist.");

    private sealed record CacheEntry(string PipelineName, string Key, string ExecutionArn, string JobArn, JsonObject Job, DateTimeOffset SucceededAt);

    private sealed class Pipeline(string name, string arn, string createToken, DateTimeOffset created)
    {
        public string Name { get; } = name;

        public string Arn { get; } = arn;

        public string CreateToken { get; } = createToken;

        public DateTimeOffset Created { get; } = created;

        public DateTimeOffset LastModified { get; set; } = created;

        public DateTimeOffset? LastRun { get; set; }

        public required string DefinitionText { get; set; }

        public required PipelineDefinitionModel Definition { get; set; }

        public required string DisplayName { get; set; }

        public string? Description { get; set; }

        public required string RoleArn { get; set; }

        public JsonObject? Parallelism { get; set; }

        public JsonObject Describe() => Json.Object(
            ("PipelineArn", Arn),
            ("PipelineName", Name),
            ("PipelineDisplayName", DisplayName),
            ("PipelineDefinition", DefinitionText),
            ("PipelineDescription", Description),
            ("RoleArn", RoleArn),
            ("PipelineStatus", "Active"),
            ("CreationTime", Json.Epoch(Created)),
            ("LastModifiedTime", Json.Epoch(LastModified)),
            ("LastRunTime", LastRun is { } run ? Json.Epoch(run) : null),
            ("ParallelismConfiguration", Parallelism?.DeepClone()));
    }

    private sealed class Execution
    {
        public Execution(Pipeline pipeline, PipelineDefinitionModel definition, string arn, string id, string token,
            List<(string Name, string Value)> given, Dictionary<string, JsonNode> parameters, DateTimeOffset created, long sequence)
        {
            Pipeline = pipeline;
            Definition = definition;
            Arn = arn;
            Id = id;
            Token = token;
            GivenParameters = given;
            Parameters = parameters;
            Created = created;
            LastModified = created;
            Sequence = sequence;
            var order = 0;
            Steps = definition.Steps.ToDictionary(s => s.Name, s => new StepRun(s, order++), StringComparer.Ordinal);
        }

        public Pipeline Pipeline { get; }

        /// <summary>The definition as it was when the execution started; an update applies to later executions.</summary>
        public PipelineDefinitionModel Definition { get; }

        public string Arn { get; }

        public string Id { get; }

        public string Token { get; }

        public List<(string Name, string Value)> GivenParameters { get; }

        public Dictionary<string, JsonNode> Parameters { get; }

        public DateTimeOffset Created { get; }

        public DateTimeOffset LastModified { get; private set; }

        public long Sequence { get; }

        public Dictionary<string, StepRun> Steps { get; }

        public string Status { get; private set; } = "Executing";

        public string? FailureReason { get; set; }

        public string? DisplayName { get; set; }

        public string? Description { get; set; }

        public JsonObject? Parallelism { get; set; }

        public string Region { get; set; } = string.Empty;

        public bool StopRequested { get; set; }

        public string? StopToken { get; set; }

        public HashSet<string> RetryTokens { get; } = new(StringComparer.Ordinal);

        /// <summary>The steps a selective execution runs; null for every step.</summary>
        public HashSet<string>? Selected { get; init; }

        public JsonObject? SelectiveExecutionConfig { get; init; }

        public CancellationTokenSource Stop { get; set; } = new();

        public Task? Runner { get; set; }

        public void SetStatus(string status, DateTimeOffset at)
        {
            Status = status;
            LastModified = at;
        }

        public JsonObject Describe() => Json.Object(
            ("PipelineArn", Pipeline.Arn),
            ("PipelineExecutionArn", Arn),
            ("PipelineExecutionDisplayName", DisplayName),
            ("PipelineExecutionStatus", Status),
            ("PipelineExecutionDescription", Description),
            ("FailureReason", FailureReason),
            ("CreationTime", Json.Epoch(Created)),
            ("LastModifiedTime", Json.Epoch(LastModified)),
            ("ParallelismConfiguration", Parallelism?.DeepClone()),
            ("SelectiveExecutionConfig", SelectiveExecutionConfig?.DeepClone()));
    }

    private sealed class StepRun(PipelineStepDefinition definition, int order)
    {
        public PipelineStepDefinition Definition { get; } = definition;

        public int Order { get; } = order;

        /// <summary>Null until the step starts.</summary>
        public string? Status { get; set; }

        public DateTimeOffset? StartTime { get; set; }

        public DateTimeOffset? EndTime { get; set; }

        public int AttemptCount { get; set; }

        public int BehaviourIndex { get; set; }

        public string? FailureReason { get; set; }

        public string? JobArn { get; set; }

        public string? CurrentJob { get; set; }

        public List<string> JobNames { get; } = [];

        public string? CacheSource { get; set; }

        /// <summary>For a step a selective execution took from its source: that execution.</summary>
        public string? SelectiveSource { get; set; }

        public JsonObject? Arguments { get; set; }

        /// <summary>The DescribeProcessingJob answer of the job that succeeded: what <c>Steps.S.…</c> reads.</summary>
        public JsonObject? JobDescription { get; set; }

        public JsonObject Describe() => Json.Object(
            ("StepName", Definition.Name),
            ("StepDisplayName", Definition.DisplayName),
            ("StepDescription", Definition.Description),
            ("StartTime", StartTime is { } start ? Json.Epoch(start) : null),
            ("EndTime", EndTime is { } end ? Json.Epoch(end) : null),
            ("StepStatus", Status),
            ("CacheHitResult", CacheSource is null ? null : new JsonObject { ["SourcePipelineExecutionArn"] = CacheSource }),
            ("AttemptCount", AttemptCount),
            ("FailureReason", FailureReason),
            ("Metadata", JobArn is null ? null : new JsonObject { ["ProcessingJob"] = new JsonObject { ["Arn"] = JobArn } }),
            ("SelectiveExecutionResult", SelectiveSource is null ? null : new JsonObject { ["SourcePipelineExecutionArn"] = SelectiveSource }));
    }
}
