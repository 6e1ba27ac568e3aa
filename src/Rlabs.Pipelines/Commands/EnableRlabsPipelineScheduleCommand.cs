using System.Management.Automation;

namespace Rlabs.Pipelines.Commands;

/// <summary>Enable-RlabsPipelineSchedule: enables the schedule's rule and reads the state back.</summary>
[Cmdlet(VerbsLifecycle.Enable, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class EnableRlabsPipelineScheduleCommand : RlabsScheduleStateCmdlet
{
    /// <inheritdoc/>
    protected override bool Enabled => true;
}
