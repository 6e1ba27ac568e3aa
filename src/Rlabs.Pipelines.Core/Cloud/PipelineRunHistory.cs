using System.Security.Cryptography;
using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// The recent executions of a project's SageMaker pipelines as runs, newest first: those a serverless schedule
/// started (no manifest exists for them: the run is what SageMaker recorded) and those of
/// <c>Invoke-RlabsPipeline -Engine SageMakerPipelines</c>. A scheduled pipeline's job id is its execution's id (its
/// definition takes the job id from <c>Execution.PipelineExecutionId</c>); an engine run's is the display name it
/// was started with.
/// </summary>
public sealed class PipelineRunHistory
{
    /// <summary>The engine name of the runs read here.</summary>
    public const string EngineName = "SageMakerPipelines";

    private const string ScheduledSuffix = "-scheduled";

    private readonly AwsSession _session;

    /// <summary>Creates the reader over an AWS session.</summary>
    public PipelineRunHistory(AwsSession session)
    {
        _session = session;
    }

    /// <summary>
    /// The <paramref name="last"/> newest executions of the project's pipelines (of the one pipeline named
    /// <paramref name="pipelineName"/> when given), each with its steps. Pipelines are found by name prefix (rlabs-&lt;project&gt;; SageMaker refuses a prefix ending in "-"), then
    /// kept by their <c>rlabs:project</c> tag: a prefix alone would mix project "a" with project "a-b".
    /// </summary>
    public async Task<IReadOnlyList<RlabsPipelineRun>> RecentAsync(string projectName, string? pipelineName, int last, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(last, 1);
        var sageMaker = new SageMakerClient(_session);
        var pipelines = await ProjectPipelinesAsync(sageMaker, projectName, pipelineName, cancellationToken).ConfigureAwait(false);

        var executions = new List<(PipelineExecutionSummary Execution, PipelineSummary Pipeline, string Name)>();
        foreach (var (summary, pipeline) in pipelines)
        {
            // Newest first, all pages until this pipeline gave its own `last`: no pipeline can contribute more.
            var taken = 0;
            await foreach (var execution in sageMaker.ListAllPipelineExecutionsAsync(
                new ListPipelineExecutionsRequest { PipelineName = summary.PipelineName, SortBy = "CreationTime", SortOrder = "Descending" },
                cancellationToken).ConfigureAwait(false))
            {
                executions.Add((execution, summary, pipeline));
                if (++taken >= last)
                {
                    break;
                }
            }
        }

        var runs = new List<RlabsPipelineRun>();
        foreach (var (execution, summary, pipeline) in executions.OrderByDescending(e => e.Execution.StartTime).Take(last))
        {
            runs.Add(await ToRunAsync(sageMaker, projectName, pipeline, summary, execution, cancellationToken).ConfigureAwait(false));
        }
        return runs;
    }

    /// <summary>
    /// A run a serverless schedule started, found by its job id (the execution's id): such a run has no manifest,
    /// its execution is what SageMaker recorded. Null when no scheduled pipeline of the project has that execution.
    /// </summary>
    public async Task<RlabsPipelineRun?> FindScheduledAsync(string projectName, string jobId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        var sageMaker = new SageMakerClient(_session);
        foreach (var (summary, pipeline) in await ProjectPipelinesAsync(sageMaker, projectName, null, cancellationToken).ConfigureAwait(false))
        {
            if (!summary.PipelineName.EndsWith(ScheduledSuffix, StringComparison.Ordinal))
            {
                continue;
            }
            DescribePipelineExecutionResponse execution;
            try
            {
                execution = await sageMaker.DescribePipelineExecutionAsync($"{summary.PipelineArn}/execution/{jobId}", cancellationToken).ConfigureAwait(false);
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.NotFound or AwsErrorKind.Validation)
            {
                continue;
            }
            var listed = new PipelineExecutionSummary
            {
                PipelineExecutionArn = execution.PipelineExecutionArn,
                PipelineExecutionStatus = execution.PipelineExecutionStatus,
                PipelineExecutionDisplayName = execution.PipelineExecutionDisplayName,
                PipelineExecutionFailureReason = execution.FailureReason,
                StartTime = execution.CreationTime,
            };
            return await ToRunAsync(sageMaker, projectName, pipeline, summary, listed, cancellationToken).ConfigureAwait(false);
        }
        return null;
    }

    /// <summary>
    /// Stops a scheduled run's execution (SageMaker stops its running jobs) and returns it read again; a run that
    /// already ended is returned as it is. A retried stop sends the same request token.
    /// </summary>
    public async Task<RlabsPipelineRun> StopScheduledAsync(RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        if (run.PipelineExecutionArn is not { Length: > 0 } arn || run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            reporter.Verbose($"Run {run.JobId} already ended ({run.Status}); nothing to stop.");
            return run;
        }
        var sageMaker = new SageMakerClient(_session);
        try
        {
            var token = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("rlabs\nstop-scheduled\n" + arn)))[..48];
            await sageMaker.StopPipelineExecutionAsync(arn, token, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Sent StopPipelineExecution for {arn}; SageMaker stops its running jobs.");
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.Validation or AwsErrorKind.NotFound)
        {
            reporter.Verbose($"Run {run.JobId} ended meanwhile ({ex.ErrorCode}); nothing to stop.");
        }
        return await FindScheduledAsync(run.ProjectName, run.JobId, cancellationToken).ConfigureAwait(false) ?? run;
    }

    /// <summary>
    /// Follows a scheduled run until its execution ends (DescribePipelineExecution every 1 s, growing to 5 s), then
    /// returns it read again with its steps. Cancelling stops the waiting, never the execution.
    /// </summary>
    public async Task<RlabsPipelineRun> WaitScheduledAsync(RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        if (run.PipelineExecutionArn is not { Length: > 0 } arn)
        {
            return run;
        }
        var sageMaker = new SageMakerClient(_session);
        var interval = _session.JobPollInterval;
        var delay = SageMakerStepRunner.ExecutionPoll(null, interval);
        string? last = null;
        while (true)
        {
            var execution = await sageMaker.DescribePipelineExecutionAsync(arn, cancellationToken).ConfigureAwait(false);
            if (execution.PipelineExecutionStatus != last)
            {
                reporter.Verbose($"Run {run.JobId} ({arn}): {execution.PipelineExecutionStatus}.");
                last = execution.PipelineExecutionStatus;
            }
            if (execution.IsTerminal)
            {
                break;
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = SageMakerStepRunner.ExecutionPoll(delay, interval);
        }
        return await FindScheduledAsync(run.ProjectName, run.JobId, cancellationToken).ConfigureAwait(false) ?? run;
    }

    private static async Task<List<(PipelineSummary Summary, string Pipeline)>> ProjectPipelinesAsync(SageMakerClient sageMaker, string projectName, string? pipelineName, CancellationToken cancellationToken)
    {
        var pipelines = new List<(PipelineSummary Summary, string Pipeline)>();
        string? token = null;
        do
        {
            var page = await sageMaker.ListPipelinesAsync(new ListPipelinesRequest { PipelineNamePrefix = $"rlabs-{projectName}".TrimEnd('-'), NextToken = token }, cancellationToken).ConfigureAwait(false);
            foreach (var summary in page.PipelineSummaries)
            {
                var tags = await sageMaker.ListTagsAsync(summary.PipelineArn, cancellationToken).ConfigureAwait(false);
                var pipeline = tags.FirstOrDefault(t => t.Key == ScheduleNaming.PipelineTag)?.Value ?? summary.PipelineName;
                if (tags.Any(t => t.Key == ScheduleNaming.ProjectTag && t.Value == projectName)
                    && (pipelineName is null || string.Equals(pipeline, pipelineName, StringComparison.OrdinalIgnoreCase)))
                {
                    pipelines.Add((summary, pipeline));
                }
            }
            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));

        return pipelines;
    }

    /// <summary>The job id of an execution: its id for a scheduled pipeline, else the display name it was started with.</summary>
    public static string JobIdOf(string sageMakerPipelineName, PipelineExecutionSummary execution)
    {
        ArgumentNullException.ThrowIfNull(execution);
        var id = execution.PipelineExecutionArn[(execution.PipelineExecutionArn.LastIndexOf('/') + 1)..];
        return sageMakerPipelineName.EndsWith(ScheduledSuffix, StringComparison.Ordinal) || string.IsNullOrEmpty(execution.PipelineExecutionDisplayName)
            ? id
            : execution.PipelineExecutionDisplayName;
    }

    /// <summary>SageMaker's execution or step status as a run status.</summary>
    public static RlabsRunStatus StatusOf(string status) => status switch
    {
        "Succeeded" => RlabsRunStatus.Completed,
        "Failed" => RlabsRunStatus.Failed,
        "Stopped" => RlabsRunStatus.Stopped,
        "Starting" => RlabsRunStatus.Pending,
        _ => RlabsRunStatus.Running,
    };

    private async Task<RlabsPipelineRun> ToRunAsync(SageMakerClient sageMaker, string projectName, string pipeline, PipelineSummary summary, PipelineExecutionSummary execution, CancellationToken cancellationToken)
    {
        var jobId = JobIdOf(summary.PipelineName, execution);
        var listed = await sageMaker.ListAllPipelineExecutionStepsAsync(execution.PipelineExecutionArn, "Ascending", cancellationToken).ConfigureAwait(false);
        var steps = listed.Select(s =>
        {
            var jobArn = s.Metadata?.ProcessingJob?.Arn;
            return new RlabsPipelineStepRun(jobId, s.StepName, jobArn is null ? string.Empty : jobArn[(jobArn.LastIndexOf('/') + 1)..], EngineName)
            {
                Status = s.CacheHitResult is not null ? RlabsRunStatus.Cached : StatusOf(s.StepStatus),
                StartTime = s.StartTime,
                EndTime = s.EndTime,
                FailureReason = s.FailureReason,
            };
        }).ToList();
        var status = StatusOf(execution.PipelineExecutionStatus);
        var ended = status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped;
        return new RlabsPipelineRun(jobId, pipeline, string.Empty, string.Empty, projectName, string.Empty, string.Empty, steps)
        {
            Region = _session.Region,
            Engine = EngineName,
            PipelineExecutionArn = execution.PipelineExecutionArn,
            Status = status,
            StartTime = execution.StartTime,
            EndTime = ended ? steps.Select(s => s.EndTime).Where(t => t is not null).DefaultIfEmpty(execution.StartTime).Max() : null,
        };
    }
}
