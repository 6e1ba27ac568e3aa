using System.Globalization;

namespace Rlabs.Pipelines.Running;

/// <summary>
/// Runs the steps of a run in order with any <see cref="IStepRunner"/>: statuses, timing, progress,
/// and the rule that a failed or stopped step ends the run with the later steps Skipped.
/// </summary>
public static class PipelineExecutor
{
    /// <summary>Runs every pending step of <paramref name="run"/>; returns the same run, finished.</summary>
    public static async Task<RlabsPipelineRun> RunAsync(RlabsPipelineRun run, IStepRunner runner, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var activity = $"Pipeline {run.PipelineName} (job {run.JobId})";
        var total = run.Steps.Count;
        run.Status = RlabsRunStatus.Running;
        run.StartTime ??= DateTimeOffset.Now;
        RlabsPipelineStepRun? stoppedAt = null;
        try
        {
            for (var index = 0; index < total; index++)
            {
                var stepRun = run.Steps[index];
                if (stepRun.Status != RlabsRunStatus.Pending)
                {
                    continue; // already completed, e.g. a resumed run
                }
                if (cancellationToken.IsCancellationRequested)
                {
                    stepRun.Status = RlabsRunStatus.Stopped;
                    stepRun.FailureReason = "Stopped before it started.";
                    stoppedAt = stepRun;
                    break;
                }
                var percent = (int)(100.0 * index / total);
                reporter.Progress(new RunProgress(activity, $"Step {index + 1}/{total}: {stepRun.StepName} ({stepRun.Runtime})", percent, stepRun.JobName, false));
                reporter.Verbose($"[{stepRun.StepName}] starting job {stepRun.JobName}");
                stepRun.Status = RlabsRunStatus.Running;
                stepRun.StartTime = DateTimeOffset.Now;
                reporter.StepStarted(stepRun);
                StepOutcome outcome;
                try
                {
                    outcome = await runner.RunStepAsync(index, stepRun, reporter, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    outcome = new StepOutcome(RlabsRunStatus.Stopped, "Stopped by the user.", []);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or RlabsConfigException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    outcome = new StepOutcome(RlabsRunStatus.Failed, ex.Message, []);
                }
                stepRun.EndTime = DateTimeOffset.Now;
                stepRun.Status = outcome.Status;
                stepRun.FailureReason = outcome.FailureReason;
                stepRun.LogTail = outcome.LogTail;
                reporter.StepEnded(stepRun);
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{stepRun.StepName}] {outcome.Status} in {stepRun.Duration?.TotalSeconds:0.00}s{(outcome.FailureReason is null ? string.Empty : ": " + outcome.FailureReason)}"));
                if (outcome.Status != RlabsRunStatus.Completed)
                {
                    stoppedAt = stepRun;
                    break;
                }
            }
        }
        finally
        {
            foreach (var later in run.Steps.Where(s => s.Status == RlabsRunStatus.Pending))
            {
                later.Status = RlabsRunStatus.Skipped;
                later.FailureReason = stoppedAt is null ? "Not run." : $"Not run because step '{stoppedAt.StepName}' {stoppedAt.Status.ToString().ToLowerInvariant()}.";
            }
            run.Status = stoppedAt?.Status switch
            {
                RlabsRunStatus.Stopped => RlabsRunStatus.Stopped,
                RlabsRunStatus.Failed => RlabsRunStatus.Failed,
                _ => run.Steps.All(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Completed : RlabsRunStatus.Failed,
            };
            run.EndTime = DateTimeOffset.Now;
            reporter.Progress(new RunProgress(activity, run.Status.ToString(), 100, null, true));
        }
        return run;
    }
}
