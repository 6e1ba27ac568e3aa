using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Cloud;

/// <summary>One step of a compiled SageMaker pipeline.</summary>
/// <param name="StepName">The step's name in the pipeline file.</param>
/// <param name="DefinitionName">Its name in the definition (SageMaker allows ^[A-Za-z0-9\-_]{1,64}$).</param>
/// <param name="DependsOn">The definition names of the steps it waits for.</param>
public sealed record CompiledPipelineStep(string StepName, string DefinitionName, IReadOnlyList<string> DependsOn);

/// <summary>A SageMaker pipeline definition compiled from a run plan, with its hash and its pipeline's name.</summary>
public sealed class CompiledPipelineDefinition
{
    internal CompiledPipelineDefinition(string pipelineName, string json, IReadOnlyList<CompiledPipelineStep> steps, CloudRunPlan bound)
    {
        PipelineName = pipelineName;
        Json = json;
        Steps = steps;
        Bound = bound;
        Hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
    }

    /// <summary>The SageMaker pipeline's name: one per project and pipeline file.</summary>
    public string PipelineName { get; }

    /// <summary>The definition (Version 2020-12-01).</summary>
    public string Json { get; }

    /// <summary>SHA-256 of <see cref="Json"/>: the pipeline is updated only when it changes.</summary>
    public string Hash { get; }

    /// <summary>The steps in file order.</summary>
    public IReadOnlyList<CompiledPipelineStep> Steps { get; }

    /// <summary>The plan the definition was bound from (the job id a placeholder; its artifacts are the run's).</summary>
    public CloudRunPlan Bound { get; }

    /// <summary>The pipeline description that carries the hash (DescribePipeline returns it; compared, never the text).</summary>
    public string Description => $"Rlabs.Pipelines {Bound.Request.Pipeline.ProjectName}/{Bound.Request.Pipeline.Name}; {PipelineDefinitionCompiler.HashPrefix}{Hash}";

    /// <summary>The hash recorded in a pipeline's description, or null.</summary>
    public static string? HashOf(string? description)
    {
        var at = description?.LastIndexOf(PipelineDefinitionCompiler.HashPrefix, StringComparison.Ordinal) ?? -1;
        return at < 0 ? null : description![(at + PipelineDefinitionCompiler.HashPrefix.Length)..].Trim();
    }
}

/// <summary>
/// Compiles a run plan into a SageMaker pipeline definition: one Processing step per pipeline step whose
/// Arguments are exactly the CreateProcessingJob request <see cref="ProcessingJobBinder"/> builds for the
/// client-driven runtime (minus the job name), with the job id turned into the pipeline parameter
/// <see cref="JobIdParameter"/>, so every execution of one definition writes under its own job id.
/// </summary>
public static partial class PipelineDefinitionCompiler
{
    /// <summary>The definition's schema version.</summary>
    public const string Version = "2020-12-01";

    /// <summary>The pipeline parameter carrying the job id.</summary>
    public const string JobIdParameter = "JobId";

    /// <summary>What precedes the definition's hash in the pipeline's description.</summary>
    public const string HashPrefix = "definition sha256:";

    /// <summary>
    /// The job id the definition is planned with: a valid job id no user writes, replaced everywhere by
    /// <c>{"Get": "Parameters.JobId"}</c>.
    /// </summary>
    internal const string JobIdPlaceholder = "rlabsjobidparameter7d3f";

    /// <summary>
    /// The SageMaker pipeline of a project's pipeline file: rlabs-&lt;project&gt;-&lt;file name&gt;-&lt;8 hex of the
    /// file's path in the repository&gt;, so two files of one name in different folders stay two pipelines.
    /// </summary>
    public static string PipelineName(RlabsPipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var relative = Path.GetRelativePath(pipeline.RepositoryPath, pipeline.Path).Replace('\\', '/');
        var pathHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(relative)))[..8];
        var name = ProjectNaming.Sanitize($"rlabs-{pipeline.ProjectName}-{pipeline.Name}");
        name = name.Length <= 247 ? name : name[..247].TrimEnd('-');
        return $"{name}-{pathHash}";
    }

    /// <summary>The reference every job id in a scheduled definition becomes: the execution's own id.</summary>
    public const string ExecutionIdReference = "Execution.PipelineExecutionId";

    /// <summary>
    /// The SageMaker pipeline a serverless schedule starts: <see cref="PipelineName"/> with a "-scheduled" suffix (at
    /// most 256 characters), kept apart because its definition takes the job id from the execution, not a parameter.
    /// </summary>
    public static string ScheduledPipelineName(RlabsPipeline pipeline)
    {
        var name = PipelineName(pipeline);
        const string Suffix = "-scheduled";
        return name.Length + Suffix.Length <= 256 ? name + Suffix : name[..(256 - Suffix.Length)] + Suffix;
    }

    /// <summary>
    /// Compiles <paramref name="run"/> (planned for the real job id; its empty-input decisions are kept).
    /// <paramref name="account"/> is null under -WhatIf. With <paramref name="jobIdFromExecution"/> (a scheduled
    /// definition) the job id is the execution's id (<see cref="ExecutionIdReference"/>) and the definition declares
    /// no parameter: EventBridge Scheduler replaces no context attribute in a SageMaker target's parameters, so
    /// only the execution itself can tell one firing from the next.
    /// </summary>
    public static CompiledPipelineDefinition Compile(RunPlan run, string region, string? account, SourcePackage source, bool jobIdFromExecution = false)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(source);
        var pipeline = run.Pipeline;
        var request = run.Request;
        var placeholderRequest = new RunRequest
        {
            Pipeline = pipeline,
            JobId = JobIdPlaceholder,
            InstanceType = request.InstanceType,
            Credentials = request.Credentials,
            Cloud = request.Cloud,
        };
        var placeholderPlan = RunPlanner.Plan(placeholderRequest, region);
        for (var index = 0; index < run.Steps.Count; index++)
        {
            placeholderPlan.Steps[index].InputEmpty = run.Steps[index].InputEmpty;
        }
        var bound = ProcessingJobBinder.Bind(placeholderPlan, region, account, source);

        var names = DefinitionNames(pipeline);
        var compiledSteps = new List<CompiledPipelineStep>();
        var stepsJson = new JsonArray();
        foreach (var step in bound.Steps)
        {
            var dependsOn = Upstream(placeholderPlan, step.Plan).Select(s => names[s]).ToList();
            var arguments = JsonSerializer.SerializeToNode(step.Request, AwsJson.Options)!.AsObject();
            arguments.Remove(nameof(CreateProcessingJobRequest.ProcessingJobName));
            var stepJson = new JsonObject
            {
                ["Name"] = names[step.Index],
                ["Type"] = "Processing",
                ["DisplayName"] = DisplayName(step.Step.Name),
                ["Description"] = $"Step '{step.Step.Name}' of {pipeline.Name} ({step.Step.Code})",
            };
            if (dependsOn.Count > 0)
            {
                stepJson["DependsOn"] = new JsonArray(dependsOn.Select(d => (JsonNode)d).ToArray());
            }
            stepJson["Arguments"] = Parameterize(arguments, jobIdFromExecution ? ExecutionIdReference : $"Parameters.{JobIdParameter}");
            if (!request.NoCache && step.Plan.Cache is { } cache)
            {
                // SageMaker's own step cache: an execution reuses a step of an earlier one whose arguments match.
                var cacheJson = new JsonObject { ["Enabled"] = true };
                if (cache.ExpireAfter is { } expireAfter)
                {
                    cacheJson["ExpireAfter"] = System.Xml.XmlConvert.ToString(expireAfter);
                }
                stepJson["CacheConfig"] = cacheJson;
            }
            if (RetryPolicies(step.Plan.Retry) is { } retryPolicies)
            {
                stepJson["RetryPolicies"] = retryPolicies;
            }
            stepsJson.Add(stepJson);
            compiledSteps.Add(new CompiledPipelineStep(step.Step.Name, names[step.Index], dependsOn));
        }

        var definition = new JsonObject
        {
            ["Version"] = Version,
            ["Metadata"] = new JsonObject(),
            ["Parameters"] = jobIdFromExecution
                ? new JsonArray()
                : new JsonArray(new JsonObject
                {
                    ["Name"] = JobIdParameter,
                    ["Type"] = "String",
                    ["Description"] = "The run's job id: every step reads and writes under it.",
                }),
            ["Steps"] = stepsJson,
        };
        return new CompiledPipelineDefinition(jobIdFromExecution ? ScheduledPipelineName(pipeline) : PipelineName(pipeline), definition.ToJsonString(), compiledSteps, bound);
    }

    /// <summary>
    /// The steps a step waits for: its depends_on when it has one, else the step before it (the seed's
    /// sequential list), and always the step that writes its input.
    /// </summary>
    private static SortedSet<int> Upstream(RunPlan plan, StepPlan step)
    {
        // The plan's graph (depends_on, an explicit [] included, else the step above): the same one every runtime runs.
        var upstream = new SortedSet<int>(step.Dependencies);
        if (step.InputProducer is { } producer)
        {
            upstream.Add(plan.Steps.First(s => s.Step.Name == producer).Index);
        }
        return upstream;
    }

    /// <summary>
    /// A step's retry as SageMaker RetryPolicies: one policy for the service's own faults (Step.*) and one for
    /// the job's (SageMaker.*), each with the attempts after the first, the first wait and a doubling backoff.
    /// A script's exit codes cannot be told apart by SageMaker Pipelines (a failed script is a failed job), so
    /// they are not retried server-side. Null when the step is tried once.
    /// </summary>
    internal static JsonArray? RetryPolicies(RlabsRetryPolicy retry)
    {
        if (retry.Attempts <= 1)
        {
            return null;
        }
        var stepTypes = new List<string>();
        var jobTypes = new List<string>();
        foreach (var kind in retry.On)
        {
            switch (kind)
            {
                case RlabsFailureKind.Throttling:
                    stepTypes.Add("Step.THROTTLING");
                    break;
                case RlabsFailureKind.Internal:
                    stepTypes.Add("Step.SERVICE_FAULT");
                    jobTypes.Add("SageMaker.JOB_INTERNAL_ERROR");
                    break;
                case RlabsFailureKind.Capacity:
                    jobTypes.Add("SageMaker.CAPACITY_ERROR");
                    jobTypes.Add("SageMaker.RESOURCE_LIMIT");
                    break;
                default:
                    break;
            }
        }
        var interval = (int)Math.Clamp(Math.Ceiling(retry.Backoff.TotalSeconds), 1, 300);
        var policies = new JsonArray();
        foreach (var types in new[] { stepTypes, jobTypes }.Where(t => t.Count > 0))
        {
            policies.Add(new JsonObject
            {
                ["ExceptionType"] = new JsonArray(types.Distinct(StringComparer.Ordinal).Select(t => (JsonNode)t).ToArray()),
                ["IntervalSeconds"] = interval,
                ["BackoffRate"] = 2.0,
                ["MaxAttempts"] = retry.Attempts - 1,
            });
        }
        return policies.Count > 0 ? policies : null;
    }

    /// <summary>Definition step names: the file's names with what SageMaker refuses replaced, unique, at most 64 characters.</summary>
    private static List<string> DefinitionNames(RlabsPipeline pipeline)
    {
        var names = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (var index = 0; index < pipeline.Steps.Count; index++)
        {
            var name = NotStepNameCharacter().Replace(pipeline.Steps[index].Name, "-");
            name = name.Length == 0 ? "step" : name.Length > 64 ? name[..64] : name;
            if (!used.Add(name))
            {
                var suffix = "-" + (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                name = (name.Length + suffix.Length > 64 ? name[..(64 - suffix.Length)] : name) + suffix;
                used.Add(name);
            }
            names.Add(name);
        }
        return names;
    }

    private static string DisplayName(string name)
    {
        var cleaned = NotStepNameCharacter().Replace(name, "-");
        return cleaned.Length == 0 ? "step" : cleaned.Length > 64 ? cleaned[..64] : cleaned;
    }

    /// <summary>Every string holding the placeholder job id becomes Std:Join of its parts and <paramref name="jobId"/> (a Get reference).</summary>
    private static JsonNode? Parameterize(JsonNode? node, string jobId)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(m => m.Key).ToList())
                {
                    obj[key] = Parameterize(obj[key]?.DeepClone(), jobId);
                }
                return obj;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    array[i] = Parameterize(array[i]?.DeepClone(), jobId);
                }
                return array;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String && ((string)value!).Contains(JobIdPlaceholder, StringComparison.Ordinal):
                var text = (string)value!;
                if (text == JobIdPlaceholder)
                {
                    return new JsonObject { ["Get"] = jobId };
                }
                var parts = new JsonArray();
                var pieces = text.Split(JobIdPlaceholder);
                for (var i = 0; i < pieces.Length; i++)
                {
                    if (i > 0)
                    {
                        parts.Add(new JsonObject { ["Get"] = jobId });
                    }
                    if (pieces[i].Length > 0)
                    {
                        parts.Add(pieces[i]);
                    }
                }
                return new JsonObject { ["Std:Join"] = new JsonObject { ["On"] = string.Empty, ["Values"] = parts } };
            default:
                return node;
        }
    }

    [GeneratedRegex(@"[^A-Za-z0-9\-_]")]
    private static partial Regex NotStepNameCharacter();
}
