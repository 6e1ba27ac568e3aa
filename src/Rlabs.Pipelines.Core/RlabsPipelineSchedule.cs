using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines;

/// <summary>Whether EventBridge fires the schedule's rule.</summary>
public enum RlabsScheduleState
{
    /// <summary>The rule fires.</summary>
    Enabled,

    /// <summary>The rule exists but does not fire.</summary>
    Disabled,
}

/// <summary>Which machinery runs a schedule.</summary>
public enum RlabsScheduleKind
{
    /// <summary>The seed's kind: an EventBridge rule invokes a Lambda function that starts an EC2 instance whose @reboot crontab line runs the pipeline.</summary>
    Ec2,

    /// <summary>An EventBridge Scheduler schedule starts the SageMaker pipeline itself: no instance, function or SSH.</summary>
    Serverless,
}

/// <summary>
/// A scheduled pipeline of either <see cref="RlabsScheduleKind"/>. For <see cref="RlabsScheduleKind.Ec2"/>: the EventBridge rule that fires on the schedule, the Lambda function it invokes
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
        string? functionName,
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

    /// <summary>
    /// A serverless schedule as read back from EventBridge Scheduler: <see cref="RuleName"/> and <see cref="RuleArn"/>
    /// are the schedule's, <see cref="RoleName"/> the scheduler role's; no function or instance. A null
    /// <paramref name="pipelinePath"/> takes the path the schedule's description records.
    /// </summary>
    public static RlabsPipelineSchedule FromServerless(ServerlessScheduleState state, string? pipelinePath)
    {
        ArgumentNullException.ThrowIfNull(state);
        var roleName = state.RoleArn.Length == 0 ? null : state.RoleArn[(state.RoleArn.LastIndexOf('/') + 1)..];
        return new RlabsPipelineSchedule(state.ProjectName, state.PipelineName, pipelinePath ?? state.PipelinePath, state.ScheduleName, state.ScheduleArn, state.State,
            state.ScheduleExpression, state.NextRunTimesUtc.Select(t => t.UtcDateTime).ToArray(), functionName: null, functionArn: null, roleName, instanceId: null, state.Changes)
        {
            Kind = RlabsScheduleKind.Serverless,
            TimeZone = state.TimeZone,
            // Arrays, not the compiler's read-only list of a collection expression: PowerShell indexes an IList
            // ($_.NextRunTimes[0] in the format views), not an IReadOnlyList.
            NextRunTimesLocal = state.NextRunTimesLocal.ToArray(),
            SageMakerPipelineArn = state.PipelineArn,
            RoleArn = state.RoleArn,
        };
    }

    /// <summary>Ec2 (rule → Lambda → instance) or Serverless (Scheduler → SageMaker pipeline).</summary>
    public RlabsScheduleKind Kind { get; private init; } = RlabsScheduleKind.Ec2;

    /// <summary>The IANA zone the expression is read in (always UTC for the Ec2 kind: EventBridge rules know no zone).</summary>
    public string TimeZone { get; private init; } = "UTC";

    /// <summary>The next fire times in <see cref="TimeZone"/> (with its offset); the same instants as <see cref="NextRunTimes"/>.</summary>
    public IReadOnlyList<DateTimeOffset> NextRunTimesLocal
    {
        get => _nextRunTimesLocal ?? NextRunTimes.Select(t => new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc))).ToArray();
        private init => _nextRunTimesLocal = value;
    }

    private readonly IReadOnlyList<DateTimeOffset>? _nextRunTimesLocal;

    /// <summary>The SageMaker pipeline a serverless schedule starts (null for the Ec2 kind).</summary>
    public string? SageMakerPipelineArn { get; private init; }

    /// <summary>The ARN of <see cref="RoleName"/> when known (the scheduler role of a serverless schedule).</summary>
    public string? RoleArn { get; private init; }

    /// <summary>Sanitized project name.</summary>
    public string ProjectName { get; }

    /// <summary>Sanitized pipeline name (the pipeline file name without extension).</summary>
    public string PipelineName { get; }

    /// <summary>The pipeline file relative to the repository, as scheduled.</summary>
    public string? PipelinePath { get; }

    /// <summary>EventBridge rule name (Ec2) or EventBridge Scheduler schedule name in group <c>rlabs</c> (Serverless).</summary>
    public string RuleName { get; }

    /// <summary>The rule's or the schedule's ARN.</summary>
    public string RuleArn { get; }

    /// <summary>Enabled or Disabled, as read back from EventBridge.</summary>
    public RlabsScheduleState State { get; }

    /// <summary>rate(…), cron(…) or (Serverless only) at(…).</summary>
    public string ScheduleExpression { get; }

    /// <summary>The next three fire times in UTC (for a rate, counted from now: EventBridge counts from the rule's creation).</summary>
    public IReadOnlyList<DateTime> NextRunTimes { get; }

    /// <summary>The Lambda function that starts the instance (null for the Serverless kind).</summary>
    public string? FunctionName { get; }

    /// <summary>Its ARN, when it exists.</summary>
    public string? FunctionArn { get; }

    /// <summary>The function's IAM role (Ec2) or the scheduler role (Serverless).</summary>
    public string? RoleName { get; }

    /// <summary>The EC2 instance that runs the pipeline.</summary>
    public string? InstanceId { get; }

    /// <summary>What this call changed (empty when everything was already in place).</summary>
    public IReadOnlyList<string> Changes { get; }

    /// <inheritdoc/>
    public override string ToString() => Kind == RlabsScheduleKind.Ec2 ? $"{RuleName} {State} {ScheduleExpression}" : $"{RuleName} {State} {ScheduleExpression} {TimeZone}";
}
