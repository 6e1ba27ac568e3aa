using Rlabs.Pipelines.Aws;
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
