using System.Management.Automation;

namespace Rlabs.Pipelines.Commands;

/// <summary>Disable-RlabsPipelineSchedule: disables the schedule's rule and reads the state back.</summary>
[Cmdlet(VerbsLifecycle.Disable, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineSchedule))]
public sealed class DisableRlabsPipelineScheduleCommand : RlabsScheduleStateCmdlet
{
    /// <inheritdoc/>
    protected override bool Enabled => false;
}
