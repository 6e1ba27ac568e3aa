using System.Globalization;

namespace Rlabs.Pipelines.Running;

/// <summary>How <see cref="PipelineExecutor"/> schedules a run's steps.</summary>
public sealed class ExecutionOptions
{
    /// <summary>One step at a time, each after the one above it, no retry: the seed's order.</summary>
    public static ExecutionOptions Sequential { get; } = new();

    /// <summary>For each step (by index), the steps it waits for; null: each waits for the one above it.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? Dependencies { get; init; }

    /// <summary>The most steps in flight at once.</summary>
    public int Parallelism { get; init; } = 1;

    /// <summary>Each step's retry policy (by index); null: one attempt.</summary>
    public Func<int, RlabsRetryPolicy>? Retry { get; init; }
}

/// <summary>
/// Runs the steps of a run with any <see cref="IStepRunner"/>: a step starts once every step it depends on
/// completed, up to <see cref="ExecutionOptions.Parallelism"/> at once; a failed attempt is retried as its
/// policy says; a failed step's descendants are Skipped while independent steps go on; Ctrl-C stops what runs
/// and starts nothing more. Statuses, timing and progress are kept here, the same for every runtime.
/// </summary>
public static class PipelineExecutor
{
    /// <summary>Runs every pending step of <paramref name="run"/> in order, one at a time; returns the same run, finished.</summary>
    public static Task<RlabsPipelineRun> RunAsync(RlabsPipelineRun run, IStepRunner runner, IRunReporter reporter, CancellationToken cancellationToken) =>
        RunAsync(run, runner, reporter, ExecutionOptions.Sequential, cancellationToken);

    /// <summary>Runs every pending step of <paramref name="run"/> as <paramref name="options"/> say; returns the same run, finished.</summary>
    public static async Task<RlabsPipelineRun> RunAsync(RlabsPipelineRun run, IStepRunner runner, IRunReporter reporter, ExecutionOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(reporter);
        ArgumentNullException.ThrowIfNull(options);
        var activity = $"Pipeline {run.PipelineName} (job {run.JobId})";
        var total = run.Steps.Count;
        var dependencies = options.Dependencies ?? Enumerable.Range(0, total).Select(i => (IReadOnlyList<int>)(i == 0 ? [] : [i - 1])).ToList();
        var parallelism = Math.Max(1, options.Parallelism);
        run.Status = RlabsRunStatus.Running;
        run.StartTime ??= DateTimeOffset.Now;
        var running = new Dictionary<Task<StepOutcome>, int>();
        // Runners get this token: an unexpected error in one step stops the others before it propagates.
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stopping = false;
        try
        {
            while (true)
            {
                stopping |= cancellationToken.IsCancellationRequested;
                SkipBlocked(run, dependencies);
                if (!stopping)
                {
                    for (var index = 0; index < total && running.Count < parallelism; index++)
                    {
                        var stepRun = run.Steps[index];
                        if (stepRun.Status == RlabsRunStatus.Pending && dependencies[index].All(d => run.Steps[d].Status == RlabsRunStatus.Completed))
                        {
                            stepRun.Status = RlabsRunStatus.Running;
                            stepRun.StartTime = DateTimeOffset.Now;
                            reporter.Verbose($"[{stepRun.StepName}] starting job {stepRun.JobName}");
                            reporter.StepStarted(stepRun);
                            var policy = options.Retry?.Invoke(index) ?? RlabsRetryPolicy.None;
                            running.Add(RunAttemptsAsync(index, stepRun, policy, runner, reporter, abort.Token), index);
                        }
                    }
                }
                if (running.Count == 0)
                {
                    break;
                }
                ReportProgress(run, reporter, activity);
                var done = await Task.WhenAny(running.Keys).ConfigureAwait(false);
                var finished = run.Steps[running[done]];
                running.Remove(done);
                var outcome = await done.ConfigureAwait(false);
                finished.EndTime = DateTimeOffset.Now;
                finished.Status = outcome.Status;
                finished.FailureReason = outcome.FailureReason;
                finished.LogTail = outcome.LogTail;
                reporter.StepEnded(finished);
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{finished.StepName}] {outcome.Status} in {finished.Duration?.TotalSeconds:0.00}s{(finished.Attempts.Count > 1 ? $" after {finished.Attempts.Count} attempts" : string.Empty)}{(outcome.FailureReason is null ? string.Empty : ": " + outcome.FailureReason)}"));
                stopping |= outcome.Status == RlabsRunStatus.Stopped;
            }
        }
        catch
        {
            // A runner threw what it should have turned into an outcome: stop the other steps before the error goes up.
            await abort.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(running.Keys).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The first error is the one reported.
            }
            throw;
        }
        finally
        {
            var cause = run.Steps.FirstOrDefault(s => s.Status == RlabsRunStatus.Stopped) ?? run.Steps.FirstOrDefault(s => s.Status == RlabsRunStatus.Failed);
            foreach (var later in run.Steps.Where(s => s.Status is RlabsRunStatus.Pending or RlabsRunStatus.Running))
            {
                later.Status = cancellationToken.IsCancellationRequested && later.Status == RlabsRunStatus.Pending && cause is null ? RlabsRunStatus.Stopped : RlabsRunStatus.Skipped;
                later.FailureReason = later.Status == RlabsRunStatus.Stopped ? "Stopped before it started." : cause is null ? "Not run." : $"Not run because step '{cause.StepName}' {cause.Status.ToString().ToLowerInvariant()}.";
            }
            run.Status = run.Steps.Any(s => s.Status == RlabsRunStatus.Stopped) ? RlabsRunStatus.Stopped
                : run.Steps.All(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Completed
                : RlabsRunStatus.Failed;
            run.EndTime = DateTimeOffset.Now;
            reporter.Progress(new RunProgress(activity, run.Status.ToString(), 100, null, true));
        }
        return run;
    }

    /// <summary>Marks Skipped every pending step that waits for a step that failed, stopped or was skipped (transitively).</summary>
    private static void SkipBlocked(RlabsPipelineRun run, IReadOnlyList<IReadOnlyList<int>> dependencies)
    {
        bool changed;
        do
        {
            changed = false;
            for (var index = 0; index < run.Steps.Count; index++)
            {
                var stepRun = run.Steps[index];
                if (stepRun.Status != RlabsRunStatus.Pending)
                {
                    continue;
                }
                var blocker = dependencies[index].Select(d => run.Steps[d]).FirstOrDefault(d => d.Status is RlabsRunStatus.Failed or RlabsRunStatus.Stopped or RlabsRunStatus.Skipped);
                if (blocker is not null)
                {
                    stepRun.Status = RlabsRunStatus.Skipped;
                    stepRun.FailureReason = $"Not run because step '{blocker.StepName}' {blocker.Status.ToString().ToLowerInvariant()}.";
                    changed = true;
                }
            }
        }
        while (changed);
    }

    private static void ReportProgress(RlabsPipelineRun run, IRunReporter reporter, string activity)
    {
        var total = run.Steps.Count;
        var done = run.Steps.Count(s => s.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Skipped or RlabsRunStatus.Stopped);
        var active = run.Steps.Where(s => s.Status == RlabsRunStatus.Running).ToList();
        var status = string.Create(CultureInfo.InvariantCulture, $"{done}/{total} steps done; running: {string.Join(", ", active.Select(s => $"{s.StepName} ({s.Runtime})"))}");
        reporter.Progress(new RunProgress(activity, status, (int)(100.0 * done / Math.Max(1, total)), string.Join(", ", active.Select(s => s.JobName)), false));
    }

    /// <summary>Runs the step's attempts: again after a failure its policy retries, each attempt kept in the step run.</summary>
    private static async Task<StepOutcome> RunAttemptsAsync(int index, RlabsPipelineStepRun stepRun, RlabsRetryPolicy policy, IStepRunner runner, IRunReporter reporter, CancellationToken cancellationToken)
    {
        await Task.Yield(); // steps start side by side, never inline in the scheduler
        for (var number = 1; ; number++)
        {
            if (number > 1)
            {
                var wait = policy.BackoffBefore(number);
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{stepRun.StepName}] attempt {number - 1} failed ({stepRun.Attempts[^1].FailureKind}); attempt {number} of {policy.Attempts} in {wait.TotalSeconds:0.#}s"));
                try
                {
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                    await runner.PrepareRetryAsync(index, number, stepRun, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return new StepOutcome(RlabsRunStatus.Stopped, "Stopped by the user before the next attempt.", []);
                }
            }
            stepRun.ExitCode = null;
            var attempt = new RlabsPipelineStepAttempt(number, stepRun.JobName, DateTimeOffset.Now);
            stepRun.AddAttempt(attempt);
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
                outcome = new StepOutcome(RlabsRunStatus.Failed, ex.Message, []) { Kind = RlabsFailureKind.Internal };
            }
            attempt.EndTime = DateTimeOffset.Now;
            attempt.Status = outcome.Status;
            attempt.FailureReason = outcome.FailureReason;
            attempt.ExitCode = stepRun.ExitCode;
            attempt.FailureKind = outcome.Status == RlabsRunStatus.Failed ? outcome.Kind : null;
            if (outcome.Status != RlabsRunStatus.Failed || number >= policy.Attempts || !policy.Retries(outcome.Kind, stepRun.ExitCode) || cancellationToken.IsCancellationRequested)
            {
                return outcome;
            }
        }
    }
}
