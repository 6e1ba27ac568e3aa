using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>
/// New-RlabsPipelineSchedule: the seed's 'rlabs aws pipeline schedule' (an EC2 instance started by a rule and a
/// Lambda function), or with -Serverless an EventBridge Scheduler schedule that starts the SageMaker pipeline
/// itself; both idempotent and least-privilege.
/// </summary>
[Cmdlet(VerbsCommon.New, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = Ec2Set)]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class NewRlabsPipelineScheduleCommand : RlabsScheduleCmdlet
{
    private const string Ec2Set = "Ec2";
    private const string ServerlessSet = "Serverless";

    /// <summary>Schedule with EventBridge Scheduler and SageMaker Pipelines: no instance, function or SSH.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ServerlessSet)]
    public SwitchParameter Serverless { get; set; }

    /// <summary>The EC2 instance that runs the pipeline (i-…).</summary>
    [Parameter(Mandatory = true, ParameterSetName = Ec2Set)]
    [ValidateNotNullOrEmpty]
    public string InstanceId { get; set; } = string.Empty;

    /// <summary>The .pem of the instance's key pair.</summary>
    [Parameter(Mandatory = true, ParameterSetName = Ec2Set)]
    [ValidateNotNullOrEmpty]
    public string PemFile { get; set; } = string.Empty;

    /// <summary>SSH user on the instance.</summary>
    [Parameter(ParameterSetName = Ec2Set)]
    [ValidateNotNullOrEmpty]
    public string Ec2UserName { get; set; } = "ec2-user";

    /// <summary>SSH port of the instance.</summary>
    [Parameter(ParameterSetName = Ec2Set)]
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

    /// <summary>rate(…) or cron(…) with six fields, as EventBridge takes it; with -Serverless also at(yyyy-mm-ddThh:mm:ss) for one run.</summary>
    [Parameter(Mandatory = true)]
    [Alias("EventSchedule")]
    [ValidateNotNullOrEmpty]
    public string ScheduleExpression { get; set; } = string.Empty;

    /// <summary>The Lambda role; default: &lt;project&gt;-&lt;pipeline&gt;-lambda-role (one per schedule).</summary>
    [Parameter(ParameterSetName = Ec2Set)]
    [ValidateNotNullOrEmpty]
    public string? RoleName { get; set; }

    /// <summary>The IANA time zone cron() and at() are read in (Europe/Amsterdam); default UTC.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ArgumentCompleter(typeof(TimeZoneCompleter))]
    [ValidateNotNullOrEmpty]
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Fire within this many minutes of the time (1-1440) instead of on it; 0 (default) = on time.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateRange(0, 1440)]
    public int FlexibleWindowMinutes { get; set; }

    /// <summary>No firing before this time (a DateTime without offset is read as local time).</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    public DateTime? StartDate { get; set; }

    /// <summary>No firing after this time.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    public DateTime? EndDate { get; set; }

    /// <summary>How often the Scheduler retries a start that failed (0-185); default: the service's (185).</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateRange(0, 185)]
    public int? MaximumRetryAttempts { get; set; }

    /// <summary>How long the Scheduler keeps retrying a start, in seconds (60-86400); default: the service's (86400).</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateRange(60, 86400)]
    public int? MaximumEventAgeSeconds { get; set; }

    /// <summary>The SQS queue (arn:aws:sqs:…) that receives starts that failed for good.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateNotNullOrEmpty]
    public string? DeadLetterQueueArn { get; set; }

    /// <summary>The SageMaker execution role the pipeline runs as; default: role_arn in the pipeline file.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateNotNullOrEmpty]
    public string? RoleArn { get; set; }

    /// <summary>The role EventBridge Scheduler starts the pipeline as; default: one created for this schedule that may only start this pipeline.</summary>
    [Parameter(ParameterSetName = ServerlessSet)]
    [ValidateNotNullOrEmpty]
    public string? SchedulerRoleArn { get; set; }

    /// <summary>What the steps run on: an ml.* type, or (EC2 only) local; -Serverless default: the file's instance_type.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(InstanceTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string SageMakerInstanceType { get; set; } = InstanceTypes.Default;

    /// <summary>Skip the confirmation prompts (never beats -WhatIf); does not accept a changed host key.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Accept a host key that differs from the one recorded on first contact (a rebuilt instance).</summary>
    [Parameter(ParameterSetName = Ec2Set)]
    public SwitchParameter AcceptChangedHostKey { get; set; }

    /// <inheritdoc/>
    /// <remarks>-Serverless -WhatIf lists the calls from the inputs alone: it needs a region, no credentials.</remarks>
    protected override bool PlansWithoutCalls => ParameterSetName == ServerlessSet
        && (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var whatIf)
            ? whatIf is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference")));

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName == ServerlessSet)
        {
            ProcessServerless();
            return;
        }
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
        var (repository, pipelinePath, relative) = ResolvePipelineFile("the instance runs it from its copy of the repository");
        var project = SanitizeProject(string.IsNullOrWhiteSpace(ProjectName) ? ScheduleNaming.ProjectName(null, repository) : ProjectName);
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

    /// <summary>The -Serverless set: every input checked, then one ShouldProcess per part, then the core's one orchestrator.</summary>
    private void ProcessServerless()
    {
        // The zone and the expression first: nothing else is read or called when either is wrong.
        SchedulerExpression expression;
        try
        {
            expression = SchedulerExpression.Parse(ScheduleExpression, TimeZone);
        }
        catch (ArgumentException ex)
        {
            var zone = ex.ParamName == "timeZone";
            ThrowTerminatingError(ErrorMapping.Record(ex, zone ? "TimeZoneInvalid" : "ScheduleExpressionInvalid", ErrorCategory.InvalidArgument, zone ? TimeZone : ScheduleExpression));
            return;
        }
        var start = StartDate is { } s ? ServerlessScheduleRequest.ToInstant(s, expression.TimeZone) : (DateTimeOffset?)null;
        var end = EndDate is { } e ? ServerlessScheduleRequest.ToInstant(e, expression.TimeZone) : (DateTimeOffset?)null;
        if (ServerlessScheduleRequest.ValidateWindow(start, end, DateTimeOffset.UtcNow) is { } windowError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(windowError), "ScheduleDatesInvalid", ErrorCategory.InvalidArgument, EndDate));
        }
        if (RoleArn is not null && ServerlessScheduleRequest.ValidateRoleArn(RoleArn, "-RoleArn") is { } roleError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(roleError), "RoleArnInvalid", ErrorCategory.InvalidArgument, RoleArn));
        }
        if (SchedulerRoleArn is not null && ServerlessScheduleRequest.ValidateRoleArn(SchedulerRoleArn, "-SchedulerRoleArn") is { } schedulerRoleError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(schedulerRoleError), "RoleArnInvalid", ErrorCategory.InvalidArgument, SchedulerRoleArn));
        }
        if (DeadLetterQueueArn is not null && ServerlessScheduleRequest.ValidateQueueArn(DeadLetterQueueArn) is { } queueError)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(queueError), "DeadLetterQueueArnInvalid", ErrorCategory.InvalidArgument, DeadLetterQueueArn));
        }
        // Only an explicit -SageMakerInstanceType beats the file's instance_type; 'local' has no meaning without an instance.
        var instanceType = MyInvocation.BoundParameters.ContainsKey(nameof(SageMakerInstanceType)) ? SageMakerInstanceType : null;
        if (instanceType is not null && (InstanceScripts.ValidateInstanceType(instanceType) is { } typeError || InstanceTypes.IsLocal(instanceType)))
        {
            var problem = InstanceScripts.ValidateInstanceType(instanceType) ?? "-Serverless runs the steps on SageMaker: -SageMakerInstanceType takes an ml.* type, not local.";
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException(problem), "InstanceTypeInvalid", ErrorCategory.InvalidArgument, instanceType));
        }
        var (repository, pipelinePath, relative) = ResolvePipelineFile("the SageMaker pipeline is compiled from it and its code");
        var pipelineConfig = ReadPipeline(pipelinePath, repository);
        if (RoleArn is null && pipelineConfig.Defaults.RoleArn is null)
        {
            ThrowTerminatingError(ErrorMapping.Record(new ArgumentException($"The scheduled pipeline needs a SageMaker execution role: pass -RoleArn or set 'role_arn:' in {pipelinePath}."), "RoleArnMissing", ErrorCategory.InvalidArgument, pipelinePath));
        }
        var project = SanitizeProject(string.IsNullOrWhiteSpace(ProjectName) ? pipelineConfig.ProjectName : ProjectName);
        var pipelineName = PipelineNameOf(relative);
        var credentialsPath = ResolveCredentialsFile(repository, serverless: true);
        Config.CredentialsFile? credentials = null;
        if (credentialsPath is not null)
        {
            try
            {
                credentials = Config.CredentialsFile.Load(credentialsPath);
            }
            catch (RlabsConfigException ex)
            {
                ThrowTerminatingError(ErrorMapping.Record(ex, "CredentialsFileInvalid", ErrorCategory.InvalidData, credentialsPath));
            }
        }
        var run = new Planning.RunRequest
        {
            Pipeline = pipelineConfig,
            JobId = "scheduled",
            InstanceType = instanceType,
            Credentials = credentials,
            Cloud = new Planning.CloudRunOptions { RoleArn = RoleArn, Engine = Planning.CloudEngine.SageMakerPipelines, NoWait = true },
        };
        ServerlessScheduleRequest Schedule(string pipelineArn) => new()
        {
            ProjectName = project,
            PipelineName = pipelineName,
            PipelineRelativePath = relative,
            PipelineArn = pipelineArn,
            Schedule = expression,
            FlexibleWindowMinutes = FlexibleWindowMinutes,
            StartDate = start,
            EndDate = end,
            MaximumRetryAttempts = MaximumRetryAttempts,
            MaximumEventAgeSeconds = MaximumEventAgeSeconds,
            DeadLetterQueueArn = DeadLetterQueueArn,
            SchedulerRoleArn = SchedulerRoleArn,
        };

        using var session = CreateSession(CredentialsFile ?? credentialsPath);
        var manager = new ServerlessScheduleManager(session, Running.NullRunReporter.Instance);
        // Each part asks on its own; they depend on one another (the schedule needs the pipeline, the pipeline its
        // artifacts), so one declined part leaves every part untouched rather than half a schedule.
        var declined = new List<string>();
        foreach (var part in manager.Describe(run, Schedule, project))
        {
            if (!ShouldProcessOrForce(Force, part.Target, part.Action))
            {
                declined.Add(part.Target);
            }
        }
        if (declined.Count > 0)
        {
            if (!PlansWithoutCalls)
            {
                WriteWarning($"Nothing was changed: declined {string.Join(", ", declined)}; a serverless schedule needs every part.");
            }
            return;
        }
        try
        {
            var state = RunCore(reporter => new ServerlessScheduleManager(session, reporter).ScheduleAsync(run, Schedule, project, CancellationToken));
            foreach (var change in state.Changes)
            {
                WriteVerbose($"Changed: {change}");
            }
            if (state.Changes.Count == 0)
            {
                WriteVerbose("Nothing changed: every part was read and already as requested (Changes is empty).");
            }
            WriteObject(RlabsPipelineSchedule.FromServerless(state, relative));
        }
        catch (RlabsRunException ex)
        {
            ThrowTerminatingError(ErrorMapping.Record(ex, ex.ErrorId, ex.Target));
        }
        catch (Exception ex) when (IsReported(ex))
        {
            ThrowTerminatingError(ScheduleError(ex, pipelinePath));
        }
    }

    /// <summary>The repository, the pipeline file and its path relative to the repository (inside it, or a terminating error).</summary>
    private (string Repository, string PipelinePath, string Relative) ResolvePipelineFile(string why)
    {
        var repository = ResolveRepository(RepositoryPath);
        var pipelinePath = ResolvePath(PipelinePath);
        var relative = System.IO.Path.GetRelativePath(repository, pipelinePath).Replace('\\', '/');
        if (!File.Exists(pipelinePath) || relative.StartsWith("../", StringComparison.Ordinal) || relative == ".." || System.IO.Path.IsPathRooted(relative))
        {
            ThrowTerminatingError(ErrorMapping.Record(new FileNotFoundException($"The pipeline file '{pipelinePath}' must exist inside the repository '{repository}': {why}.", pipelinePath), "PipelineNotFound", ErrorCategory.ObjectNotFound, pipelinePath));
        }
        return (repository, pipelinePath, relative);
    }

    /// <summary>-CredentialsFile when given (must exist); else credentials.yaml in the current location or the repository, if any.</summary>
    private string? ResolveCredentialsFile(string repository, bool serverless = false)
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
        WriteWarning(serverless
            ? "No credentials.yaml in the current location or the repository: the scheduled steps get no credentials file, only their SageMaker role."
            : "No credentials.yaml in the current location or the repository: none is copied, so the pipeline on the instance uses the instance's own AWS credentials (its instance profile).");
        return null;
    }
}
