using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines;

/// <summary>Enable- and Disable-RlabsPipelineSchedule: one rule toggle, confirmed by reading the state back.</summary>
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

    /// <summary>The state this cmdlet puts the rule in.</summary>
    protected abstract bool Enabled { get; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = SanitizeProject(ProjectName);
        var pipeline = PipelineNameOf(PipelinePath);
        var ruleName = ScheduleNaming.RuleName(project, pipeline);
        if (!ShouldProcess(ruleName, Enabled ? "Enable the EventBridge rule" : "Disable the EventBridge rule"))
        {
            return;
        }
        using var session = CreateSession(CredentialsFile);
        try
        {
            WriteObject(RunCore(reporter => new ScheduleManager(session, reporter).SetStateAsync(project, pipeline, Enabled, CancellationToken)));
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, ruleName));
        }
    }
}
