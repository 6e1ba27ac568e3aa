namespace Rlabs.Pipelines;

/// <summary>Whether EventBridge fires the schedule's rule.</summary>
public enum RlabsScheduleState
{
    /// <summary>The rule fires.</summary>
    Enabled,

    /// <summary>The rule exists but does not fire.</summary>
    Disabled,
}

/// <summary>
/// A scheduled pipeline: the EventBridge rule that fires on the schedule, the Lambda function it invokes
/// to start the EC2 instance, that function's role, and the instance whose @reboot crontab line runs the
/// pipeline as SageMaker jobs.
/// </summary>
public sealed class RlabsPipelineSchedule
{
    /// <summary>Creates the record.</summary>
    public RlabsPipelineSchedule(
        string projectName,
        string pipelineName,
        string? pipelinePath,
        string ruleName,
        string ruleArn,
        RlabsScheduleState state,
        string scheduleExpression,
        IReadOnlyList<DateTime> nextRunTimes,
        string functionName,
        string? functionArn,
        string? roleName,
        string? instanceId,
        IReadOnlyList<string> changes)
    {
        ProjectName = projectName;
        PipelineName = pipelineName;
        PipelinePath = pipelinePath;
        RuleName = ruleName;
        RuleArn = ruleArn;
        State = state;
        ScheduleExpression = scheduleExpression;
        NextRunTimes = nextRunTimes;
        FunctionName = functionName;
        FunctionArn = functionArn;
        RoleName = roleName;
        InstanceId = instanceId;
        Changes = changes;
    }

    /// <summary>Sanitized project name.</summary>
    public string ProjectName { get; }

    /// <summary>Sanitized pipeline name (the pipeline file name without extension).</summary>
    public string PipelineName { get; }

    /// <summary>The pipeline file relative to the repository, as scheduled.</summary>
    public string? PipelinePath { get; }

    /// <summary>EventBridge rule name.</summary>
    public string RuleName { get; }

    /// <summary>EventBridge rule ARN.</summary>
    public string RuleArn { get; }

    /// <summary>Enabled or Disabled, as read back from EventBridge.</summary>
    public RlabsScheduleState State { get; }

    /// <summary>rate(…) or cron(…).</summary>
    public string ScheduleExpression { get; }

    /// <summary>The next three fire times in UTC (for a rate, counted from now: EventBridge counts from the rule's creation).</summary>
    public IReadOnlyList<DateTime> NextRunTimes { get; }

    /// <summary>The Lambda function that starts the instance.</summary>
    public string FunctionName { get; }

    /// <summary>Its ARN, when it exists.</summary>
    public string? FunctionArn { get; }

    /// <summary>The function's IAM role.</summary>
    public string? RoleName { get; }

    /// <summary>The EC2 instance that runs the pipeline.</summary>
    public string? InstanceId { get; }

    /// <summary>What this call changed (empty when everything was already in place).</summary>
    public IReadOnlyList<string> Changes { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{RuleName} {State} {ScheduleExpression}";
}
