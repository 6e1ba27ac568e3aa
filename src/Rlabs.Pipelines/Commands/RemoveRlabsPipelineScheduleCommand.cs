using System.Management.Automation;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Commands;

/// <summary>Remove-RlabsPipelineSchedule: deletes what New-RlabsPipelineSchedule created for one pipeline, of whichever kind exists.</summary>
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

    /// <summary>Only the schedule of this kind (Ec2 or Serverless); default: whichever exists.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Ec2", "Serverless")]
    public string? Kind { get; set; }

    /// <summary>Serverless: the bucket holding the schedule's stored credentials; default sagemaker-&lt;region&gt;-&lt;account&gt;.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Bucket { get; set; }

    /// <summary>Serverless: delete the SageMaker pipeline (and so its execution history) too.</summary>
    [Parameter]
    public SwitchParameter IncludePipeline { get; set; }

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
        var kind = ScheduleKinds.Parse(Kind);
        var action = kind switch
        {
            RlabsScheduleKind.Ec2 => Ec2Action,
            RlabsScheduleKind.Serverless => ServerlessAction,
            _ => $"Remove the schedule of whichever kind exists. Ec2: {Ec2Action}. Serverless: {ServerlessAction}",
        };
        // Decided before any AWS call, so -WhatIf makes none.
        if (!ShouldProcessOrForce(Force, ruleName, action))
        {
            return;
        }
        using var session = CreateSession(CredentialsFile);
        try
        {
            RunCore(async reporter =>
            {
                var kinds = new ScheduleKinds(session, reporter);
                var toRemove = await kinds.ExistingAsync(project, pipeline, kind, CancellationToken).ConfigureAwait(false);
                if (toRemove.Count == 0)
                {
                    // Nothing found: finish what a removal that failed half-way left (each removal only reads when all is gone).
                    toRemove = kind is { } only ? [only] : await kinds.LeftoversAsync(project, pipeline, CancellationToken).ConfigureAwait(false);
                }
                foreach (var each in toRemove)
                {
                    if (each == RlabsScheduleKind.Ec2)
                    {
                        await RemoveEc2Async(session, reporter, project, pipeline).ConfigureAwait(false);
                    }
                    else
                    {
                        await RemoveServerlessAsync(session, reporter, project, pipeline).ConfigureAwait(false);
                    }
                }
                return toRemove;
            });
        }
        catch (Exception ex) when (IsReported(ex))
        {
            WriteError(ScheduleError(ex, ruleName));
        }
    }

    private const string Ec2Action = "delete the EventBridge rule and targets, the function and its permission, and the role if this module created it and no other schedule uses it";

    private string ServerlessAction => "delete the EventBridge Scheduler schedule, its stored credentials and the scheduler role if this module created it"
        + (IncludePipeline ? ", and the SageMaker pipeline with its execution history" : " (the SageMaker pipeline and its executions stay)");

    private async Task RemoveServerlessAsync(Aws.AwsSession session, QueueReporter reporter, string project, string pipeline)
    {
        using var service = new CloudRunService(session);
        var bucket = Bucket ?? CloudNaming.DefaultBucket(session.Region, await service.GetAccountAsync(CancellationToken).ConfigureAwait(false));
        var removal = await new ServerlessScheduleManager(session, reporter).RemoveAsync(project, pipeline, bucket, null, IncludePipeline, CancellationToken).ConfigureAwait(false);
        Report(reporter, removal.Removed, removal.Kept);
    }

    private async Task RemoveEc2Async(Aws.AwsSession session, QueueReporter reporter, string project, string pipeline)
    {
        var manager = new ScheduleManager(session, reporter);
        var instanceId = InstanceId ?? ((await manager.GetAsync(project, pipeline, CancellationToken).ConfigureAwait(false)) is [var found, ..] ? found.InstanceId : null);
        var removal = await manager.RemoveAsync(project, pipeline, CancellationToken).ConfigureAwait(false);
        Report(reporter, removal.Removed, removal.Kept);
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
    }

    private static void Report(QueueReporter reporter, IReadOnlyList<string> removed, IReadOnlyList<string> kept)
    {
        foreach (var item in removed)
        {
            reporter.Verbose($"Removed {item}.");
        }
        foreach (var item in kept)
        {
            reporter.Verbose($"Kept {item}.");
        }
    }
}
