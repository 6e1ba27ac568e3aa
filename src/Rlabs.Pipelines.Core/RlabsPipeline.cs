namespace Rlabs.Pipelines;

/// <summary>A validated pipeline configuration file.</summary>
public sealed class RlabsPipeline
{
    internal RlabsPipeline(string path, string repositoryPath, string projectName, IReadOnlyList<RlabsPipelineStep> steps, PipelineDefaults defaults)
    {
        Path = path;
        RepositoryPath = repositoryPath;
        ProjectName = projectName;
        Steps = steps;
        Defaults = defaults;
    }

    /// <summary>The file name without its extension, e.g. "sample_pipeline".</summary>
    public string Name => System.IO.Path.GetFileNameWithoutExtension(Path);

    /// <summary>Full path of the YAML file.</summary>
    public string Path { get; }

    /// <summary>Full path of the data-apps repository the steps' code lives in.</summary>
    public string RepositoryPath { get; }

    /// <summary>The <c>project</c> key, else the repository folder name.</summary>
    public string ProjectName { get; }

    /// <summary>The steps, in file order.</summary>
    public IReadOnlyList<RlabsPipelineStep> Steps { get; }

    /// <summary>Pipeline-level settings (defaults for the steps and cloud settings).</summary>
    public PipelineDefaults Defaults { get; }

    /// <inheritdoc/>
    public override string ToString() => Path;
}

/// <summary>Pipeline-level keys: step defaults and settings for cloud runs.</summary>
public sealed class PipelineDefaults
{
    /// <summary>Default container image.</summary>
    public string? Image { get; init; }

    /// <summary>Default instance type.</summary>
    public string? InstanceType { get; init; }

    /// <summary>Default instance count.</summary>
    public int? InstanceCount { get; init; }

    /// <summary>Default volume size in GB.</summary>
    public int? VolumeSizeGb { get; init; }

    /// <summary>Default maximum runtime.</summary>
    public TimeSpan? MaxRuntime { get; init; }

    /// <summary>Environment variables for every step.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = EmptyMap;

    /// <summary>Tags for cloud resources.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = EmptyMap;

    /// <summary>S3 bucket for cloud runs.</summary>
    public string? Bucket { get; init; }

    /// <summary>Execution role for cloud runs.</summary>
    public string? RoleArn { get; init; }

    /// <summary>KMS key for volumes and outputs.</summary>
    public string? KmsKeyId { get; init; }

    /// <summary>Whether cloud jobs run with network isolation.</summary>
    public bool? NetworkIsolation { get; init; }

    /// <summary>VPC subnets for cloud jobs.</summary>
    public IReadOnlyList<string> Subnets { get; init; } = [];

    /// <summary>VPC security groups for cloud jobs.</summary>
    public IReadOnlyList<string> SecurityGroupIds { get; init; } = [];

    /// <summary>
    /// Gitignore-style patterns of secret-looking files (by name or content) that are packed and sent anyway;
    /// without them such files never leave the machine.
    /// </summary>
    public IReadOnlyList<string> PackageSecrets { get; init; } = [];

    /// <summary>The most steps in flight at once (<c>parallelism:</c>); null for the runtime's default.</summary>
    public int? Parallelism { get; init; }

    /// <summary>The retry policy of every step without its own (<c>retry:</c>); null: a step runs once.</summary>
    public RlabsRetryPolicy? Retry { get; init; }

    /// <summary>The step cache of every step without its own (<c>cache:</c>); null: off.</summary>
    public RlabsCacheSettings? Cache { get; init; }

    internal static readonly IReadOnlyDictionary<string, string> EmptyMap = new Dictionary<string, string>();
}

/// <summary>One step of a pipeline.</summary>
public sealed class RlabsPipelineStep
{
    /// <summary>Step name, unique in the pipeline.</summary>
    public required string Name { get; init; }

    /// <summary>Suffix of the step's job name.</summary>
    public required string JobSuffix { get; init; }

    /// <summary>Path of the code script, relative to the repository.</summary>
    public required string Code { get; init; }

    /// <summary>Input data path relative to the data root; may hold &lt;job_id&gt;.</summary>
    public string? InputData { get; init; }

    /// <summary>Output path relative to the data root; output lands in &lt;output_path&gt;/&lt;job_id&gt;/.</summary>
    public required string OutputPath { get; init; }

    /// <summary>Extra arguments for the code script, in file order.</summary>
    public IReadOnlyDictionary<string, string> Params { get; init; } = PipelineDefaults.EmptyMap;

    /// <summary>Names of the steps this one needs, as written in <c>depends_on</c> (see <see cref="HasDependsOn"/>).</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>
    /// Whether the step has a <c>depends_on</c> key. Without one it depends on the step before it (the seed's
    /// order); with one, even <c>[]</c>, only on the steps it names.
    /// </summary>
    public bool HasDependsOn { get; init; }

    /// <summary>The step's own retry policy (<c>retry:</c>), else null (the pipeline's applies).</summary>
    public RlabsRetryPolicy? Retry { get; init; }

    /// <summary>The step's own cache setting (<c>cache:</c>), else null (the pipeline's applies).</summary>
    public RlabsCacheSettings? Cache { get; init; }

    /// <summary>Requirements file relative to the repository.</summary>
    public string? Requirements { get; init; }

    /// <summary>Container image for this step.</summary>
    public string? Image { get; init; }

    /// <summary>Instance type for this step.</summary>
    public string? InstanceType { get; init; }

    /// <summary>Instance count for this step.</summary>
    public int? InstanceCount { get; init; }

    /// <summary>Volume size in GB for this step.</summary>
    public int? VolumeSizeGb { get; init; }

    /// <summary>Maximum runtime of this step.</summary>
    public TimeSpan? MaxRuntime { get; init; }

    /// <summary>Environment variables for this step (over the pipeline's).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = PipelineDefaults.EmptyMap;

    /// <summary>FullyReplicated or ShardedByS3Key.</summary>
    public string? InputDistribution { get; init; }

    /// <summary>Network isolation for this step's cloud job.</summary>
    public bool? NetworkIsolation { get; init; }

    /// <summary>
    /// Whether a local container run gives the step network access (<c>network: true</c>); local containers
    /// run with <c>--network none</c> otherwise.
    /// </summary>
    public bool Network { get; init; }

    /// <summary>Line of the step in the YAML file.</summary>
    public int Line { get; init; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>Why a step's attempt failed, as far as the runtime can tell; <c>retry.on</c> names the kinds retried.</summary>
public enum RlabsFailureKind
{
    /// <summary>The code script failed (a non-zero exit code, its own bug): not retried unless its exit code is listed.</summary>
    Script,

    /// <summary>No capacity for the instance type (SageMaker CapacityError, ResourceLimitExceeded).</summary>
    Capacity,

    /// <summary>A service refused for its request rate (ThrottlingException).</summary>
    Throttling,

    /// <summary>The service or the local engine failed (InternalServerError, an engine that went away).</summary>
    Internal,

    /// <summary>The step ran longer than its max_runtime.</summary>
    Timeout,
}

/// <summary>How a step is tried again (<c>retry:</c>): plain data, the same for every runtime and for a SageMaker Pipelines RetryPolicy.</summary>
/// <param name="Attempts">Attempts in all, the first included (1: no retry).</param>
/// <param name="Backoff">Wait before the second attempt; doubled before each later one.</param>
/// <param name="On">Failure kinds that are retried (never <see cref="RlabsFailureKind.Script"/> unless the exit code is listed).</param>
/// <param name="ExitCodes">Exit codes of the code script that mean "try again" (e.g. 75, EX_TEMPFAIL).</param>
public sealed record RlabsRetryPolicy(int Attempts, TimeSpan Backoff, IReadOnlyList<RlabsFailureKind> On, IReadOnlyList<int> ExitCodes)
{
    /// <summary>One attempt, no retry.</summary>
    public static RlabsRetryPolicy None { get; } = new(1, TimeSpan.Zero, [], []);

    /// <summary>The kinds retried when <c>retry:</c> does not say (<c>on:</c> omitted).</summary>
    public static IReadOnlyList<RlabsFailureKind> DefaultOn { get; } = [RlabsFailureKind.Capacity, RlabsFailureKind.Throttling, RlabsFailureKind.Internal];

    /// <summary>The wait before attempt <paramref name="attempt"/> (2 for the first retry).</summary>
    public TimeSpan BackoffBefore(int attempt) => attempt <= 1 ? TimeSpan.Zero : Backoff * Math.Pow(2, Math.Min(attempt - 2, 10));

    /// <summary>Whether a failed attempt of this kind (and exit code, when the script ran) is tried again.</summary>
    public bool Retries(RlabsFailureKind kind, int? exitCode) =>
        kind == RlabsFailureKind.Script ? exitCode is { } code && ExitCodes.Contains(code) : On.Contains(kind);
}

/// <summary>Whether a step's output may come from an earlier run with the same key (<c>cache:</c>).</summary>
/// <param name="Enabled">Whether the cache is on.</param>
/// <param name="ExpireAfter">How long an entry is valid; null for ever.</param>
public sealed record RlabsCacheSettings(bool Enabled, TimeSpan? ExpireAfter);

/// <summary>Severity of a configuration diagnostic.</summary>
public enum RlabsDiagnosticSeverity
{
    /// <summary>The pipeline cannot run.</summary>
    Error,

    /// <summary>The pipeline can run but something looks wrong.</summary>
    Warning,
}

/// <summary>One problem found in a pipeline configuration.</summary>
public sealed class RlabsPipelineDiagnostic
{
    internal RlabsPipelineDiagnostic(RlabsDiagnosticSeverity severity, string ruleName, string message, string hint, string file, int line, int column)
    {
        Severity = severity;
        RuleName = ruleName;
        Message = message;
        Hint = hint;
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>Error or Warning.</summary>
    public RlabsDiagnosticSeverity Severity { get; }

    /// <summary>Stable rule name, e.g. UnknownKey.</summary>
    public string RuleName { get; }

    /// <summary>What is wrong.</summary>
    public string Message { get; }

    /// <summary>How to fix it.</summary>
    public string Hint { get; }

    /// <summary>The pipeline file the diagnostic is about.</summary>
    public string File { get; }

    /// <summary>1-based line.</summary>
    public int Line { get; }

    /// <summary>1-based column.</summary>
    public int Column { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{File}:{Line}:{Column}: {Severity.ToString().ToLowerInvariant()} {RuleName}: {Message} {Hint}";
}
