using System.Management.Automation;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Commands;

/// <summary>Stop-RlabsPipelineRun: stops a cloud run's running job and keeps later steps from starting.</summary>
[Cmdlet(VerbsLifecycle.Stop, "RlabsPipelineRun", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class StopRlabsPipelineRunCommand : RlabsRunCmdlet
{
    /// <summary>Return the stopped run.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        using var session = CreateSession(CredentialsFile);
        using var service = new CloudRunService(session);
        if (Locate(session, service) is not { } found)
        {
            return;
        }
        var running = found.Run.Steps.Where(s => s.Status == RlabsRunStatus.Running).Select(s => s.JobName).ToList();
        if (found.Manifest is null)
        {
            // A run a serverless schedule started: its execution is all there is.
            if (!ShouldProcess($"run {JobId}: StopPipelineExecution {found.Run.PipelineExecutionArn}", "Stop"))
            {
                return;
            }
            using var scheduledReporter = new QueueReporter(InvokeRlabsPipelineCommand.ProgressActivityId);
            var history = new PipelineRunHistory(session);
            var ended = RunAsync(() => Task.FromResult(scheduledReporter.Drain(this, () => history.StopScheduledAsync(found.Run, scheduledReporter, CancellationToken))));
            if (ended is not null && PassThru)
            {
                WriteObject(ended);
            }
            return;
        }
        var manifest = found.Manifest;
        var what = manifest.IsEngineRun
            ? $"run {JobId}: StopPipelineExecution {found.Run.PipelineExecutionArn ?? "(not started)"}{(running.Count == 0 ? string.Empty : " (stops " + string.Join(", ", running.Where(n => n.Length > 0).DefaultIfEmpty("its running steps")) + ")")}"
            : running.Count == 0 ? $"run {JobId} (no job running; later steps will not start)" : $"run {JobId}: StopProcessingJob {string.Join(", ", running)}";
        if (!ShouldProcess(what, "Stop"))
        {
            return;
        }
        using var reporter = new QueueReporter(InvokeRlabsPipelineCommand.ProgressActivityId);
        var stopped = RunAsync(() => Task.FromResult(reporter.Drain(this, async () =>
        {
            await service.StopAsync(manifest, found.Run, reporter, CancellationToken).ConfigureAwait(false);
            return found.Run;
        })));
        if (stopped is not null && PassThru)
        {
            WriteObject(stopped);
        }
    }
}
