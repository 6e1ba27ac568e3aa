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

    /// <summary>Names of earlier steps this one needs.</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

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
