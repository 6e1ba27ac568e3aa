namespace Rlabs.Pipelines.Running;

/// <summary>Runs one step of a planned run. Local process, container and SageMaker runners implement it.</summary>
public interface IStepRunner
{
    /// <summary>Process, Container or SageMaker: shown in the run object.</summary>
    string RuntimeName { get; }

    /// <summary>
    /// Runs step <paramref name="index"/>, updating <paramref name="stepRun"/> (command, paths, exit code).
    /// Cancellation stops what the step started before the task ends.
    /// </summary>
    Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken);

    /// <summary>
    /// Readies step <paramref name="index"/> for attempt <paramref name="attempt"/> (2 for the first retry) after a
    /// failed one; a SageMaker job needs a new name. Nothing to do by default.
    /// </summary>
    Task PrepareRetryAsync(int index, int attempt, RlabsPipelineStepRun stepRun, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>How a step ended.</summary>
/// <param name="Status">Completed, Failed or Stopped.</param>
/// <param name="FailureReason">Why it did not complete.</param>
/// <param name="LogTail">The last lines of its log, for error messages.</param>
public sealed record StepOutcome(RlabsRunStatus Status, string? FailureReason, IReadOnlyList<string> LogTail)
{
    /// <summary>Why a failed step failed: its script (the default), or the world it ran in; decides a retry.</summary>
    public RlabsFailureKind Kind { get; init; } = RlabsFailureKind.Script;

    /// <summary>A completed step.</summary>
    public static StepOutcome Completed { get; } = new(RlabsRunStatus.Completed, null, []);
}
