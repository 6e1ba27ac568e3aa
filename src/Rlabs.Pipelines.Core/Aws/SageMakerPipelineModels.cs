namespace Rlabs.Pipelines.Aws;

// Requests and answers of the SageMaker Pipelines calls, named as botocore's sagemaker model names them.
// Requests that carry an idempotency token are records so the client can fill a missing token without
// touching the caller's object.

public sealed class PipelineDefinitionS3Location
{
    public required string Bucket { get; init; }

    public required string ObjectKey { get; init; }

    public string? VersionId { get; init; }
}

public sealed class ParallelismConfiguration
{
    /// <summary>How many steps of one execution may run at once.</summary>
    public int MaxParallelExecutionSteps { get; init; }
}

public sealed record CreatePipelineRequest
{
    public required string PipelineName { get; init; }

    public string? PipelineDisplayName { get; init; }

    /// <summary>The definition JSON; or give <see cref="PipelineDefinitionS3Location"/>.</summary>
    public string? PipelineDefinition { get; init; }

    public PipelineDefinitionS3Location? PipelineDefinitionS3Location { get; init; }

    public string? PipelineDescription { get; init; }

    /// <summary>Makes a retried create harmless; a new one is generated when null, as the AWS SDKs do.</summary>
    public string? ClientRequestToken { get; init; }

    /// <summary>The role SageMaker Pipelines assumes to create the steps' jobs (trusts sagemaker.amazonaws.com).</summary>
    public required string RoleArn { get; init; }

    public IReadOnlyList<AwsTag>? Tags { get; init; }

    public ParallelismConfiguration? ParallelismConfiguration { get; init; }
}

public sealed class UpdatePipelineRequest
{
    public required string PipelineName { get; init; }

    public string? PipelineDisplayName { get; init; }

    public string? PipelineDefinition { get; init; }

    public PipelineDefinitionS3Location? PipelineDefinitionS3Location { get; init; }

    public string? PipelineDescription { get; init; }

    public string? RoleArn { get; init; }

    public ParallelismConfiguration? ParallelismConfiguration { get; init; }
}

/// <summary>The answer of CreatePipeline, UpdatePipeline and DeletePipeline.</summary>
public sealed class PipelineArnResponse
{
    public string PipelineArn { get; init; } = string.Empty;
}

public sealed class DescribePipelineResponse
{
    public string PipelineArn { get; init; } = string.Empty;

    public string PipelineName { get; init; } = string.Empty;

    public string? PipelineDisplayName { get; init; }

    public string? PipelineDefinition { get; init; }

    public string? PipelineDescription { get; init; }

    public string? RoleArn { get; init; }

    public string? PipelineStatus { get; init; }

    public DateTimeOffset? CreationTime { get; init; }

    public DateTimeOffset? LastModifiedTime { get; init; }

    public DateTimeOffset? LastRunTime { get; init; }

    public ParallelismConfiguration? ParallelismConfiguration { get; init; }
}

public sealed class ListPipelinesRequest
{
    public string? PipelineNamePrefix { get; init; }

    public DateTimeOffset? CreatedAfter { get; init; }

    public DateTimeOffset? CreatedBefore { get; init; }

    /// <summary><c>Name</c> or <c>CreationTime</c>.</summary>
    public string? SortBy { get; init; }

    /// <summary><c>Ascending</c> or <c>Descending</c>.</summary>
    public string? SortOrder { get; init; }

    public string? NextToken { get; init; }

    public int? MaxResults { get; init; }
}

public sealed class PipelineSummary
{
    public string PipelineArn { get; init; } = string.Empty;

    public string PipelineName { get; init; } = string.Empty;

    public string? PipelineDisplayName { get; init; }

    public string? PipelineDescription { get; init; }

    public string? RoleArn { get; init; }

    public DateTimeOffset? CreationTime { get; init; }

    public DateTimeOffset? LastModifiedTime { get; init; }

    public DateTimeOffset? LastExecutionTime { get; init; }
}

public sealed class ListPipelinesResponse
{
    public IReadOnlyList<PipelineSummary> PipelineSummaries { get; init; } = [];

    public string? NextToken { get; init; }
}

/// <summary>A pipeline parameter's value for one execution; SageMaker takes every value as a string.</summary>
public sealed class PipelineParameter
{
    public required string Name { get; init; }

    public required string Value { get; init; }
}

public sealed record StartPipelineExecutionRequest
{
    /// <summary>The pipeline's name or ARN.</summary>
    public required string PipelineName { get; init; }

    public string? PipelineExecutionDisplayName { get; init; }

    public IReadOnlyList<PipelineParameter>? PipelineParameters { get; init; }

    public string? PipelineExecutionDescription { get; init; }

    /// <summary>The same token starts the same execution once, however often the call is retried; generated when null.</summary>
    public string? ClientRequestToken { get; init; }

    public ParallelismConfiguration? ParallelismConfiguration { get; init; }

    /// <summary>Runs only the selected steps; the others' results come from the source execution.</summary>
    public SelectiveExecutionConfig? SelectiveExecutionConfig { get; init; }
}

/// <summary>A selective execution: the steps to run and the execution of the same pipeline the others' results come from.</summary>
public sealed record SelectiveExecutionConfig
{
    /// <summary>Required when a selected step depends on a step not selected; that execution must be Succeeded or Failed.</summary>
    public string? SourcePipelineExecutionArn { get; init; }

    /// <summary>1 to 50 steps; every step on a path between two selected steps must be selected too.</summary>
    public required IReadOnlyList<SelectedStep> SelectedSteps { get; init; }
}

public sealed record SelectedStep
{
    public required string StepName { get; init; }
}

/// <summary>The answer of StartPipelineExecution, StopPipelineExecution and RetryPipelineExecution.</summary>
public sealed class PipelineExecutionArnResponse
{
    public string PipelineExecutionArn { get; init; } = string.Empty;
}

public sealed class DescribePipelineExecutionResponse
{
    public string PipelineArn { get; init; } = string.Empty;

    public string PipelineExecutionArn { get; init; } = string.Empty;

    public string? PipelineExecutionDisplayName { get; init; }

    /// <summary><c>Executing</c>, <c>Stopping</c>, <c>Stopped</c>, <c>Failed</c> or <c>Succeeded</c>.</summary>
    public string PipelineExecutionStatus { get; init; } = string.Empty;

    public string? PipelineExecutionDescription { get; init; }

    public string? FailureReason { get; init; }

    public DateTimeOffset? CreationTime { get; init; }

    public DateTimeOffset? LastModifiedTime { get; init; }

    public ParallelismConfiguration? ParallelismConfiguration { get; init; }

    public SelectiveExecutionConfig? SelectiveExecutionConfig { get; init; }

    /// <summary>Whether the execution reached a status it leaves only through RetryPipelineExecution.</summary>
    public bool IsTerminal => PipelineExecutionStatus is "Succeeded" or "Failed" or "Stopped";
}

public sealed class ListPipelineExecutionsRequest
{
    /// <summary>The pipeline's name or ARN.</summary>
    public required string PipelineName { get; init; }

    public DateTimeOffset? CreatedAfter { get; init; }

    public DateTimeOffset? CreatedBefore { get; init; }

    /// <summary><c>CreationTime</c> or <c>PipelineExecutionArn</c>.</summary>
    public string? SortBy { get; init; }

    public string? SortOrder { get; init; }

    public string? NextToken { get; init; }

    public int? MaxResults { get; init; }
}

public sealed class PipelineExecutionSummary
{
    public string PipelineExecutionArn { get; init; } = string.Empty;

    public DateTimeOffset? StartTime { get; init; }

    public string PipelineExecutionStatus { get; init; } = string.Empty;

    public string? PipelineExecutionDescription { get; init; }

    public string? PipelineExecutionDisplayName { get; init; }

    public string? PipelineExecutionFailureReason { get; init; }
}

public sealed class ListPipelineExecutionsResponse
{
    public IReadOnlyList<PipelineExecutionSummary> PipelineExecutionSummaries { get; init; } = [];

    public string? NextToken { get; init; }
}

public sealed class ListPipelineExecutionStepsRequest
{
    public required string PipelineExecutionArn { get; init; }

    public string? NextToken { get; init; }

    public int? MaxResults { get; init; }

    /// <summary>By start time; SageMaker lists the newest first unless asked for <c>Ascending</c>.</summary>
    public string? SortOrder { get; init; }
}

public sealed class CacheHitResult
{
    /// <summary>The execution whose step run was reused.</summary>
    public string? SourcePipelineExecutionArn { get; init; }
}

public sealed class ProcessingJobStepMetadata
{
    public string? Arn { get; init; }
}

public sealed class PipelineExecutionStepMetadata
{
    public ProcessingJobStepMetadata? ProcessingJob { get; init; }
}

public sealed class PipelineExecutionStep
{
    public string StepName { get; init; } = string.Empty;

    public string? StepDisplayName { get; init; }

    public string? StepDescription { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    /// <summary><c>Starting</c>, <c>Executing</c>, <c>Stopping</c>, <c>Stopped</c>, <c>Failed</c> or <c>Succeeded</c>.</summary>
    public string StepStatus { get; init; } = string.Empty;

    /// <summary>Set when the step reused an earlier execution's run instead of running a job.</summary>
    public CacheHitResult? CacheHitResult { get; init; }

    public int? AttemptCount { get; init; }

    public string? FailureReason { get; init; }

    public PipelineExecutionStepMetadata? Metadata { get; init; }

    /// <summary>Set on a step a selective execution did not select: its result is the source execution's.</summary>
    public CacheHitResult? SelectiveExecutionResult { get; init; }

    /// <summary>The processing job the step ran (or, when cached, the earlier job it reused).</summary>
    public string? ProcessingJobArn => Metadata?.ProcessingJob?.Arn;

    public bool IsCacheHit => CacheHitResult?.SourcePipelineExecutionArn is not null;
}

public sealed class ListPipelineExecutionStepsResponse
{
    public IReadOnlyList<PipelineExecutionStep> PipelineExecutionSteps { get; init; } = [];

    public string? NextToken { get; init; }
}
