namespace Rlabs.Pipelines.Aws;

#pragma warning disable CA1056 // AWS names these members S3Uri and they carry s3:// strings, not System.Uri.

public sealed class ProcessingS3Input
{
    public required string S3Uri { get; init; }

    public required string LocalPath { get; init; }

    /// <summary><c>S3Prefix</c> or <c>ManifestFile</c>.</summary>
    public string S3DataType { get; init; } = "S3Prefix";

    /// <summary><c>File</c> or <c>Pipe</c>.</summary>
    public string S3InputMode { get; init; } = "File";

    public string? S3DataDistributionType { get; init; }

    public string? S3CompressionType { get; init; }
}

public sealed class ProcessingInput
{
    public required string InputName { get; init; }

    public bool? AppManaged { get; init; }

    public ProcessingS3Input? S3Input { get; init; }
}

public sealed class ProcessingS3Output
{
    public required string S3Uri { get; init; }

    public required string LocalPath { get; init; }

    /// <summary><c>Continuous</c> or <c>EndOfJob</c>.</summary>
    public string S3UploadMode { get; init; } = "EndOfJob";
}

public sealed class ProcessingOutput
{
    public required string OutputName { get; init; }

    public ProcessingS3Output? S3Output { get; init; }

    public bool? AppManaged { get; init; }
}

public sealed class ProcessingOutputConfig
{
    public required IReadOnlyList<ProcessingOutput> Outputs { get; init; }

    public string? KmsKeyId { get; init; }
}

public sealed class ProcessingClusterConfig
{
    public int InstanceCount { get; init; } = 1;

    public required string InstanceType { get; init; }

    public int VolumeSizeInGB { get; init; } = 30;

    public string? VolumeKmsKeyId { get; init; }
}

public sealed class ProcessingResources
{
    public required ProcessingClusterConfig ClusterConfig { get; init; }
}

public sealed class ProcessingStoppingCondition
{
    public int MaxRuntimeInSeconds { get; init; }
}

public sealed class AppSpecification
{
    public required string ImageUri { get; init; }

    public IReadOnlyList<string>? ContainerEntrypoint { get; init; }

    public IReadOnlyList<string>? ContainerArguments { get; init; }
}

public sealed class AwsTag
{
    public required string Key { get; init; }

    public required string Value { get; init; }
}

public sealed class CreateProcessingJobRequest
{
    public required string ProcessingJobName { get; init; }

    public IReadOnlyList<ProcessingInput>? ProcessingInputs { get; init; }

    public ProcessingOutputConfig? ProcessingOutputConfig { get; init; }

    public required ProcessingResources ProcessingResources { get; init; }

    public ProcessingStoppingCondition? StoppingCondition { get; init; }

    public required AppSpecification AppSpecification { get; init; }

    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    public required string RoleArn { get; init; }

    public IReadOnlyList<AwsTag>? Tags { get; init; }

    public NetworkConfig? NetworkConfig { get; init; }
}

public sealed class NetworkConfig
{
    public bool? EnableNetworkIsolation { get; init; }

    public bool? EnableInterContainerTrafficEncryption { get; init; }

    public VpcConfig? VpcConfig { get; init; }
}

public sealed class VpcConfig
{
    public required IReadOnlyList<string> SecurityGroupIds { get; init; }

    public required IReadOnlyList<string> Subnets { get; init; }
}

public sealed class CreateProcessingJobResponse
{
    public string ProcessingJobArn { get; init; } = string.Empty;
}

public sealed class DescribeProcessingJobResponse
{
    public string ProcessingJobName { get; init; } = string.Empty;

    public string ProcessingJobArn { get; init; } = string.Empty;

    /// <summary><c>InProgress</c>, <c>Completed</c>, <c>Failed</c>, <c>Stopping</c> or <c>Stopped</c>.</summary>
    public string ProcessingJobStatus { get; init; } = string.Empty;

    public string? ExitMessage { get; init; }

    public string? FailureReason { get; init; }

    public DateTimeOffset? CreationTime { get; init; }

    public DateTimeOffset? ProcessingStartTime { get; init; }

    public DateTimeOffset? ProcessingEndTime { get; init; }

    public DateTimeOffset? LastModifiedTime { get; init; }

    public IReadOnlyList<ProcessingInput>? ProcessingInputs { get; init; }

    public ProcessingOutputConfig? ProcessingOutputConfig { get; init; }

    public ProcessingResources? ProcessingResources { get; init; }

    public ProcessingStoppingCondition? StoppingCondition { get; init; }

    public AppSpecification? AppSpecification { get; init; }

    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    public string? RoleArn { get; init; }

    public NetworkConfig? NetworkConfig { get; init; }

    /// <summary>Whether the job reached a status it never leaves.</summary>
    public bool IsTerminal => ProcessingJobStatus is "Completed" or "Failed" or "Stopped";
}

public sealed class ListProcessingJobsRequest
{
    public DateTimeOffset? CreationTimeAfter { get; init; }

    public DateTimeOffset? CreationTimeBefore { get; init; }

    public string? NameContains { get; init; }

    public string? StatusEquals { get; init; }

    /// <summary><c>Name</c> or <c>CreationTime</c>.</summary>
    public string? SortBy { get; init; }

    /// <summary><c>Ascending</c> or <c>Descending</c>.</summary>
    public string? SortOrder { get; init; }

    public string? NextToken { get; init; }

    public int? MaxResults { get; init; }
}

public sealed class ProcessingJobSummary
{
    public string ProcessingJobName { get; init; } = string.Empty;

    public string ProcessingJobArn { get; init; } = string.Empty;

    public DateTimeOffset? CreationTime { get; init; }

    public DateTimeOffset? ProcessingEndTime { get; init; }

    public DateTimeOffset? LastModifiedTime { get; init; }

    public string ProcessingJobStatus { get; init; } = string.Empty;

    public string? FailureReason { get; init; }

    public string? ExitMessage { get; init; }
}

public sealed class ListProcessingJobsResponse
{
    public IReadOnlyList<ProcessingJobSummary> ProcessingJobSummaries { get; init; } = [];

    public string? NextToken { get; init; }
}

/// <summary>The SageMaker Processing and SageMaker Pipelines calls of a cloud run (JSON 1.1, target prefix <c>SageMaker</c>).</summary>
public sealed class SageMakerClient
{
    private readonly AwsJsonProtocolClient _client;

    public SageMakerClient(AwsSession session)
    {
        _client = new AwsJsonProtocolClient(session, AwsService.SageMaker, "SageMaker", "SageMaker");
    }

    public Task<CreateProcessingJobResponse> CreateProcessingJobAsync(CreateProcessingJobRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<CreateProcessingJobRequest, CreateProcessingJobResponse>("CreateProcessingJob", request, cancellationToken);

    public Task<DescribeProcessingJobResponse> DescribeProcessingJobAsync(string processingJobName, CancellationToken cancellationToken) =>
        _client.InvokeAsync<NameRequest, DescribeProcessingJobResponse>("DescribeProcessingJob", new NameRequest(processingJobName), cancellationToken);

    public async Task StopProcessingJobAsync(string processingJobName, CancellationToken cancellationToken) =>
        await _client.InvokeAsync<NameRequest, EmptyResponse>("StopProcessingJob", new NameRequest(processingJobName), cancellationToken).ConfigureAwait(false);

    public Task<ListProcessingJobsResponse> ListProcessingJobsAsync(ListProcessingJobsRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ListProcessingJobsRequest, ListProcessingJobsResponse>("ListProcessingJobs", request, cancellationToken);

    /// <summary>Every page of <see cref="ListProcessingJobsAsync"/>, following NextToken.</summary>
    public async IAsyncEnumerable<ProcessingJobSummary> ListAllProcessingJobsAsync(
        ListProcessingJobsRequest request,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? token = null;
        do
        {
            var page = await ListProcessingJobsAsync(new ListProcessingJobsRequest
            {
                CreationTimeAfter = request.CreationTimeAfter,
                CreationTimeBefore = request.CreationTimeBefore,
                NameContains = request.NameContains,
                StatusEquals = request.StatusEquals,
                SortBy = request.SortBy,
                SortOrder = request.SortOrder,
                MaxResults = request.MaxResults,
                NextToken = token,
            }, cancellationToken).ConfigureAwait(false);
            foreach (var summary in page.ProcessingJobSummaries)
            {
                yield return summary;
            }

            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));
    }

    public Task<PipelineArnResponse> CreatePipelineAsync(CreatePipelineRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _client.InvokeAsync<CreatePipelineRequest, PipelineArnResponse>(
            "CreatePipeline", request with { ClientRequestToken = request.ClientRequestToken ?? NewToken() }, cancellationToken);
    }

    public Task<PipelineArnResponse> UpdatePipelineAsync(UpdatePipelineRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<UpdatePipelineRequest, PipelineArnResponse>("UpdatePipeline", request, cancellationToken);

    /// <param name="pipelineName">The pipeline's name or ARN.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<DescribePipelineResponse> DescribePipelineAsync(string pipelineName, CancellationToken cancellationToken) =>
        _client.InvokeAsync<PipelineNameRequest, DescribePipelineResponse>("DescribePipeline", new PipelineNameRequest(pipelineName), cancellationToken);

    public Task<PipelineArnResponse> DeletePipelineAsync(string pipelineName, string? clientRequestToken, CancellationToken cancellationToken) =>
        _client.InvokeAsync<DeletePipelineRequest, PipelineArnResponse>(
            "DeletePipeline", new DeletePipelineRequest(pipelineName, clientRequestToken ?? NewToken()), cancellationToken);

    public Task<ListPipelinesResponse> ListPipelinesAsync(ListPipelinesRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ListPipelinesRequest, ListPipelinesResponse>("ListPipelines", request, cancellationToken);

    /// <summary>Starts an execution; the same <see cref="StartPipelineExecutionRequest.ClientRequestToken"/> never starts a second one.</summary>
    public Task<PipelineExecutionArnResponse> StartPipelineExecutionAsync(StartPipelineExecutionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _client.InvokeAsync<StartPipelineExecutionRequest, PipelineExecutionArnResponse>(
            "StartPipelineExecution", request with { ClientRequestToken = request.ClientRequestToken ?? NewToken() }, cancellationToken);
    }

    public Task<DescribePipelineExecutionResponse> DescribePipelineExecutionAsync(string pipelineExecutionArn, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ExecutionArnRequest, DescribePipelineExecutionResponse>(
            "DescribePipelineExecution", new ExecutionArnRequest(pipelineExecutionArn), cancellationToken);

    public Task<ListPipelineExecutionsResponse> ListPipelineExecutionsAsync(ListPipelineExecutionsRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ListPipelineExecutionsRequest, ListPipelineExecutionsResponse>("ListPipelineExecutions", request, cancellationToken);

    /// <summary>Every page of <see cref="ListPipelineExecutionsAsync"/>, following NextToken.</summary>
    public async IAsyncEnumerable<PipelineExecutionSummary> ListAllPipelineExecutionsAsync(
        ListPipelineExecutionsRequest request,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? token = null;
        do
        {
            var page = await ListPipelineExecutionsAsync(new ListPipelineExecutionsRequest
            {
                PipelineName = request.PipelineName,
                CreatedAfter = request.CreatedAfter,
                CreatedBefore = request.CreatedBefore,
                SortBy = request.SortBy,
                SortOrder = request.SortOrder,
                MaxResults = request.MaxResults,
                NextToken = token,
            }, cancellationToken).ConfigureAwait(false);
            foreach (var summary in page.PipelineExecutionSummaries)
            {
                yield return summary;
            }

            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));
    }

    public Task<ListPipelineExecutionStepsResponse> ListPipelineExecutionStepsAsync(ListPipelineExecutionStepsRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ListPipelineExecutionStepsRequest, ListPipelineExecutionStepsResponse>("ListPipelineExecutionSteps", request, cancellationToken);

    /// <summary>Every started step of an execution, all pages, in <paramref name="sortOrder"/> of start time (SageMaker's default: newest first).</summary>
    public async Task<IReadOnlyList<PipelineExecutionStep>> ListAllPipelineExecutionStepsAsync(string pipelineExecutionArn, string? sortOrder, CancellationToken cancellationToken)
    {
        var steps = new List<PipelineExecutionStep>();
        string? token = null;
        do
        {
            var page = await ListPipelineExecutionStepsAsync(new ListPipelineExecutionStepsRequest
            {
                PipelineExecutionArn = pipelineExecutionArn,
                SortOrder = sortOrder,
                NextToken = token,
            }, cancellationToken).ConfigureAwait(false);
            steps.AddRange(page.PipelineExecutionSteps);
            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));
        return steps;
    }

    /// <summary>Stops the execution's running steps and their jobs; the execution ends Stopped.</summary>
    public Task<PipelineExecutionArnResponse> StopPipelineExecutionAsync(string pipelineExecutionArn, string? clientRequestToken, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ExecutionTokenRequest, PipelineExecutionArnResponse>(
            "StopPipelineExecution", new ExecutionTokenRequest(pipelineExecutionArn, clientRequestToken ?? NewToken(), null), cancellationToken);

    /// <summary>Reruns the failed and stopped steps (and the ones they held back) of a Failed or Stopped execution, under the same ARN.</summary>
    public Task<PipelineExecutionArnResponse> RetryPipelineExecutionAsync(string pipelineExecutionArn, string? clientRequestToken,
        ParallelismConfiguration? parallelismConfiguration, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ExecutionTokenRequest, PipelineExecutionArnResponse>(
            "RetryPipelineExecution", new ExecutionTokenRequest(pipelineExecutionArn, clientRequestToken ?? NewToken(), parallelismConfiguration), cancellationToken);

    /// <summary>Adds or replaces tags on a SageMaker resource (pipeline, processing job); returns the tags given.</summary>
    public async Task<IReadOnlyList<AwsTag>> AddTagsAsync(string resourceArn, IReadOnlyList<AwsTag> tags, CancellationToken cancellationToken) =>
        (await _client.InvokeAsync<AddTagsRequest, TagsPage>("AddTags", new AddTagsRequest(resourceArn, tags), cancellationToken).ConfigureAwait(false)).Tags;

    /// <summary>Every tag of a SageMaker resource, following NextToken.</summary>
    public async Task<IReadOnlyList<AwsTag>> ListTagsAsync(string resourceArn, CancellationToken cancellationToken)
    {
        var tags = new List<AwsTag>();
        string? token = null;
        do
        {
            var page = await _client.InvokeAsync<ListTagsRequest, TagsPage>("ListTags", new ListTagsRequest(resourceArn, token), cancellationToken).ConfigureAwait(false);
            tags.AddRange(page.Tags);
            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));
        return tags;
    }

    public async Task DeleteTagsAsync(string resourceArn, IReadOnlyList<string> tagKeys, CancellationToken cancellationToken) =>
        await _client.InvokeAsync<DeleteTagsRequest, EmptyResponse>("DeleteTags", new DeleteTagsRequest(resourceArn, tagKeys), cancellationToken).ConfigureAwait(false);

    // botocore fills idempotency tokens with a UUID4 when the caller gives none; so do we.
    private static string NewToken() => Guid.NewGuid().ToString();

    private sealed record NameRequest(string ProcessingJobName);

    private sealed record PipelineNameRequest(string PipelineName);

    private sealed record DeletePipelineRequest(string PipelineName, string ClientRequestToken);

    private sealed record ExecutionArnRequest(string PipelineExecutionArn);

    private sealed record ExecutionTokenRequest(string PipelineExecutionArn, string ClientRequestToken, ParallelismConfiguration? ParallelismConfiguration);

    private sealed record AddTagsRequest(string ResourceArn, IReadOnlyList<AwsTag> Tags);

    private sealed record ListTagsRequest(string ResourceArn, string? NextToken);

    private sealed record DeleteTagsRequest(string ResourceArn, IReadOnlyList<string> TagKeys);

    private sealed class TagsPage
    {
        public IReadOnlyList<AwsTag> Tags { get; init; } = [];

        public string? NextToken { get; init; }
    }
}

/// <summary>Operations whose response has no members.</summary>
public sealed class EmptyResponse
{
}
