using System.Management.Automation;
using System.Text;

namespace Rlabs.Pipelines;

/// <summary>One non-terminating error per failed step, the same for Invoke- and Wait-RlabsPipelineRun.</summary>
internal static class RunErrors
{
    public static void WriteStepErrors(Cmdlet cmdlet, RlabsPipelineRun run)
    {
        foreach (var failed in run.Steps.Where(s => s.Status == RlabsRunStatus.Failed))
        {
            var message = new StringBuilder($"Step '{failed.StepName}' of pipeline '{run.PipelineName}' (job {run.JobId}) failed");
            message.Append(failed.ExitCode is { } code ? $" with exit code {code}" : string.Empty).Append(": ").Append(failed.FailureReason);
            if (failed.LogTail.Count > 0)
            {
                message.AppendLine().Append("Last log lines:");
                foreach (var line in failed.LogTail)
                {
                    message.AppendLine().Append("  ").Append(line);
                }
            }
            if (failed.LogPath is not null)
            {
                message.AppendLine().Append("Full log: ").Append(failed.LogPath);
            }
            var errorId = failed.Runtime == "SageMaker" ? "ProcessingJobFailed" : "StepFailed";
            cmdlet.WriteError(ErrorMapping.Record(new InvalidOperationException(message.ToString()), errorId, ErrorCategory.InvalidResult, failed));
        }
    }
}
