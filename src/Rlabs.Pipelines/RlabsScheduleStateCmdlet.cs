using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines;

/// <summary>Enable- and Disable-RlabsPipelineSchedule: the rule or the Scheduler schedule (whichever exists) toggled, confirmed by reading the state back.</summary>
public abstract class RlabsScheduleStateCmdlet : RlabsScheduleCmdlet
{
    /// <summary>The project, as given to New-RlabsPipelineSchedule ('.' and '_' become '-').</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string ProjectName { get; set; } = string.Empty;

    /// <summary>The pipeline file (its name identifies the schedule).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string PipelinePath { get; set; } = string.Empty;

    /// <summary>Only the schedule of this kind (Ec2 or Serverless); default: whichever exists.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Ec2", "Serverless")]
    public string? Kind { get; set; }

    /// <summary>The state this cmdlet puts the schedule in.</summary>
    protected abstract bool Enabled { get; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = SanitizeProject(ProjectName);
        var pipeline = PipelineNameOf(PipelinePath);
        var ruleName = ScheduleNaming.RuleName(project, pipeline);
        var kind = ScheduleKinds.Parse(Kind);
        var what = kind switch
        {
            RlabsScheduleKind.Ec2 => "the EventBridge rule",
            RlabsScheduleKind.Serverless => $"the EventBridge Scheduler schedule in group {SchedulerTrigger.GroupName}",
            _ => $"the EventBridge rule or EventBridge Scheduler schedule (group {SchedulerTrigger.GroupName}), whichever exists",
        };
        // Decided before any AWS call, so -WhatIf makes none.
        if (!ShouldProcess(ruleName, $"{(Enabled ? "Enable" : "Disable")} {what}"))
        {
            return;
        }
        using var session = CreateSession(CredentialsFile);
        try
        {
            WriteObject(RunCore(reporter => new ScheduleKinds(session, reporter).SetStateAsync(project, pipeline, Enabled, kind, CancellationToken)), enumerateCollection: true);
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, ruleName));
        }
    }
}
