namespace Rlabs.Pipelines;

/// <summary>Where a run or a step stands.</summary>
public enum RlabsRunStatus
{
    /// <summary>Not started yet.</summary>
    Pending,

    /// <summary>Running now.</summary>
    Running,

    /// <summary>Finished successfully.</summary>
    Completed,

    /// <summary>Finished with an error.</summary>
    Failed,

    /// <summary>Stopped by the user (Ctrl-C or Stop-RlabsPipelineRun).</summary>
    Stopped,

    /// <summary>Not run because an earlier step did not complete.</summary>
    Skipped,

    /// <summary>Not run: an earlier run's result with the same inputs was reused (SageMaker Pipelines' step cache).</summary>
    Cached,
}

/// <summary>How the steps of a local run (-InstanceType local) run.</summary>
public enum RlabsLocalRuntime
{
    /// <summary>Each step's code script as a Python process on this computer; needs nothing else.</summary>
    Process,

    /// <summary>Each step in a container of its SageMaker image, through a Docker-compatible engine.</summary>
    Container,

    /// <summary>Container when the engine answers and already has the step's image, else Process.</summary>
    Auto,
}

/// <summary>One run of a pipeline, identified by its job id.</summary>
public sealed class RlabsPipelineRun
{
    internal RlabsPipelineRun(string jobId, RlabsPipeline pipeline, string instanceType, string dataRoot, IReadOnlyList<RlabsPipelineStepRun> steps)
        : this(jobId, pipeline.Name, pipeline.Path, pipeline.RepositoryPath, pipeline.ProjectName, instanceType, dataRoot, steps)
    {
    }

    internal RlabsPipelineRun(string jobId, string pipelineName, string pipelinePath, string repositoryPath, string projectName, string instanceType, string dataRoot, IReadOnlyList<RlabsPipelineStepRun> steps)
    {
        JobId = jobId;
        PipelineName = pipelineName;
        PipelinePath = pipelinePath;
        RepositoryPath = repositoryPath;
        ProjectName = projectName;
        InstanceType = instanceType;
        DataRoot = dataRoot;
        Steps = steps;
    }

    /// <summary>S3 bucket of a cloud run; null for local runs.</summary>
    public string? Bucket { get; internal init; }

    /// <summary>AWS region of a cloud run; null for local runs.</summary>
    public string? Region { get; internal init; }

    /// <summary>Bytes this invocation uploaded to S3 (0 when nothing changed since the last run).</summary>
    public long UploadedBytes { get; internal set; }

    /// <summary>Who drove the run: Client (this module, step by step) or SageMakerPipelines (server-side).</summary>
    public string Engine { get; internal set; } = "Client";

    /// <summary>The SageMaker pipeline execution of an engine run, else null.</summary>
    public string? PipelineExecutionArn { get; internal set; }

    /// <summary>The run's job id; data paths and job names derive from it.</summary>
    public string JobId { get; }

    /// <summary>Pipeline file name without extension.</summary>
    public string PipelineName { get; }

    /// <summary>Full path of the pipeline file.</summary>
    public string PipelinePath { get; }

    /// <summary>The data-apps repository.</summary>
    public string RepositoryPath { get; }

    /// <summary>Project name used in job names.</summary>
    public string ProjectName { get; }

    /// <summary>'local' or the SageMaker instance type given for the run.</summary>
    public string InstanceType { get; }

    /// <summary>Where step data lives: a folder for local runs, an s3:// prefix for cloud runs.</summary>
    public string DataRoot { get; }

    /// <summary>Overall status: Failed or Stopped as soon as a step is, Completed when all are.</summary>
    public RlabsRunStatus Status { get; internal set; } = RlabsRunStatus.Pending;

    /// <summary>When the first step started.</summary>
    public DateTimeOffset? StartTime { get; internal set; }

    /// <summary>When the run ended.</summary>
    public DateTimeOffset? EndTime { get; internal set; }

    /// <summary>EndTime minus StartTime.</summary>
    public TimeSpan? Duration => StartTime is { } start && EndTime is { } end ? end - start : null;

    /// <summary>The steps' runs, in pipeline order.</summary>
    public IReadOnlyList<RlabsPipelineStepRun> Steps { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{PipelineName} {JobId} {Status}";
}

/// <summary>One step's run.</summary>
public sealed class RlabsPipelineStepRun
{
    internal RlabsPipelineStepRun(string jobId, string stepName, string jobName, string runtime)
    {
        JobId = jobId;
        StepName = stepName;
        JobName = jobName;
        Runtime = runtime;
    }

    /// <summary>The run's job id.</summary>
    public string JobId { get; }

    /// <summary>The step's name.</summary>
    public string StepName { get; }

    /// <summary>The job name (SageMaker processing job name in the cloud).</summary>
    public string JobName { get; internal set; }

    /// <summary>Process, Container or SageMaker.</summary>
    public string Runtime { get; internal set; }

    /// <summary>Where the step stands.</summary>
    public RlabsRunStatus Status { get; internal set; } = RlabsRunStatus.Pending;

    /// <summary>When the step started.</summary>
    public DateTimeOffset? StartTime { get; internal set; }

    /// <summary>When the step ended.</summary>
    public DateTimeOffset? EndTime { get; internal set; }

    /// <summary>EndTime minus StartTime.</summary>
    public TimeSpan? Duration => StartTime is { } start && EndTime is { } end ? end - start : null;

    /// <summary>The code script's exit code, when it ran.</summary>
    public int? ExitCode { get; internal set; }

    /// <summary>The input data location, when the step has input data.</summary>
    public string? InputLocation { get; internal set; }

    /// <summary>Where the step's output lands: &lt;data root&gt;/&lt;output_path&gt;/&lt;job_id&gt;.</summary>
    public string? OutputLocation { get; internal set; }

    /// <summary>The step's log file.</summary>
    public string? LogPath { get; internal set; }

    /// <summary>Why the step failed or was skipped.</summary>
    public string? FailureReason { get; internal set; }

    /// <summary>The execution whose result a <see cref="RlabsRunStatus.Cached"/> step reused, or null.</summary>
    public string? CacheSource { get; internal set; }

    /// <summary>The last lines of the step log when it failed.</summary>
    public IReadOnlyList<string> LogTail { get; internal set; } = [];

    /// <summary>The command line the step ran (interpreter, script and arguments).</summary>
    public IReadOnlyList<string> Command { get; internal set; } = [];

    /// <summary>The job id whose output this step reused from the step cache (its status is then Completed without running), else null.</summary>
    public string? CachedFrom { get; internal set; }

    /// <summary>Names of the steps this one waited for (its depends_on, else the step above it).</summary>
    public IReadOnlyList<string> DependsOn { get; internal set; } = [];

    /// <summary>Each attempt of this run of the step, the first included; more than one when it was retried.</summary>
    public IReadOnlyList<RlabsPipelineStepAttempt> Attempts => _attempts;

    private readonly List<RlabsPipelineStepAttempt> _attempts = [];

    internal void AddAttempt(RlabsPipelineStepAttempt attempt) => _attempts.Add(attempt);

    /// <inheritdoc/>
    public override string ToString() => $"{StepName} {Status}";
}

/// <summary>One attempt of a step: the first run, or a retry after a failure its retry policy names.</summary>
public sealed class RlabsPipelineStepAttempt
{
    internal RlabsPipelineStepAttempt(int number, string jobName, DateTimeOffset startTime)
    {
        Number = number;
        JobName = jobName;
        StartTime = startTime;
    }

    /// <summary>1 for the first attempt.</summary>
    public int Number { get; }

    /// <summary>The job (a SageMaker processing job name in the cloud) the attempt ran as.</summary>
    public string JobName { get; }

    /// <summary>When the attempt started.</summary>
    public DateTimeOffset StartTime { get; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? EndTime { get; internal set; }

    /// <summary>Completed, Failed or Stopped.</summary>
    public RlabsRunStatus Status { get; internal set; } = RlabsRunStatus.Running;

    /// <summary>Why it failed: the script, capacity, throttling, internal or timeout; null when it completed.</summary>
    public RlabsFailureKind? FailureKind { get; internal set; }

    /// <summary>Why it did not complete.</summary>
    public string? FailureReason { get; internal set; }

    /// <summary>The code script's exit code, when known.</summary>
    public int? ExitCode { get; internal set; }

    /// <inheritdoc/>
    public override string ToString() => $"{Number} {Status}";
}
