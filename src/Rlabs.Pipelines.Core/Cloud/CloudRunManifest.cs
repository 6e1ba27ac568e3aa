using System.Text.Json;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// A cloud run as stored in S3 next to its data: the planned job requests and which were started. Lets
/// Wait-RlabsPipelineRun finish a run that Invoke-RlabsPipeline -NoWait only started, from any machine.
/// </summary>
public sealed class CloudRunManifest
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>The run's job id.</summary>
    public required string JobId { get; init; }

    /// <summary>Project name.</summary>
    public required string ProjectName { get; init; }

    /// <summary>Pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>Pipeline file on the machine that started the run.</summary>
    public required string PipelinePath { get; init; }

    /// <summary>Repository on the machine that started the run.</summary>
    public required string RepositoryPath { get; init; }

    /// <summary>Bucket of the run.</summary>
    public required string Bucket { get; init; }

    /// <summary>The account that must own <see cref="Bucket"/> (the module chose it), or null for a bucket the user named.</summary>
    public string? BucketOwner { get; init; }

    /// <summary>KMS key the run's objects (this manifest too) are encrypted with; null for SSE-S3.</summary>
    public string? KmsKeyId { get; init; }

    /// <summary>Region of the run.</summary>
    public required string Region { get; init; }

    /// <summary>Instance type given for the run.</summary>
    public required string InstanceType { get; init; }

    /// <summary>Key of the stripped credentials copy, deleted when the run ends.</summary>
    public string? CredentialsKey { get; init; }

    /// <summary>Set by Stop-RlabsPipelineRun: later steps must not start.</summary>
    public bool Stopped { get; set; }

    /// <summary>The steps in order.</summary>
    public required List<CloudManifestStep> Steps { get; init; }

    /// <summary>Who drives the run: null for the client (Wait-RlabsPipelineRun starts the steps), else <see cref="SageMakerPipelinesEngine.Name"/>.</summary>
    public string? Engine { get; set; }

    /// <summary>The SageMaker pipeline of an engine run.</summary>
    public string? SageMakerPipelineName { get; set; }

    /// <summary>The execution of an engine run, once started.</summary>
    public string? PipelineExecutionArn { get; set; }

    /// <summary>Engine runs: the sha256 of the definition the current execution runs; -Resume compares it with the pipeline file's now.</summary>
    public string? DefinitionHash { get; set; }

    /// <summary>Engine runs: how many selective executions -Resume started (their ClientRequestToken is the job id and this number).</summary>
    public int ResumeAttempt { get; set; }

    /// <summary>The most steps in flight at once, as the run was started with; null in an older manifest (the cloud default).</summary>
    public int? Parallelism { get; init; }

    /// <summary>Whether SageMaker Pipelines drives the run (not the client).</summary>
    public bool IsEngineRun => Engine is not null;

    /// <summary>s3:// data root.</summary>
    public string DataRoot => $"s3://{Bucket}/{CloudNaming.ProjectPrefix(ProjectName)}/data";

    /// <summary>How Wait-RlabsPipelineRun schedules the steps: the recorded graph and parallelism (a step whose list is missing waits for the one above it).</summary>
    internal ExecutionOptions Schedule()
    {
        var index = Steps.Select((s, i) => (s.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        return new ExecutionOptions
        {
            Dependencies = Steps.Select((s, i) => (IReadOnlyList<int>)(s.DependsOn is { } names
                ? names.Where(index.ContainsKey).Select(n => index[n]).ToList()
                : i == 0 ? [] : [i - 1])).ToList(),
            Parallelism = Parallelism ?? RunPlan.DefaultCloudParallelism,
        };
    }

    internal string ToJson() => JsonSerializer.Serialize(this, s_json);

    internal static CloudRunManifest FromJson(string json) =>
        JsonSerializer.Deserialize<CloudRunManifest>(json, s_json) ?? throw new JsonException("The run manifest is empty.");
}

/// <summary>One step of a stored run.</summary>
public sealed class CloudManifestStep
{
    /// <summary>Step name.</summary>
    public required string Name { get; init; }

    /// <summary>The job request to send.</summary>
    public required CreateProcessingJobRequest Request { get; set; }

    /// <summary>Whether the job was created (its name is Request.ProcessingJobName).</summary>
    public bool Started { get; set; }

    /// <summary>
    /// The names earlier invocations with this job id planned for the step, whether or not they created the job. The
    /// manifest is written before every CreateProcessingJob, so a job created just before a crash is always found
    /// again by name (-Resume adopts or stops it), even where ListProcessingJobs does not show it yet.
    /// </summary>
    public List<string> EarlierJobNames { get; init; } = [];

    /// <summary>Input and output locations, for the run object.</summary>
    public string? InputUri { get; init; }

    /// <summary>Where the output is uploaded.</summary>
    public required string OutputUri { get; init; }

    /// <summary>The step's name in the SageMaker pipeline definition (engine runs).</summary>
    public string? DefinitionStepName { get; set; }

    /// <summary>
    /// The names of the steps it waits for, so Wait-RlabsPipelineRun drives the same graph the run started with;
    /// null in a manifest written before the graph was recorded: then it waits for the step above it.
    /// </summary>
    public List<string>? DependsOn { get; init; }

    /// <summary>
    /// Engine runs: the job id whose output this run reuses for the step (a content-keyed cache hit, or a step
    /// outside -Step/-FromStep/-ToStep), decided before the execution started; the execution does not run it.
    /// </summary>
    public string? CachedFrom { get; set; }

    /// <summary>Why <see cref="CachedFrom"/> is set: <c>cache</c>, <c>reference</c>, or <c>resume</c> (it succeeded in the execution a resume started from).</summary>
    public string? CachedBecause { get; set; }

    /// <summary>
    /// Engine runs: the step's cache key as far as it is known at the start (everything but its input), recorded in
    /// the cache index by whoever first sees the step succeed (<see cref="EngineCacheRecorder"/>); null when the
    /// step is not cached or the execution does not run it.
    /// </summary>
    public EngineCacheRecord? Cache { get; set; }
}

/// <summary>What the cache index needs of a step an engine execution runs, written down before it starts.</summary>
public sealed class EngineCacheRecord
{
    /// <summary>The parts of the key known before the input is written (code, source, requirements, params, environment, image).</summary>
    public required SortedDictionary<string, string> Parts { get; init; }

    /// <summary>The input, relative to the data root (null without input).</summary>
    public string? InputKey { get; init; }

    /// <summary>Whether the input is one zip object.</summary>
    public bool InputIsZip { get; init; }

    /// <summary>Whether the step runs with an empty input folder.</summary>
    public bool InputEmpty { get; init; }

    /// <summary>The output, relative to the data root.</summary>
    public required string OutputKey { get; init; }

    /// <summary>Whether the key is in the index already (it is written once).</summary>
    public bool Recorded { get; set; }
}
