namespace Rlabs.Pipelines.Scheduling;

/// <summary>The steps of scheduling; the cmdlet asks ShouldProcess for each and passes the approved ones.</summary>
[Flags]
public enum ScheduleSteps
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>Start the instance when it is not running and wait for SSH.</summary>
    StartInstance = 1,

    /// <summary>Copy the module and the scripts, run setup (runtime, run script, crontab).</summary>
    SetUpInstance = 2,

    /// <summary>Sync the repository and the credentials file.</summary>
    TransferFiles = 4,

    /// <summary>Create the Lambda role when missing and put its inline policy.</summary>
    Role = 8,

    /// <summary>Create or update the function and let EventBridge invoke it.</summary>
    Function = 16,

    /// <summary>Put the EventBridge rule and its target.</summary>
    Rule = 32,

    /// <summary>Everything.</summary>
    All = StartInstance | SetUpInstance | TransferFiles | Role | Function | Rule,
}

/// <summary>What New-RlabsPipelineSchedule was asked to do, with paths resolved and names sanitized.</summary>
public sealed class ScheduleRequest
{
    /// <summary>EC2 instance id (i-…).</summary>
    public required string InstanceId { get; init; }

    /// <summary>The .pem of the instance's key pair.</summary>
    public required string PemFile { get; init; }

    /// <summary>SSH login user.</summary>
    public string Ec2UserName { get; init; } = "ec2-user";

    /// <summary>SSH port (22 on EC2).</summary>
    public int SshPort { get; init; } = 22;

    /// <summary>The data-apps repository.</summary>
    public required string RepositoryPath { get; init; }

    /// <summary>Sanitized project name.</summary>
    public required string ProjectName { get; init; }

    /// <summary>The pipeline file, relative to the repository ('/'-separated).</summary>
    public required string PipelineRelativePath { get; init; }

    /// <summary>The credentials file to copy (mode 600), or null to copy none.</summary>
    public string? CredentialsFile { get; init; }

    /// <summary>The validated schedule.</summary>
    public required ScheduleExpression Schedule { get; init; }

    /// <summary>The Lambda role's name.</summary>
    public required string RoleName { get; init; }

    /// <summary>What the instance runs the pipeline with: an ml.* type, or 'local'.</summary>
    public string SageMakerInstanceType { get; init; } = InstanceTypes.Default;

    /// <summary>The built module folder (out/Rlabs.Pipelines) copied to the instance.</summary>
    public required string ModuleDirectory { get; init; }

    /// <summary>Host keys pinned here.</summary>
    public required KnownHosts KnownHosts { get; init; }

    /// <summary>Accept a changed host key.</summary>
    public bool AcceptChangedHostKey { get; init; }

    /// <summary>The pipeline's sanitized name.</summary>
    public string PipelineName => ScheduleNaming.PipelineName(PipelineRelativePath);
}
