using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>Disable-RlabsPipelineSchedule: disables the schedule's rule and reads the state back.</summary>
[Cmdlet(VerbsLifecycle.Disable, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class DisableRlabsPipelineScheduleCommand : RlabsScheduleCmdlet
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

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = SanitizeProject(ProjectName);
        var pipeline = PipelineNameOf(PipelinePath);
        var ruleName = ScheduleNaming.RuleName(project, pipeline);
        if (!ShouldProcess(ruleName, "Disable the EventBridge rule"))
        {
            return;
        }
        using var session = CreateSession(CredentialsFile);
        try
        {
            WriteObject(RunCore(reporter => new ScheduleManager(session, reporter).SetStateAsync(project, pipeline, enabled: false, CancellationToken)));
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, ruleName));
        }
    }
}
