namespace Rlabs.Pipelines.Running;

/// <summary>How the core talks to whoever runs it (the cmdlet turns these into progress, verbose and warning records).</summary>
public interface IRunReporter
{
    /// <summary>Progress of the run; called from any thread.</summary>
    void Progress(RunProgress progress);

    /// <summary>A log line (step output, what the runner does); called from any thread.</summary>
    void Verbose(string message);

    /// <summary>Something the user should know; called from any thread.</summary>
    void Warning(string message);

    /// <summary>A step is about to run (CI hosts open a log group here).</summary>
    void StepStarted(RlabsPipelineStepRun stepRun)
    {
    }

    /// <summary>A line the step's code script printed; by default a verbose line prefixed with the step's name.</summary>
    void StepLine(string stepName, string line) => Verbose($"[{stepName}] {line}");

    /// <summary>A step ended with its final status (CI hosts close the log group here).</summary>
    void StepEnded(RlabsPipelineStepRun stepRun)
    {
    }
}

/// <summary>One progress update. <see cref="Completed"/> ends the bar.</summary>
/// <param name="Activity">What runs, e.g. the pipeline and job id.</param>
/// <param name="Status">The current step and its state.</param>
/// <param name="PercentComplete">0-100.</param>
/// <param name="CurrentOperation">Detail, e.g. the last log line.</param>
/// <param name="Completed">Whether the activity is over.</param>
public sealed record RunProgress(string Activity, string Status, int PercentComplete, string? CurrentOperation, bool Completed);

/// <summary>A reporter that drops everything (for callers that only want the result).</summary>
public sealed class NullRunReporter : IRunReporter
{
    /// <summary>The shared instance.</summary>
    public static readonly NullRunReporter Instance = new();

    /// <inheritdoc/>
    public void Progress(RunProgress progress)
    {
    }

    /// <inheritdoc/>
    public void Verbose(string message)
    {
    }

    /// <inheritdoc/>
    public void Warning(string message)
    {
    }
}
