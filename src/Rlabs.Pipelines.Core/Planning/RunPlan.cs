using Rlabs.Pipelines.Config;

namespace Rlabs.Pipelines.Planning;

/// <summary>Where a run's steps run: all on this computer or all on SageMaker (one run is never both).</summary>
public enum RunTarget
{
    /// <summary>On this computer: Python processes or local containers.</summary>
    Local,

    /// <summary>As SageMaker Processing jobs.</summary>
    Cloud,
}

/// <summary>What the user asked for: a pipeline, a job id, where to run it and the options of that runtime.</summary>
public sealed class RunRequest
{
    /// <summary>The validated pipeline.</summary>
    public required RlabsPipeline Pipeline { get; init; }

    /// <summary>The run's job id (validated by the caller with <see cref="ProjectNaming.ValidateJobId"/>).</summary>
    public required string JobId { get; init; }

    /// <summary>Local -Resume: steps that completed in an earlier run of this job id with the same key are kept.</summary>
    public bool Resume { get; init; }

    /// <summary>The instance type given for the whole run (it beats the file's); null to use the file's.</summary>
    public string? InstanceType { get; init; }

    /// <summary>The seed's credentials file, loaded.</summary>
    public CredentialsFile? Credentials { get; init; }

    /// <summary>The most steps in flight at once (-ThrottleLimit); null: the file's parallelism, else the runtime's default.</summary>
    public int? ThrottleLimit { get; init; }

    /// <summary>
    /// The slice to run (-Step, or -FromStep/-ToStep resolved by <see cref="RunSlice.Select"/>); null for every
    /// step. Steps outside it are not run: their outputs come from <see cref="ReferenceJobId"/>'s run.
    /// </summary>
    public IReadOnlyList<string>? Steps { get; init; }

    /// <summary>The run whose outputs stand in for the steps outside the slice; null: this job id's own earlier outputs.</summary>
    public string? ReferenceJobId { get; init; }

    /// <summary>-NoCache: every step runs, whatever the file's cache settings.</summary>
    public bool NoCache { get; init; }

    /// <summary>Options a local run uses (ignored by a cloud run).</summary>
    public LocalRunOptions Local { get; init; } = new();

    /// <summary>Options a cloud run uses (ignored by a local run).</summary>
    public CloudRunOptions Cloud { get; init; } = new();
}

/// <summary>The options of a local run.</summary>
public sealed class LocalRunOptions
{
    /// <summary>Local data root; default &lt;repository&gt;/.rlabs/data.</summary>
    public string? DataRoot { get; init; }

    /// <summary>The interpreter for process steps.</summary>
    public string? PythonPath { get; init; }

    /// <summary>How local steps run: a Python process (the default), a container, or whichever is available.</summary>
    public RlabsLocalRuntime Runtime { get; init; } = RlabsLocalRuntime.Process;

    /// <summary>AWS region, which picks the default image of container steps; null when unknown.</summary>
    public string? Region { get; init; }
}

/// <summary>The options of a cloud run.</summary>
public sealed class CloudRunOptions
{
    /// <summary>The IAM role jobs run as; default: the pipeline's role_arn.</summary>
    public string? RoleArn { get; init; }

    /// <summary>The run's bucket; default: the pipeline's bucket, else sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    public string? Bucket { get; init; }

    /// <summary>Skip steps whose job already completed with the same inputs.</summary>
    public bool Resume { get; init; }

    /// <summary>Start the first step and return; Wait-RlabsPipelineRun drives the rest.</summary>
    public bool NoWait { get; init; }

    /// <summary>Who drives the steps: the client (job by job) or SageMaker Pipelines (server-side).</summary>
    public CloudEngine Engine { get; init; } = CloudEngine.Client;

    /// <summary>
    /// A fixed S3 key (under the bucket) for the credentials copy instead of one per run: a serverless schedule's
    /// steps read the one copy the schedule keeps, since no client is there to put one per firing.
    /// </summary>
    public string? CredentialsKey { get; init; }
}

/// <summary>Who drives the steps of a cloud run.</summary>
public enum CloudEngine
{
    /// <summary>This module, one Processing job after another; the run lives in the process that drives it.</summary>
    Client,

    /// <summary>A SageMaker pipeline compiled from the file; SageMaker runs the steps whether or not the client lives on.</summary>
    SageMakerPipelines,
}

/// <summary>What a step runs on: the same resolution (step, else the file's defaults, else built-in) for every runtime.</summary>
/// <param name="InstanceType">'local' or an ml.* type.</param>
/// <param name="InstanceCount">Instances of a SageMaker job.</param>
/// <param name="VolumeSizeGb">Storage of a SageMaker job.</param>
/// <param name="MaxRuntime">How long the step may run before it is stopped, locally and on SageMaker.</param>
public sealed record StepResources(string InstanceType, int InstanceCount, int VolumeSizeGb, TimeSpan MaxRuntime);

/// <summary>
/// One step resolved once, whatever runs it: job name, input and output keys, command, environment,
/// image, resources and network. A runtime only binds it to its world (host paths, mounts, a job request).
/// </summary>
public sealed class StepPlan
{
    internal StepPlan(RunPlan run, RlabsPipelineStep step, int index, IReadOnlyList<int> dependencies, string? inputProducer, string? image, string? imageProblem, StepResources resources)
    {
        Dependencies = dependencies;
        DependsOn = dependencies.Select(d => run.Pipeline.Steps[d].Name).ToList();
        Retry = step.Retry ?? run.Pipeline.Defaults.Retry ?? RlabsRetryPolicy.None;
        var cache = step.Cache ?? run.Pipeline.Defaults.Cache;
        Cache = cache is { Enabled: true } ? cache : null;
        Run = run;
        Step = step;
        Index = index;
        InputProducer = inputProducer;
        Image = image;
        ImageProblem = imageProblem;
        Resources = resources;
        JobName = ProjectNaming.JobName(run.Pipeline.ProjectName, run.JobId, step.JobSuffix);
        InputKey = StepContract.InputKey(step, run.JobId);
        OutputKey = StepContract.OutputKey(step, run.JobId);
        Environment = StepContract.Environment(run.Pipeline, step, run.JobId);
    }

    /// <summary>The run this step belongs to.</summary>
    public RunPlan Run { get; }

    /// <summary>The step as written in the pipeline file.</summary>
    public RlabsPipelineStep Step { get; }

    /// <summary>Its position in the pipeline (0 for the first step).</summary>
    public int Index { get; }

    /// <summary>Its job name: &lt;project&gt;-&lt;job_id&gt;-&lt;job_suffix&gt; (SageMaker adds an attempt).</summary>
    public string JobName { get; }

    /// <summary>
    /// Names of the steps that must complete before this one starts: its <c>depends_on</c>, else the step above
    /// it (none for the first step). A SageMaker Pipelines definition takes them as DependsOn.
    /// </summary>
    public IReadOnlyList<string> DependsOn { get; }

    /// <summary>The same steps as <see cref="DependsOn"/>, by index in <see cref="RunPlan.Steps"/>.</summary>
    public IReadOnlyList<int> Dependencies { get; }

    /// <summary>How a failed attempt is tried again: the step's retry, else the file's, else one attempt.</summary>
    public RlabsRetryPolicy Retry { get; }

    /// <summary>The step's cache setting (the step's, else the file's) when the cache is on for it, else null. -NoCache is the request's (<see cref="RunRequest.NoCache"/>).</summary>
    public RlabsCacheSettings? Cache { get; }

    /// <summary>The input relative to the data root (&lt;job_id&gt; replaced), or null.</summary>
    public string? InputKey { get; }

    /// <summary>The output relative to the data root: &lt;output_path&gt;/&lt;job_id&gt;.</summary>
    public string OutputKey { get; }

    /// <summary>Whether the input is one zip file (handed as --input-data-zip) rather than a folder.</summary>
    public bool InputIsZip => StepContract.IsZipInput(InputKey) && !InputEmpty;

    /// <summary>
    /// The step this one depends on (directly or not) whose output holds its input (the output key and the input
    /// key overlap; the nearest in file order), or null when none writes it (the data is placed there before
    /// the run, or is absent).
    /// </summary>
    public string? InputProducer { get; }

    /// <summary>
    /// True when the input does not exist and no earlier step writes it: the step runs with an empty input
    /// folder (set by the engine before the run, the same for every runtime).
    /// </summary>
    public bool InputEmpty { get; internal set; }

    /// <summary>Variables the code script gets, the same in every runtime (the runtime adds the credentials path at its root).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>The step's container image; null when it cannot be resolved (see <see cref="ImageProblem"/>).</summary>
    public string? Image { get; }

    /// <summary>Why the image is unknown (no region, no image in that region), else null.</summary>
    public string? ImageProblem { get; }

    /// <summary>Instance type, count, volume and max runtime.</summary>
    public StepResources Resources { get; }

    /// <summary>Entrypoint and arguments at container paths: what SageMaker and a local container run.</summary>
    public ProcessingCommand Command => StepContract.ContainerCommand(Step, Run.JobId, InputIsZip ? StepContract.InputZipName(InputKey) : null, InputKey is not null);

    /// <summary>The contract's arguments (after the script) for the given paths: host paths for a process.</summary>
    public IReadOnlyList<string> Arguments(StepPaths paths) => StepContract.Arguments(Run.JobId, paths, Step.Params);
}

/// <summary>A run resolved once: the pipeline, the job id, where it runs and every step.</summary>
public sealed class RunPlan
{
    private readonly List<StepPlan> _steps = [];

    /// <summary>How many steps run at once when neither -ThrottleLimit nor 'parallelism:' says: on this computer.</summary>
    public const int DefaultLocalParallelism = 4;

    /// <summary>How many steps run at once when neither -ThrottleLimit nor 'parallelism:' says: SageMaker jobs.</summary>
    public const int DefaultCloudParallelism = 10;

    internal RunPlan(RunRequest request, RunTarget target)
    {
        Request = request;
        Target = target;
        Graph = StepGraph.Build(request.Pipeline.Steps);
        Parallelism = request.ThrottleLimit ?? request.Pipeline.Defaults.Parallelism ?? (target == RunTarget.Local ? DefaultLocalParallelism : DefaultCloudParallelism);
    }

    /// <summary>The steps' dependency graph.</summary>
    public StepGraph Graph { get; }

    /// <summary>The most steps in flight at once: -ThrottleLimit, else the file's 'parallelism:', else 4 locally and 10 on SageMaker.</summary>
    public int Parallelism { get; }

    /// <summary>The request the run was planned from.</summary>
    public RunRequest Request { get; }

    /// <summary>The pipeline the run runs.</summary>
    public RlabsPipeline Pipeline => Request.Pipeline;

    /// <summary>The job id.</summary>
    public string JobId => Request.JobId;

    /// <summary>Local or cloud.</summary>
    public RunTarget Target { get; }

    /// <summary>The steps in order.</summary>
    public IReadOnlyList<StepPlan> Steps => _steps;

    internal void Add(StepPlan step) => _steps.Add(step);
}
