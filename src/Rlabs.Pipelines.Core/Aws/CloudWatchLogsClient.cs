using System.Text.Json.Serialization;

namespace Rlabs.Pipelines.Aws;

public sealed class DescribeLogStreamsRequest
{
    [JsonPropertyName("logGroupName")]
    public required string LogGroupName { get; init; }

    [JsonPropertyName("logStreamNamePrefix")]
    public string? LogStreamNamePrefix { get; init; }

    /// <summary><c>LogStreamName</c> or <c>LastEventTime</c>.</summary>
    [JsonPropertyName("orderBy")]
    public string? OrderBy { get; init; }

    [JsonPropertyName("descending")]
    public bool? Descending { get; init; }

    [JsonPropertyName("nextToken")]
    public string? NextToken { get; init; }

    [JsonPropertyName("limit")]
    public int? Limit { get; init; }
}

public sealed class LogStreamInfo
{
    [JsonPropertyName("logStreamName")]
    public string LogStreamName { get; init; } = string.Empty;

    [JsonPropertyName("creationTime")]
    public long? CreationTime { get; init; }

    [JsonPropertyName("firstEventTimestamp")]
    public long? FirstEventTimestamp { get; init; }

    [JsonPropertyName("lastEventTimestamp")]
    public long? LastEventTimestamp { get; init; }

    [JsonPropertyName("lastIngestionTime")]
    public long? LastIngestionTime { get; init; }

    [JsonPropertyName("arn")]
    public string? Arn { get; init; }
}

public sealed class DescribeLogStreamsResponse
{
    [JsonPropertyName("logStreams")]
    public IReadOnlyList<LogStreamInfo> LogStreams { get; init; } = [];

    [JsonPropertyName("nextToken")]
    public string? NextToken { get; init; }
}

public sealed class GetLogEventsRequest
{
    [JsonPropertyName("logGroupName")]
    public required string LogGroupName { get; init; }

    [JsonPropertyName("logStreamName")]
    public required string LogStreamName { get; init; }

    [JsonPropertyName("startTime")]
    public long? StartTime { get; init; }

    [JsonPropertyName("endTime")]
    public long? EndTime { get; init; }

    [JsonPropertyName("nextToken")]
    public string? NextToken { get; init; }

    [JsonPropertyName("limit")]
    public int? Limit { get; init; }

    [JsonPropertyName("startFromHead")]
    public bool? StartFromHead { get; init; }
}

public sealed class OutputLogEvent
{
    [JsonPropertyName("timestamp")]
    public long Timestamp { get; init; }

    [JsonPropertyName("message")]
    public string Message { get; init; } = string.Empty;

    [JsonPropertyName("ingestionTime")]
    public long IngestionTime { get; init; }
}

public sealed class GetLogEventsResponse
{
    [JsonPropertyName("events")]
    public IReadOnlyList<OutputLogEvent> Events { get; init; } = [];

    /// <summary>Pass back as <c>nextToken</c> to follow the stream; equal to the sent token when nothing is new.</summary>
    [JsonPropertyName("nextForwardToken")]
    public string? NextForwardToken { get; init; }

    [JsonPropertyName("nextBackwardToken")]
    public string? NextBackwardToken { get; init; }
}

/// <summary>Reads processing-job logs (JSON 1.1, target prefix <c>Logs_20140328</c>).</summary>
public sealed class CloudWatchLogsClient
{
    private readonly AwsJsonProtocolClient _client;

    public CloudWatchLogsClient(AwsSession session)
    {
        _client = new AwsJsonProtocolClient(session, AwsService.CloudWatchLogs, "CloudWatchLogs", "Logs_20140328");
    }

    public Task<DescribeLogStreamsResponse> DescribeLogStreamsAsync(DescribeLogStreamsRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<DescribeLogStreamsRequest, DescribeLogStreamsResponse>("DescribeLogStreams", request, cancellationToken);

    public Task<GetLogEventsResponse> GetLogEventsAsync(GetLogEventsRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<GetLogEventsRequest, GetLogEventsResponse>("GetLogEvents", request, cancellationToken);
}
