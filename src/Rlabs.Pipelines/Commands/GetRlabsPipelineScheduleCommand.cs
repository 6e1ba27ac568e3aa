using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>Get-RlabsPipelineSchedule: lists the schedules this module created (EventBridge rules with its prefix and description).</summary>
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

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = ProjectName is null ? null : SanitizeProject(ProjectName);
        var pipeline = PipelinePath is null ? null : PipelineNameOf(PipelinePath);
        using var session = CreateSession(CredentialsFile);
        try
        {
            var schedules = RunCore(reporter => new ScheduleManager(session, reporter).GetAsync(project, pipeline, CancellationToken));
            WriteObject(schedules.OrderBy(s => s.ProjectName, StringComparer.Ordinal).ThenBy(s => s.PipelineName, StringComparer.Ordinal), enumerateCollection: true);
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, project));
        }
    }
}
