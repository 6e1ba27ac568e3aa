using System.Globalization;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// Which steps an execution of SageMaker Pipelines runs, decided before it starts. SageMaker's own step cache
/// keys on a step's resolved arguments, and those hold the job id (data paths, <c>-j</c>), so a new job id never
/// hits it. The content-keyed cache of the client-driven engine (<see cref="StepCache"/>, the same keys and the
/// same index in the bucket) decides instead: a hit's output is copied under the new job id and the step is
/// left out of the execution (a selective execution of the rest, or none at all when every step hits). A step
/// outside -Step/-FromStep/-ToStep is left out the same way, its output taken from -ReferenceJobId's run.
/// </summary>
internal static class EngineStepSelection
{
    /// <summary>
    /// Marks the steps the execution will not run in the manifest (copying their outputs under this job id) and
    /// returns the indexes of those it must run. A step runs when its cache misses, when it has no cache, or when
    /// a step it depends on runs (its input, or what it waits for, is new), so the steps that run are closed
    /// under descendants, as SageMaker's "every step on a path between two selected steps" rule needs.
    /// </summary>
    public static async Task<List<int>> DecideAsync(RunPlan plan, CompiledPipelineDefinition compiled, CloudRunManifest manifest, IStepDataStore store, StepCache? cache, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var upstream = Upstream(compiled);
        var runs = new bool[plan.Steps.Count];
        if (plan.Request.Steps is { } slice)
        {
            var reference = plan.Request.ReferenceJobId;
            foreach (var step in plan.Steps)
            {
                runs[step.Index] = slice.Contains(step.Step.Name, StringComparer.OrdinalIgnoreCase);
                if (runs[step.Index])
                {
                    continue;
                }
                manifest.Steps[step.Index].CachedFrom = reference ?? plan.JobId;
                manifest.Steps[step.Index].CachedBecause = "reference";
                var needed = plan.Steps.Any(other => slice.Contains(other.Step.Name, StringComparer.OrdinalIgnoreCase) && plan.Graph.IsAncestor(step.Index, other.Index));
                if (reference is null || !needed)
                {
                    reporter.Verbose($"[{step.Step.Name}] outside the steps to run: not run{(needed ? $"; its output of job {plan.JobId} is used" : string.Empty)}.");
                    continue;
                }
                var from = StepContract.OutputKey(step.Step, reference);
                if (!await store.OutputExistsAsync(plan, from, cancellationToken).ConfigureAwait(false))
                {
                    throw new RlabsRunException($"Step '{step.Step.Name}' is outside the steps to run, but run {reference} has no output of it ({from}); run it too, or name a -ReferenceJobId whose run wrote it.",
                        "ReferenceOutputMissing", RlabsRunErrorKind.NotFound, from);
                }
                var count = await store.ReuseOutputAsync(plan, from, step.OutputKey, cancellationToken).ConfigureAwait(false);
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{step.Step.Name}] outside the steps to run: not run; its output is job {reference}'s ({count} object(s) copied to {step.OutputKey})."));
            }
        }
        else
        {
            Array.Fill(runs, true);
        }

        if (cache is not null)
        {
            foreach (var index in plan.Graph.TopologicalOrder())
            {
                var step = plan.Steps[index];
                if (!runs[index] || !cache.Applies(step))
                {
                    continue;
                }
                var blocker = upstream[index].Where(u => runs[u]).Select(u => plan.Steps[u].Step.Name).FirstOrDefault();
                if (blocker is not null)
                {
                    reporter.Verbose($"[{step.Step.Name}] runs: step '{blocker}', which it depends on, runs in this execution.");
                    continue;
                }
                var key = StepCache.Key(await cache.PartsAsync(step, cancellationToken).ConfigureAwait(false));
                var (entry, why) = await cache.LookupAsync(step, key, cancellationToken).ConfigureAwait(false);
                if (entry is null)
                {
                    reporter.Verbose($"[{step.Step.Name}] cache miss (key {key}): {why}");
                    continue;
                }
                var reused = await cache.ReuseAsync(step, entry, cancellationToken).ConfigureAwait(false);
                runs[index] = false;
                manifest.Steps[index].CachedFrom = entry.JobId;
                manifest.Steps[index].CachedBecause = "cache";
                reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{step.Step.Name}] Cached: the output of job {entry.JobId} ({reused} object(s), key {key}) is this run's; the execution does not run the step."));
            }
        }
        return Enumerable.Range(0, runs.Length).Where(i => runs[i]).ToList();
    }

    /// <summary>
    /// -WhatIf: what <see cref="DecideAsync"/> would decide, read-only. Per step: cached or run, and whether that is
    /// certain now (its key is known: no upstream step's output feeds it, or a step it depends on runs) or depends
    /// on upstream results (its input is a cached step's output, whose copy under this job id decides its key).
    /// <paramref name="indexUnknown"/> says why the cache index cannot be read now (the bucket is not known yet), or is null.
    /// </summary>
    public static async Task<List<string>> DescribeAsync(RunPlan plan, CompiledPipelineDefinition compiled, StepCache? cache, string? indexUnknown, CancellationToken cancellationToken)
    {
        var upstream = Upstream(compiled);
        var state = new Dictionary<int, string>();
        var lines = new List<string>();
        var slice = plan.Request.Steps;
        foreach (var index in plan.Graph.TopologicalOrder())
        {
            var step = plan.Steps[index];
            var name = step.Step.Name;
            if (slice is not null && !slice.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                state[index] = "outside";
                lines.Add($"Step '{name}': not run (outside the steps to run){(plan.Request.ReferenceJobId is { } reference ? $"; its output is job {reference}'s" : string.Empty)}");
                continue;
            }
            if (cache is null || !cache.Applies(step))
            {
                state[index] = "runs";
                lines.Add($"Step '{name}' runs (certain): {(plan.Request.NoCache ? "-NoCache" : "it has no cache:")}");
                continue;
            }
            var running = upstream[index].Where(u => state[u] == "runs").Select(u => plan.Steps[u].Step.Name).FirstOrDefault();
            if (running is not null)
            {
                state[index] = "runs";
                lines.Add($"Step '{name}' runs (certain): step '{running}', which it depends on, runs");
                continue;
            }
            var producer = step.InputProducer is { } p ? plan.Steps.First(s => s.Step.Name == p).Index : -1;
            var pending = upstream[index].Where(u => state[u] == "depends").Select(u => plan.Steps[u].Step.Name).FirstOrDefault();
            if (pending is not null || (producer >= 0 && state[producer] is ("cached" or "outside")))
            {
                state[index] = "depends";
                var changed = indexUnknown ?? await cache.ChangedSinceLastAsync(step, withInput: false, cancellationToken).ConfigureAwait(false);
                lines.Add(pending is not null
                    ? $"Step '{name}' depends on upstream results: cached only if step '{pending}' is and its key matches then, else it runs; {changed}"
                    : $"Step '{name}' depends on upstream results: its key is decided at the start, once the output of step '{plan.Steps[producer].Step.Name}' is copied under this job id; {changed}");
                continue;
            }
            if (indexUnknown is not null)
            {
                state[index] = "depends";
                lines.Add($"Step '{name}' cache: decided at the start ({indexUnknown})");
                continue;
            }
            try
            {
                var key = StepCache.Key(await cache.PartsAsync(step, cancellationToken).ConfigureAwait(false));
                var (entry, why) = await cache.LookupAsync(step, key, cancellationToken).ConfigureAwait(false);
                state[index] = entry is null ? "runs" : "cached";
                lines.Add(entry is null ? $"Step '{name}' runs (certain): cache miss: {why}" : $"Step '{name}' cached (certain): reuses the output of job {entry.JobId}; the execution does not run it");
            }
            catch (AwsServiceException ex)
            {
                state[index] = "depends";
                lines.Add($"Step '{name}' cache: decided at the start (the bucket's index could not be read now: {ex.ErrorCode})");
            }
        }
        return lines;
    }

    /// <summary>
    /// The execution the steps left out are taken from, as SelectiveExecutionConfig needs it when a selected step
    /// depends on one left out: -ReferenceJobId's execution when it ran on SageMaker Pipelines, else the newest
    /// Succeeded or Failed execution of the pipeline in which every such step succeeded. Null when no selected
    /// step depends on a step left out (then none is needed); Found is false when one is needed and none fits.
    /// </summary>
    public static async Task<(bool Found, string? Arn)> SourceAsync(CloudRunService service, CompiledPipelineDefinition compiled, IReadOnlyCollection<int> selected, string? referenceExecutionArn, CancellationToken cancellationToken)
    {
        var needed = NeededUpstream(compiled, selected);
        if (needed.Count == 0)
        {
            return (true, null);
        }
        var candidates = new List<string>();
        if (referenceExecutionArn is not null)
        {
            candidates.Add(referenceExecutionArn);
        }
        try
        {
            await foreach (var summary in service.SageMaker.ListAllPipelineExecutionsAsync(
                new ListPipelineExecutionsRequest { PipelineName = compiled.PipelineName, SortBy = "CreationTime", SortOrder = "Descending" }, cancellationToken).ConfigureAwait(false))
            {
                if (summary.PipelineExecutionStatus is "Succeeded" or "Failed")
                {
                    candidates.Add(summary.PipelineExecutionArn);
                }
                if (candidates.Count >= 20)
                {
                    break;
                }
            }
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            // A pipeline without executions.
        }
        foreach (var arn in candidates.Distinct(StringComparer.Ordinal))
        {
            var execution = await service.SageMaker.DescribePipelineExecutionAsync(arn, cancellationToken).ConfigureAwait(false);
            if (execution.PipelineExecutionStatus is not ("Succeeded" or "Failed"))
            {
                continue;
            }
            var steps = await service.SageMaker.ListAllPipelineExecutionStepsAsync(arn, "Ascending", cancellationToken).ConfigureAwait(false);
            var succeeded = steps.Where(s => s.StepStatus == "Succeeded").Select(s => s.StepName).ToHashSet(StringComparer.Ordinal);
            if (needed.All(succeeded.Contains))
            {
                return (true, arn);
            }
        }
        return (false, null);
    }

    /// <summary>
    /// What a -Resume of a changed definition runs: every step that did not succeed (in the source execution or as
    /// a step the run kept), and every step after one of those, so the selection is closed under descendants.
    /// </summary>
    public static List<int> ResumeSelection(CompiledPipelineDefinition compiled, IReadOnlySet<string> succeeded)
    {
        var upstream = Upstream(compiled);
        var runs = compiled.Steps.Select(s => !succeeded.Contains(s.DefinitionName)).ToArray();
        for (var changed = true; changed;)
        {
            changed = false;
            for (var index = 0; index < runs.Length; index++)
            {
                if (!runs[index] && upstream[index].Any(u => runs[u]))
                {
                    runs[index] = changed = true;
                }
            }
        }
        return Enumerable.Range(0, runs.Length).Where(i => runs[i]).ToList();
    }

    /// <summary>The steps left out that a selected step waits for: a selective execution takes their results from its source.</summary>
    public static List<string> NeededUpstream(CompiledPipelineDefinition compiled, IReadOnlyCollection<int> selected)
    {
        var upstream = Upstream(compiled);
        return selected.SelectMany(i => upstream[i]).Where(u => !selected.Contains(u)).Distinct().Select(u => compiled.Steps[u].DefinitionName).ToList();
    }

    /// <summary>The indexes each step waits for in the definition (its DependsOn).</summary>
    private static List<int>[] Upstream(CompiledPipelineDefinition compiled)
    {
        var byName = compiled.Steps.Select((s, i) => (s.DefinitionName, i)).ToDictionary(p => p.DefinitionName, p => p.i, StringComparer.Ordinal);
        return compiled.Steps.Select(s => s.DependsOn.Select(d => byName[d]).ToList()).ToArray();
    }
}
