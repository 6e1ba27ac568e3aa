namespace Rlabs.Pipelines.Aws;

public sealed class SchedulerFlexibleTimeWindow
{
    /// <summary>OFF or FLEXIBLE.</summary>
    public string Mode { get; init; } = "OFF";

    public int? MaximumWindowInMinutes { get; init; }
}

public sealed class SchedulerRetryPolicy
{
    public int? MaximumEventAgeInSeconds { get; init; }

    public int? MaximumRetryAttempts { get; init; }
}

public sealed class SchedulerDeadLetterConfig
{
    public string? Arn { get; init; }
}

public sealed class SchedulerPipelineParameter
{
    public string Name { get; init; } = string.Empty;

    public string Value { get; init; } = string.Empty;
}

public sealed class SchedulerSageMakerPipelineParameters
{
    public IReadOnlyList<SchedulerPipelineParameter>? PipelineParameterList { get; init; }
}

public sealed class SchedulerTarget
{
    public string Arn { get; init; } = string.Empty;

    public string RoleArn { get; init; } = string.Empty;

    public SchedulerSageMakerPipelineParameters? SageMakerPipelineParameters { get; init; }

    public SchedulerRetryPolicy? RetryPolicy { get; init; }

    public SchedulerDeadLetterConfig? DeadLetterConfig { get; init; }

    public string? Input { get; init; }
}

/// <summary>CreateSchedule/UpdateSchedule's body (the name and group travel in the path and body).</summary>
public sealed class SchedulerScheduleRequest
{
    public string? GroupName { get; init; }

    public string? Description { get; init; }

    public string ScheduleExpression { get; init; } = string.Empty;

    public string? ScheduleExpressionTimezone { get; init; }

    public DateTimeOffset? StartDate { get; init; }

    public DateTimeOffset? EndDate { get; init; }

    /// <summary>ENABLED or DISABLED.</summary>
    public string? State { get; init; }

    public SchedulerFlexibleTimeWindow FlexibleTimeWindow { get; init; } = new();

    public SchedulerTarget Target { get; init; } = new();

    public string? KmsKeyArn { get; init; }

    /// <summary>Idempotency token: a retried create with the same token is the same create.</summary>
    public string? ClientToken { get; init; }
}

/// <summary>A schedule as GetSchedule describes it.</summary>
public sealed class SchedulerSchedule
{
    public string Arn { get; init; } = string.Empty;

    public string Name { get; init; } = string.Empty;

    public string? GroupName { get; init; }

    public string? Description { get; init; }

    public string? ScheduleExpression { get; init; }

    public string? ScheduleExpressionTimezone { get; init; }

    public DateTimeOffset? StartDate { get; init; }

    public DateTimeOffset? EndDate { get; init; }

    public string? State { get; init; }

    public SchedulerFlexibleTimeWindow? FlexibleTimeWindow { get; init; }

    public SchedulerTarget? Target { get; init; }

    public string? KmsKeyArn { get; init; }

    public DateTimeOffset? CreationDate { get; init; }

    public DateTimeOffset? LastModificationDate { get; init; }
}

public sealed class SchedulerScheduleSummary
{
    public string Arn { get; init; } = string.Empty;

    public string Name { get; init; } = string.Empty;

    public string? GroupName { get; init; }

    public string? State { get; init; }
}

public sealed class SchedulerScheduleGroup
{
    public string Arn { get; init; } = string.Empty;

    public string Name { get; init; } = string.Empty;

    public string? State { get; init; }
}

/// <summary>EventBridge Scheduler (REST-JSON, API version 2021-06-30): schedules in schedule groups.</summary>
public sealed class SchedulerClient
{
    private const string Schedule = "/schedules/{Name}";
    private const string Group = "/schedule-groups/{Name}";
    private readonly AwsRestJsonClient _client;

    public SchedulerClient(AwsSession session)
    {
        _client = new AwsRestJsonClient(session, AwsService.Scheduler, "Scheduler");
    }

    public async Task<string> CreateScheduleAsync(string name, SchedulerScheduleRequest request, CancellationToken cancellationToken) =>
        (await _client.InvokeAsync<ArnResponse>("CreateSchedule", HttpMethod.Post, Schedule, Name(name), request, cancellationToken).ConfigureAwait(false)).ScheduleArn;

    public async Task<string> UpdateScheduleAsync(string name, SchedulerScheduleRequest request, CancellationToken cancellationToken) =>
        (await _client.InvokeAsync<ArnResponse>("UpdateSchedule", HttpMethod.Put, Schedule, Name(name), request, cancellationToken).ConfigureAwait(false)).ScheduleArn;

    public Task<SchedulerSchedule> GetScheduleAsync(string name, string groupName, CancellationToken cancellationToken) =>
        _client.InvokeAsync<SchedulerSchedule>("GetSchedule", HttpMethod.Get, Schedule, Name(name), null, cancellationToken, GroupQuery(groupName));

    /// <summary>The schedule, or null when it (or its group) does not exist.</summary>
    public async Task<SchedulerSchedule?> FindScheduleAsync(string name, string groupName, CancellationToken cancellationToken)
    {
        try
        {
            return await GetScheduleAsync(name, groupName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteScheduleAsync(string name, string groupName, CancellationToken cancellationToken) =>
        await _client.SendAsync("DeleteSchedule", HttpMethod.Delete, Schedule, Name(name), null, cancellationToken, GroupQuery(groupName)).ConfigureAwait(false);

    /// <summary>Every schedule of a group whose name starts with the prefix (all pages).</summary>
    public async Task<IReadOnlyList<SchedulerScheduleSummary>> ListSchedulesAsync(string groupName, string? namePrefix, CancellationToken cancellationToken)
    {
        var all = new List<SchedulerScheduleSummary>();
        string? token = null;
        do
        {
            var query = new Dictionary<string, string> { ["ScheduleGroup"] = groupName };
            if (namePrefix is not null)
            {
                query["NamePrefix"] = namePrefix;
            }
            if (token is not null)
            {
                query["NextToken"] = token;
            }
            var page = await _client.InvokeAsync<ListResponse>("ListSchedules", HttpMethod.Get, "/schedules", s_none, null, cancellationToken, query).ConfigureAwait(false);
            all.AddRange(page.Schedules ?? []);
            token = page.NextToken;
        }
        while (token is not null);
        return all;
    }

    public async Task<string> CreateScheduleGroupAsync(string name, IReadOnlyList<AwsTag>? tags, CancellationToken cancellationToken) =>
        (await _client.InvokeAsync<GroupArnResponse>("CreateScheduleGroup", HttpMethod.Post, Group, Name(name), new GroupBody(tags), cancellationToken).ConfigureAwait(false)).ScheduleGroupArn;

    /// <summary>The group, or null when it does not exist.</summary>
    public async Task<SchedulerScheduleGroup?> FindScheduleGroupAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.InvokeAsync<SchedulerScheduleGroup>("GetScheduleGroup", HttpMethod.Get, Group, Name(name), null, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteScheduleGroupAsync(string name, CancellationToken cancellationToken) =>
        await _client.SendAsync("DeleteScheduleGroup", HttpMethod.Delete, Group, Name(name), null, cancellationToken).ConfigureAwait(false);

    public async Task TagResourceAsync(string resourceArn, IReadOnlyList<AwsTag> tags, CancellationToken cancellationToken) =>
        await _client.SendAsync("TagResource", HttpMethod.Post, "/tags/{ResourceArn}", new Dictionary<string, string> { ["{ResourceArn}"] = resourceArn }, new TagsBody(tags), cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<AwsTag>> ListTagsForResourceAsync(string resourceArn, CancellationToken cancellationToken) =>
        (await _client.InvokeAsync<TagsResponse>("ListTagsForResource", HttpMethod.Get, "/tags/{ResourceArn}", new Dictionary<string, string> { ["{ResourceArn}"] = resourceArn }, null, cancellationToken).ConfigureAwait(false)).Tags ?? [];

    private static readonly Dictionary<string, string> s_none = [];

    private static Dictionary<string, string> Name(string name) => new() { ["{Name}"] = name };

    private static Dictionary<string, string> GroupQuery(string groupName) => new() { ["groupName"] = groupName };

    private sealed class ArnResponse
    {
        public string ScheduleArn { get; init; } = string.Empty;
    }

    private sealed class GroupArnResponse
    {
        public string ScheduleGroupArn { get; init; } = string.Empty;
    }

    private sealed class ListResponse
    {
        public List<SchedulerScheduleSummary>? Schedules { get; init; }

        public string? NextToken { get; init; }
    }

    private sealed class TagsResponse
    {
        public List<AwsTag>? Tags { get; init; }
    }

    private sealed record GroupBody(IReadOnlyList<AwsTag>? Tags);

    private sealed record TagsBody(IReadOnlyList<AwsTag> Tags);
}
