using System.Management.Automation;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Commands;

/// <summary>Wait-RlabsPipelineRun: waits for a cloud run to end, starting its remaining steps in order.</summary>
[Cmdlet(VerbsLifecycle.Wait, "RlabsPipelineRun")]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class WaitRlabsPipelineRunCommand : RlabsRunCmdlet
{
    /// <summary>Seconds to wait, like Wait-Job's; -1 (the default) waits until the run ends. On timeout the run goes on.</summary>
    [Parameter]
    [Alias("TimeoutSec")]
    [ValidateRange(-1, int.MaxValue)]
    public int Timeout { get; set; } = -1;

    /// <summary>Also write the run as JUnit XML (one test case per step) to this file, for CI test tabs.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? JUnitPath { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        using var session = CreateSession(CredentialsFile);
        using var service = new CloudRunService(session);
        if (Locate(session, service) is not { } found)
        {
            return;
        }
        using var reporter = new QueueReporter(InvokeRlabsPipelineCommand.ProgressActivityId);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken);
        if (Timeout >= 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(Timeout));
        }
        RlabsPipelineRun run;
        try
        {
            run = found.Manifest is { } manifest
                ? reporter.Drain(this, () => service.WaitAsync(manifest, found.Run, reporter, timeout.Token))
                : reporter.Drain(this, () => new PipelineRunHistory(session).WaitScheduledAsync(found.Run, reporter, timeout.Token));
        }
        catch (OperationCanceledException) when (!timeout.IsCancellationRequested || CancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (OperationCanceledException)
        {
            run = found.Run;
        }
        catch (AwsServiceException ex)
        {
            WriteError(ErrorMapping.Record(ex, "AwsCallFailed", JobId));
            return;
        }
        if (timeout.IsCancellationRequested && !CancellationToken.IsCancellationRequested)
        {
            // Waiting stopped, the run did not: what it is doing now is read again rather than the wait's
            // view of it (which marked the step it was watching as stopped).
            var current = Locate(session, service)?.Run ?? run;
            WriteObject(current);
            var running = current.Steps.FirstOrDefault(s => s.Status == RlabsRunStatus.Running);
            WriteError(ErrorMapping.Record(
                new TimeoutException($"Wait-RlabsPipelineRun timed out after {Timeout} s; run {current.JobId} of {current.PipelineName} goes on in SageMaker ({current.Status}{(running is null ? string.Empty : $", step '{running.StepName}' running")})."),
                "RunWaitTimedOut", ErrorCategory.OperationTimeout, current));
            return;
        }
        WriteObject(run);
        RunReport.Write(this, run, JUnitPath);
    }
}
