using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>New-RlabsPipelineSchedule: the seed's 'rlabs aws pipeline schedule', idempotent and least-privilege.</summary>
[Cmdlet(VerbsCommon.New, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class NewRlabsPipelineScheduleCommand : RlabsScheduleCmdlet
{
    /// <summary>The EC2 instance that runs the pipeline (i-…).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string InstanceId { get; set; } = string.Empty;

    /// <summary>The .pem of the instance's key pair.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string PemFile { get; set; } = string.Empty;

    /// <summary>SSH user on the instance.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Ec2UserName { get; set; } = "ec2-user";

    /// <summary>SSH port of the instance.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int SshPort { get; set; } = 22;

    /// <summary>The data-apps repository.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string RepositoryPath { get; set; } = string.Empty;

    /// <summary>Project name; default: the repository folder name.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? ProjectName { get; set; }

    /// <summary>The pipeline YAML file.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string PipelinePath { get; set; } = string.Empty;

    /// <summary>rate(…) or cron(…), as EventBridge takes it.</summary>
    [Parameter(Mandatory = true)]
    [Alias("EventSchedule")]
    [ValidateNotNullOrEmpty]
    public string ScheduleExpression { get; set; } = string.Empty;

    /// <summary>The Lambda role; default: &lt;project&gt;-&lt;pipeline&gt;-lambda-role (one per schedule).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RoleName { get; set; }

    /// <summary>What the instance runs the steps on: an ml.* type, or local.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(InstanceTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string SageMakerInstanceType { get; set; } = InstanceTypes.Default;

    /// <summary>Skip the confirmation prompts (never beats -WhatIf); does not accept a changed host key.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Accept a host key that differs from the one recorded on first contact (a rebuilt instance).</summary>
    [Parameter]
    public SwitchParameter AcceptChangedHostKey { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        // Every input is checked before the first AWS or SSH call.
        if (!Scheduling.ScheduleExpression.TryParse(ScheduleExpression, out var schedule, out var scheduleError))
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(scheduleError), "ScheduleExpressionInvalid", ErrorCategory.InvalidArgument, ScheduleExpression));
            return;
        }
        if (!InstanceIds.IsValid(InstanceId))
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException($"'{InstanceId}' is not an EC2 instance id: they look like i-0123456789abcdef0."), "InstanceIdInvalid", ErrorCategory.InvalidArgument, InstanceId));
        }
        if (InstanceScripts.ValidateInstanceType(SageMakerInstanceType) is { } typeError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(typeError), "InstanceTypeInvalid", ErrorCategory.InvalidArgument, SageMakerInstanceType));
        }
        var repository = ResolveRepository(RepositoryPath);
        var project = SanitizeProject(string.IsNullOrWhiteSpace(ProjectName) ? ScheduleNaming.ProjectName(null, repository) : ProjectName);
        var pipelinePath = ResolvePath(PipelinePath);
        var relative = System.IO.Path.GetRelativePath(repository, pipelinePath).Replace('\\', '/');
        if (!File.Exists(pipelinePath) || relative.StartsWith("../", StringComparison.Ordinal) || relative == ".." || System.IO.Path.IsPathRooted(relative))
        {
            ThrowTerminatingError(ErrorMapping.Record(new FileNotFoundException($"The pipeline file '{pipelinePath}' must exist inside the repository '{repository}': the instance runs it from its copy of the repository.", pipelinePath), "PipelineNotFound", ErrorCategory.ObjectNotFound, pipelinePath));
        }
        var pipelineConfig = ReadPipeline(pipelinePath, repository);
        var pipelineName = PipelineNameOf(relative);
        var roleName = RoleName ?? ScheduleNaming.DefaultRoleName(project, pipelineName);
        if (ScheduleNaming.ValidateRoleName(roleName) is { } roleError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(roleError), "RoleNameInvalid", ErrorCategory.InvalidArgument, roleName));
        }
        var pem = ResolvePath(PemFile);
        try
        {
            foreach (var warning in RemoteInstance.CheckKeyFile(pem))
            {
                WriteWarning(warning);
            }
        }
        catch (RemoteInstanceException ex)
        {
            ThrowTerminatingError(ScheduleError(ex, pem));
        }
        var credentials = ResolveCredentialsFile(repository);
        var moduleDirectory = MyInvocation.MyCommand.Module?.ModuleBase;
        if (moduleDirectory is null || !File.Exists(System.IO.Path.Combine(moduleDirectory, "Rlabs.Pipelines.psd1")))
        {
            ThrowTerminatingError(ErrorMapping.Record(new InvalidOperationException("New-RlabsPipelineSchedule copies this module to the instance; import it from its manifest (Rlabs.Pipelines.psd1)."), "ModuleNotFound", ErrorCategory.ObjectNotFound, moduleDirectory));
            return;
        }

        var ruleName = ScheduleNaming.RuleName(project, pipelineName);
        var steps = ScheduleSteps.None;
        void Ask(ScheduleSteps step, string target, string action)
        {
            if (ShouldProcessOrForce(Force, target, action))
            {
                steps |= step;
            }
        }
        Ask(ScheduleSteps.StartInstance, InstanceId, "Start the instance if it is not running and wait for SSH");
        Ask(ScheduleSteps.SetUpInstance, $"{Ec2UserName}@{InstanceId}", $"Copy the module and the run, setup and crontab scripts; install what is missing; put the @reboot crontab line for {project}/{pipelineName}");
        Ask(ScheduleSteps.TransferFiles, $"{Ec2UserName}@{InstanceId}", $"Send the changed files of '{repository}'{(credentials is null ? string.Empty : $" and '{credentials}' (mode 600)")}");
        Ask(ScheduleSteps.Role, roleName, $"Create the IAM role if missing and allow it only ec2:StartInstances on {InstanceId} and its own log group");
        Ask(ScheduleSteps.Function, ScheduleNaming.FunctionName(project, pipelineName), $"Create or update the Lambda function that starts {InstanceId}, invokable by rule {ruleName} only");
        Ask(ScheduleSteps.Rule, ruleName, $"Put the EventBridge rule '{schedule.Expression}' targeting the function");

        using var session = CreateSession(CredentialsFile ?? credentials);
        var request = new ScheduleRequest
        {
            InstanceId = InstanceId,
            PemFile = pem,
            Ec2UserName = Ec2UserName,
            SshPort = SshPort,
            RepositoryPath = repository,
            ProjectName = project,
            PipelineRelativePath = relative,
            CredentialsFile = credentials,
            PackageSecrets = pipelineConfig.Defaults.PackageSecrets,
            Schedule = schedule,
            RoleName = roleName,
            SageMakerInstanceType = SageMakerInstanceType,
            ModuleDirectory = moduleDirectory,
            KnownHosts = new KnownHosts(KnownHosts.DefaultPath()),
            AcceptChangedHostKey = AcceptChangedHostKey,
        };
        try
        {
            var result = RunCore(reporter => new ScheduleManager(session, reporter).ScheduleAsync(request, steps, CancellationToken));
            foreach (var change in result.Changes)
            {
                WriteVerbose($"Changed: {change}");
            }
            if (result.Changes.Count == 0 && steps != ScheduleSteps.None)
            {
                WriteVerbose("Nothing changed: every part was read and already as requested (Changes is empty).");
            }
            WriteObject(result);
        }
        catch (Exception ex) when (IsReported(ex))
        {
            ThrowTerminatingError(ScheduleError(ex, InstanceId));
        }
    }

    /// <summary>-CredentialsFile when given (must exist); else credentials.yaml in the current location or the repository, if any.</summary>
    private string? ResolveCredentialsFile(string repository)
    {
        if (CredentialsFile is not null)
        {
            var given = ResolvePath(CredentialsFile);
            if (!File.Exists(given))
            {
                ThrowTerminatingError(ErrorMapping.Record(new FileNotFoundException($"The credentials file '{given}' does not exist.", given), "CredentialsFileNotFound", ErrorCategory.ObjectNotFound, given));
            }
            return given;
        }
        foreach (var candidate in new[] { ResolvePath("credentials.yaml"), System.IO.Path.Combine(repository, "credentials.yaml") })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        WriteWarning("No credentials.yaml in the current location or the repository: none is copied, so the pipeline on the instance uses the instance's own AWS credentials (its instance profile).");
        return null;
    }
}
