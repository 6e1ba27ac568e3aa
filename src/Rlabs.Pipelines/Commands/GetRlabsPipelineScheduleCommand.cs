using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>Get-RlabsPipelineSchedule: lists the schedules this module created, of both kinds (EventBridge rules with its prefix and description, EventBridge Scheduler schedules in group rlabs).</summary>
[Cmdlet(VerbsCommon.Get, "RlabsPipelineSchedule")]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class GetRlabsPipelineScheduleCommand : RlabsScheduleCmdlet
{
    /// <summary>Only this project's schedules.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? ProjectName { get; set; }

    /// <summary>Only this pipeline's schedule (matched by file name).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string? PipelinePath { get; set; }

    /// <summary>Only schedules of this kind: Ec2 (EventBridge rule, Lambda, instance) or Serverless (EventBridge Scheduler, SageMaker pipeline).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Ec2", "Serverless")]
    public string? Kind { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = ProjectName is null ? null : SanitizeProject(ProjectName);
        var pipeline = PipelinePath is null ? null : PipelineNameOf(PipelinePath);
        using var session = CreateSession(CredentialsFile);
        try
        {
            var kind = ScheduleKinds.Parse(Kind);
            WriteObject(RunCore(reporter => new ScheduleKinds(session, reporter).ListAsync(project, pipeline, kind, CancellationToken)), enumerateCollection: true);
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, project));
        }
    }
}
