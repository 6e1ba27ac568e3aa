using System.Management.Automation;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>Remove-RlabsPipelineSchedule: deletes what New-RlabsPipelineSchedule created for one pipeline.</summary>
[Cmdlet(VerbsCommon.Remove, "RlabsPipelineSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
public sealed class RemoveRlabsPipelineScheduleCommand : RlabsScheduleCmdlet
{
    /// <summary>The project, as given to New-RlabsPipelineSchedule.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string ProjectName { get; set; } = string.Empty;

    /// <summary>The pipeline file (its name identifies the schedule).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "PipelineConfigFile")]
    [ValidateNotNullOrEmpty]
    public string PipelinePath { get; set; } = string.Empty;

    /// <summary>The instance whose crontab line goes too; default: the one the schedule records.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? InstanceId { get; set; }

    /// <summary>The instance's .pem, to remove the crontab line over SSH.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PemFile { get; set; }

    /// <summary>SSH user on the instance.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Ec2UserName { get; set; } = "ec2-user";

    /// <summary>SSH port of the instance.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int SshPort { get; set; } = 22;

    /// <summary>Skip the confirmation (never -WhatIf).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var project = SanitizeProject(ProjectName);
        var pipeline = PipelineNameOf(PipelinePath);
        var ruleName = ScheduleNaming.RuleName(project, pipeline);
        if (!ShouldProcessOrForce(Force, ruleName, "Remove the schedule: rule and targets, the function and its permission, and the role if this module created it and no other schedule uses it"))
        {
            return;
        }
        using var session = CreateSession(CredentialsFile);
        try
        {
            RunCore(async reporter =>
            {
                var manager = new ScheduleManager(session, reporter);
                var instanceId = InstanceId ?? ((await manager.GetAsync(project, pipeline, CancellationToken).ConfigureAwait(false)) is [var found, ..] ? found.InstanceId : null);
                var removal = await manager.RemoveAsync(project, pipeline, CancellationToken).ConfigureAwait(false);
                foreach (var item in removal.Removed)
                {
                    reporter.Verbose($"Removed {item}.");
                }
                foreach (var item in removal.Kept)
                {
                    reporter.Verbose($"Kept {item}.");
                }
                if (instanceId is null)
                {
                    reporter.Warning("The schedule does not say which instance it ran on: pass -InstanceId and -PemFile to remove its crontab line.");
                }
                else if (PemFile is null)
                {
                    reporter.Warning($"The @reboot crontab line of {project}/{pipeline} stays on {instanceId}: pass -PemFile (and -Ec2UserName) to remove it over SSH, or remove it there with 'crontab -e'.");
                }
                else
                {
                    var outcome = await manager.RemoveCronEntryAsync(instanceId, ResolvePath(PemFile), Ec2UserName, SshPort, new KnownHosts(KnownHosts.DefaultPath()), acceptChangedHostKey: false, project, pipeline, CancellationToken).ConfigureAwait(false);
                    if (outcome.StartsWith("kept", StringComparison.Ordinal))
                    {
                        reporter.Warning($"Crontab line {outcome}.");
                    }
                    else
                    {
                        reporter.Verbose(outcome);
                    }
                }
                return removal;
            });
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, ruleName));
        }
    }
}
