using System.Management.Automation;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;

namespace Rlabs.Pipelines.Commands;

/// <summary>Wait-RlabsPipelineRun: waits for a cloud run to end, starting its remaining steps in order.</summary>
[Cmdlet(VerbsLifecycle.Wait, "RlabsPipelineRun")]
[OutputType(typeof(RlabsPipelineRun))]
public sealed class WaitRlabsPipelineRunCommand : RlabsRunCmdlet
{
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
        RlabsPipelineRun run;
        try
        {
            run = reporter.Drain(this, () => service.WaitAsync(found.Manifest, found.Run, reporter, CancellationToken));
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (AwsServiceException ex)
        {
            WriteError(ErrorMapping.Record(ex, "AwsCallFailed", JobId));
            return;
        }
        WriteObject(run);
        RunErrors.WriteStepErrors(this, run);
    }
}
