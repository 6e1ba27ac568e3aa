using System.Globalization;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Running;

/// <summary>
/// Drives every run, whatever its runtime: plans it, applies the input rules, prepares, runs the steps in
/// order through <see cref="PipelineExecutor"/> and cleans up. A runtime only binds and runs single steps.
/// </summary>
public static class RunEngine
{
    /// <summary>Plans the request for <paramref name="runtime"/> and checks that the runtime can run it.</summary>
    public static RunPlan Plan(RunRequest request, IPipelineRuntime runtime)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var plan = RunPlanner.Plan(request, runtime.Region);
        runtime.Validate(plan);
        return plan;
    }

    /// <summary>The plan as -WhatIf shows it: the runtime's lines, then each step that would get an empty input folder.</summary>
    public static Task<IReadOnlyList<string>> DescribeAsync(RunPlan plan, IPipelineRuntime runtime, CancellationToken cancellationToken) =>
        DescribeAsync(plan, runtime, withCache: true, cancellationToken);

    /// <summary>The plan as -WhatIf shows it; <paramref name="withCache"/> adds the cache lookups (they hash files: only for a real -WhatIf).</summary>
    public static async Task<IReadOnlyList<string>> DescribeAsync(RunPlan plan, IPipelineRuntime runtime, bool withCache, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(runtime);
        var lines = runtime.Describe(plan).ToList();
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"Up to {plan.Parallelism} step(s) at once; a step starts when the steps it depends on completed"));
        foreach (var step in plan.Steps)
        {
            var order = step.DependsOn.Count == 0 ? "starts first" : "after " + string.Join(", ", step.DependsOn.Select(d => $"'{d}'"));
            var retry = step.Retry.Attempts <= 1
                ? string.Empty
                : string.Create(CultureInfo.InvariantCulture, $"; up to {step.Retry.Attempts} attempts on {string.Join(", ", step.Retry.On.Select(k => k.ToString().ToLowerInvariant()).Concat(step.Retry.ExitCodes.Select(c => $"exit code {c}")))}, backoff {step.Retry.Backoff.TotalSeconds:0.#}s");
            lines.Add($"Step '{step.Step.Name}' {order}{retry}");
        }
        if (withCache)
        {
            lines.AddRange(await DescribeCacheAsync(plan, runtime, cancellationToken).ConfigureAwait(false));
        }
        foreach (var step in FirstInputs(plan))
        {
            var exists = await runtime.InputExistsAsync(plan, step, dryRun: true, cancellationToken).ConfigureAwait(false);
            if (exists == false)
            {
                lines.Add($"Step '{step.Step.Name}': its input {runtime.InputLocation(plan, step)} does not exist and no earlier step writes it, so the step runs with an empty input folder");
            }
            else if (exists is null)
            {
                lines.Add($"Step '{step.Step.Name}': no earlier step writes its input {runtime.InputLocation(plan, step)}; when nothing is there, the step runs with an empty input folder");
            }
        }
        return lines;
    }

    /// <summary>-WhatIf's view of the cache: per step, hit or miss and which part of the key changed (locally; a cloud run looks it up at run time).</summary>
    private static async Task<List<string>> DescribeCacheAsync(RunPlan plan, IPipelineRuntime runtime, CancellationToken cancellationToken)
    {
        if (await runtime.DescribeSelectionAsync(plan, cancellationToken).ConfigureAwait(false) is { } selection)
        {
            return [.. selection];
        }
        var lines = new List<string>();
        var cached = plan.Steps.Where(s => s.Cache is not null).ToList();
        if (cached.Count == 0)
        {
            return lines;
        }
        if (plan.Request.NoCache)
        {
            lines.Add("-NoCache: every step runs; the cache is neither read nor written");
            return lines;
        }
        // The client-driven cloud engine decides hits as each step comes up.
        if (plan.Target == RunTarget.Cloud || CacheOf(plan, runtime) is not { } cache)
        {
            lines.Add($"Step cache ({string.Join(", ", cached.Select(s => $"'{s.Step.Name}'"))}): looked up at run time in the bucket's rlabs/{plan.Pipeline.ProjectName}/{StepCache.IndexFolder}/");
            return lines;
        }
        foreach (var step in cached)
        {
            if (step.InputProducer is { } producer)
            {
                var changed = await cache.ChangedSinceLastAsync(step, withInput: false, cancellationToken).ConfigureAwait(false);
                lines.Add($"Step '{step.Step.Name}' cache: decided once step '{producer}' has written its input; {changed}");
                continue;
            }
            var key = StepCache.Key(await cache.PartsAsync(step, cancellationToken).ConfigureAwait(false));
            var (entry, why) = await cache.LookupAsync(step, key, cancellationToken).ConfigureAwait(false);
            lines.Add(entry is null ? $"Step '{step.Step.Name}' cache miss: {why}" : $"Step '{step.Step.Name}' cache hit: reuses the output of job {entry.JobId}");
        }
        return lines;
    }

    /// <summary>Runs the plan to its end (or, for a cloud run with NoWait, starts it); returns the run.</summary>
    public static async Task<RlabsPipelineRun> RunAsync(RunPlan plan, IPipelineRuntime runtime, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(runtime);
        ArgumentNullException.ThrowIfNull(reporter);
        await ApplyEmptyInputsAsync(plan, runtime, reporter, cancellationToken).ConfigureAwait(false);
        RlabsPipelineRun? run = null;
        var leftRunning = false;
        try
        {
            run = await runtime.PrepareAsync(plan, reporter, cancellationToken).ConfigureAwait(false);
            for (var index = 0; index < run.Steps.Count && index < plan.Steps.Count; index++)
            {
                run.Steps[index].DependsOn = plan.Steps[index].DependsOn;
            }
            var recorder = RecorderOf(plan, runtime);
            if (!runtime.SelectsSteps)
            {
                await ApplySliceAndResumeAsync(plan, runtime, run, recorder, reporter, cancellationToken).ConfigureAwait(false);
            }
            if (plan.Request.Cloud.NoWait && await runtime.StartWithoutWaitingAsync(plan, run, reporter, cancellationToken).ConfigureAwait(false))
            {
                leftRunning = true; // later steps still need what cleanup would remove
                return run;
            }
            return await PipelineExecutor.RunAsync(run, new InputCheckingRunner(plan, runtime, CacheOf(plan, runtime), recorder), reporter, Options(plan), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (!leftRunning)
            {
                await runtime.CleanupAsync(plan, run).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The run's step cache: when a step has 'cache:' on, -NoCache is not given and the runtime keeps a data store.</summary>
    private static StepCache? CacheOf(RunPlan plan, IPipelineRuntime runtime) =>
        !plan.Request.NoCache && plan.Steps.Any(s => s.Cache is not null) && runtime.DataStore is { } store
            ? new StepCache(plan, store, runtime.SourceExclusions(plan))
            : null;

    /// <summary>
    /// The keys of a local run's steps are recorded as they complete (runs/&lt;job_id&gt;/&lt;step&gt; in the index), so a
    /// later -Resume keeps what still matches. Cloud runs resume from their jobs (CloudRunService).
    /// </summary>
    private static StepCache? RecorderOf(RunPlan plan, IPipelineRuntime runtime) =>
        plan.Target == RunTarget.Local && runtime.DataStore is { } store ? new StepCache(plan, store, runtime.SourceExclusions(plan)) : null;

    /// <summary>
    /// A partial run (-Step, -FromStep, -ToStep): the steps outside the slice do not run; those the slice needs get
    /// their outputs from -ReferenceJobId's run (hard links locally, server-side copies in S3). Then, for a local
    /// -Resume, the steps whose recorded key still matches (in dependency order) are kept.
    /// </summary>
    private static async Task ApplySliceAndResumeAsync(RunPlan plan, IPipelineRuntime runtime, RlabsPipelineRun run, StepCache? recorder, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var store = runtime.DataStore;
        if (plan.Request.Steps is { } slice)
        {
            var inSlice = plan.Steps.Select(s => slice.Contains(s.Step.Name, StringComparer.OrdinalIgnoreCase)).ToList();
            var reference = plan.Request.ReferenceJobId;
            foreach (var step in plan.Steps.Where(s => !inSlice[s.Index]))
            {
                var stepRun = run.Steps[step.Index];
                stepRun.Status = RlabsRunStatus.Completed;
                stepRun.CachedFrom = reference ?? plan.JobId;
                var needed = plan.Steps.Any(other => inSlice[other.Index] && plan.Graph.IsAncestor(step.Index, other.Index));
                if (reference is null || !needed || store is null)
                {
                    reporter.Verbose($"[{step.Step.Name}] outside the steps to run: not run{(needed ? $"; its output of job {stepRun.CachedFrom} is used" : string.Empty)}.");
                    continue;
                }
                var from = StepContract.OutputKey(step.Step, reference);
                if (!await store.OutputExistsAsync(plan, from, cancellationToken).ConfigureAwait(false))
                {
                    reporter.Warning($"Step '{step.Step.Name}' is outside the steps to run, but run {reference} has no output of it ({from}); the steps that read it will fail.");
                    continue;
                }
                var count = await store.ReuseOutputAsync(plan, from, step.OutputKey, cancellationToken).ConfigureAwait(false);
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{step.Step.Name}] outside the steps to run: not run; its output is job {reference}'s ({count} file(s) linked into {step.OutputKey})."));
            }
        }
        if (!plan.Request.Resume || recorder is null)
        {
            return;
        }
        var kept = new HashSet<int>();
        foreach (var index in plan.Graph.TopologicalOrder())
        {
            var step = plan.Steps[index];
            var stepRun = run.Steps[index];
            if (stepRun.Status != RlabsRunStatus.Pending)
            {
                kept.Add(index);
                continue;
            }
            var why = !step.Dependencies.All(kept.Contains)
                ? "a step it depends on runs again"
                : await recorder.ResumeMismatchAsync(step, cancellationToken).ConfigureAwait(false);
            if (why is not null)
            {
                reporter.Verbose($"-Resume: step '{step.Step.Name}' runs again: {why}.");
                continue;
            }
            kept.Add(index);
            stepRun.Status = RlabsRunStatus.Completed;
            reporter.Verbose($"-Resume: step '{step.Step.Name}' already completed in job {plan.JobId} with the same key; kept.");
        }
    }

    /// <summary>How the plan's steps are scheduled: its graph, its parallelism and each step's retry policy.</summary>
    public static ExecutionOptions Options(RunPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new ExecutionOptions
        {
            Dependencies = plan.Steps.Select(s => s.Dependencies).ToList(),
            Parallelism = plan.Parallelism,
            Retry = index => plan.Steps[index].Retry,
        };
    }

    /// <summary>
    /// The rule for a step whose input no earlier step writes (the first step of the seed's example, which
    /// reads from a warehouse): when the input does not exist, the step runs with an empty input folder and
    /// the user gets one warning. Decided here for every runtime, before anything is prepared.
    /// </summary>
    private static async Task ApplyEmptyInputsAsync(RunPlan plan, IPipelineRuntime runtime, IRunReporter reporter, CancellationToken cancellationToken)
    {
        foreach (var step in FirstInputs(plan))
        {
            if (await runtime.InputExistsAsync(plan, step, dryRun: false, cancellationToken).ConfigureAwait(false) == false)
            {
                step.InputEmpty = true;
                reporter.Warning($"Step '{step.Step.Name}': its input_data '{step.Step.InputData}' does not exist ({runtime.InputLocation(plan, step)}) and no earlier step of the run writes it; the step runs with an empty input folder.");
            }
        }
    }

    private static IEnumerable<StepPlan> FirstInputs(RunPlan plan) => plan.Steps.Where(s => s.InputKey is not null && s.InputProducer is null);

    /// <summary>
    /// Fails a step whose input an earlier step was to write but did not, with a message that says so,
    /// before the runtime tries (SageMaker would fail the job on an empty prefix with a vaguer reason).
    /// </summary>
    private sealed class InputCheckingRunner : IStepRunner
    {
        private readonly RunPlan _plan;
        private readonly IPipelineRuntime _runtime;
        private readonly StepCache? _cache;
        private readonly StepCache? _recorder;

        public InputCheckingRunner(RunPlan plan, IPipelineRuntime runtime, StepCache? cache, StepCache? recorder)
        {
            _plan = plan;
            _runtime = runtime;
            _cache = cache;
            _recorder = recorder;
        }

        public string RuntimeName => _runtime.StepRunner.RuntimeName;

        public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
        {
            var step = _plan.Steps[index];
            if (step.InputProducer is { } producer
                && await _runtime.InputExistsAsync(_plan, step, dryRun: false, cancellationToken).ConfigureAwait(false) == false)
            {
                return new StepOutcome(
                    RlabsRunStatus.Failed,
                    $"The input data '{step.Step.InputData}' was not found at {_runtime.InputLocation(_plan, step)}. Step '{producer}' writes its output there (output_path '{_plan.Steps.First(s => s.Step.Name == producer).Step.OutputPath}') but did not write it; check that step's code script.",
                    []);
            }
            SortedDictionary<string, string>? parts = null;
            if (_cache is not null && _cache.Applies(step))
            {
                parts = await _cache.PartsAsync(step, cancellationToken).ConfigureAwait(false);
                var key = StepCache.Key(parts);
                var (entry, why) = await _cache.LookupAsync(step, key, cancellationToken).ConfigureAwait(false);
                if (entry is not null)
                {
                    var reused = await _cache.ReuseAsync(step, entry, cancellationToken).ConfigureAwait(false);
                    stepRun.CachedFrom = entry.JobId;
                    reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{step.Step.Name}] Cached: the output of job {entry.JobId} ({reused} file(s), key {key}) is this run's; the step did not run."));
                    return StepOutcome.Completed;
                }
                reporter.Verbose($"[{step.Step.Name}] cache miss (key {key}): {why}");
            }
            if (parts is null && _recorder is not null)
            {
                parts = await _recorder.PartsAsync(step, cancellationToken).ConfigureAwait(false);
            }
            var outcome = await _runtime.StepRunner.RunStepAsync(index, stepRun, reporter, cancellationToken).ConfigureAwait(false);
            if (parts is not null && outcome.Status == RlabsRunStatus.Completed)
            {
                if (_cache is not null && _cache.Applies(step))
                {
                    await _cache.RecordAsync(step, parts, cancellationToken).ConfigureAwait(false);
                }
                if (_recorder is not null)
                {
                    try
                    {
                        await _recorder.RecordRunAsync(step, parts, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // The record only lets a later -Resume keep the step: the step itself completed.
                        reporter.Verbose($"[{step.Step.Name}] could not record its key for -Resume: {ex.Message}");
                    }
                }
            }
            return outcome;
        }

        public Task PrepareRetryAsync(int index, int attempt, RlabsPipelineStepRun stepRun, CancellationToken cancellationToken) =>
            _runtime.StepRunner.PrepareRetryAsync(index, attempt, stepRun, cancellationToken);
    }
}
