using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Running;

/// <summary>
/// A world steps run in (Python processes, local containers, SageMaker Processing jobs). It binds the
/// runtime-neutral <see cref="RunPlan"/> to that world (host paths, mounts, job requests) and runs the
/// steps through <see cref="RunEngine"/>; the rules about plans live in the planner and the engine, once.
/// </summary>
public interface IPipelineRuntime : IDisposable
{
    /// <summary>Process, Container, Auto or SageMaker.</summary>
    string Name { get; }

    /// <summary>The region the default image is resolved for; null when unknown (a local run without one).</summary>
    string? Region { get; }

    /// <summary>Checks that the runtime can run the plan at all (an interpreter, images, a role); throws <see cref="RlabsRunException"/> when not.</summary>
    void Validate(RunPlan plan);

    /// <summary>Human-readable plan, one line per fact, for -WhatIf; touches nothing outside a private work folder.</summary>
    IEnumerable<string> Describe(RunPlan plan);

    /// <summary>Where the step's input lives in this runtime (a folder, a file, an s3:// URI), for messages.</summary>
    string InputLocation(RunPlan plan, StepPlan stepPlan);

    /// <summary>
    /// Whether the step's input exists now. With <paramref name="dryRun"/> (-WhatIf) the runtime answers only
    /// if it can without calling anything that costs or changes (null: unknown).
    /// </summary>
    Task<bool?> InputExistsAsync(RunPlan plan, StepPlan stepPlan, bool dryRun, CancellationToken cancellationToken);

    /// <summary>Everything before the first step (source zip, credentials, uploads); returns the run, its steps Pending (or done, for a resumed run).</summary>
    Task<RlabsPipelineRun> PrepareAsync(RunPlan plan, IRunReporter reporter, CancellationToken cancellationToken);

    /// <summary>The step runner for the prepared run.</summary>
    IStepRunner StepRunner { get; }

    /// <summary>Starts the next pending step and returns without waiting (cloud runs with NoWait); false when the runtime always waits.</summary>
    Task<bool> StartWithoutWaitingAsync(RunPlan plan, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken);

    /// <summary>The runtime's data as the step cache and resume need it; null when the runtime cannot serve them.</summary>
    IStepDataStore? DataStore => null;

    /// <summary>
    /// Whether the runtime itself decides, before anything runs, which steps run (cache hits, -Step/-FromStep/-ToStep),
    /// as SageMaker Pipelines must before it starts an execution; <see cref="RunEngine"/> then leaves that to it.
    /// </summary>
    bool SelectsSteps => false;

    /// <summary>
    /// -WhatIf's view of which steps will run, for a runtime that <see cref="SelectsSteps"/>: per step, cached or run,
    /// and whether that is certain now or depends on upstream results; null for the generic cache view.
    /// </summary>
    Task<IReadOnlyList<string>?> DescribeSelectionAsync(RunPlan plan, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>?>(null);

    /// <summary>Paths left out of the source hash of the cache key, as they are left out of the source zip (work folder, data root, credentials file).</summary>
    IReadOnlyList<string> SourceExclusions(RunPlan plan) => [];

    /// <summary>After the run (or its failure, even in preparation, when <paramref name="run"/> is null): removes what must not linger, such as the credentials copy. Not called for a run left running.</summary>
    Task CleanupAsync(RunPlan plan, RlabsPipelineRun? run);
}
