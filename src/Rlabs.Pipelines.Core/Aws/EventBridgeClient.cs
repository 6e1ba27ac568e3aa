namespace Rlabs.Pipelines.Aws;

public sealed class PutRuleRequest
{
    public required string Name { get; init; }

    /// <summary>e.g. <c>rate(1 hour)</c> or <c>cron(0 6 * * ? *)</c>.</summary>
    public string? ScheduleExpression { get; init; }

    /// <summary>JSON event pattern, e.g. EC2 state-change events of one instance.</summary>
    public string? EventPattern { get; init; }

    /// <summary><c>ENABLED</c> or <c>DISABLED</c>.</summary>
    public string? State { get; init; }

    public string? Description { get; init; }

    public string? RoleArn { get; init; }

    public IReadOnlyList<AwsTag>? Tags { get; init; }

    public string? EventBusName { get; init; }
}

public sealed class PutRuleResponse
{
    public string RuleArn { get; init; } = string.Empty;
}

public sealed class EventRule
{
    public string Name { get; init; } = string.Empty;

    public string Arn { get; init; } = string.Empty;

    public string? EventPattern { get; init; }

    public string? ScheduleExpression { get; init; }

    public string State { get; init; } = string.Empty;

    public string? Description { get; init; }

    public string? RoleArn { get; init; }

    public string? ManagedBy { get; init; }

    public string? EventBusName { get; init; }

    public bool IsEnabled => State == "ENABLED";
}

public sealed class ListRulesRequest
{
    public string? NamePrefix { get; init; }

    public string? EventBusName { get; init; }

    public string? NextToken { get; init; }

    public int? Limit { get; init; }
}

public sealed class ListRulesResponse
{
    public IReadOnlyList<EventRule> Rules { get; init; } = [];

    public string? NextToken { get; init; }
}

public sealed class EventTarget
{
    public required string Id { get; init; }

    public required string Arn { get; init; }

    public string? RoleArn { get; init; }

    /// <summary>Constant JSON passed to the target instead of the event.</summary>
    public string? Input { get; init; }

    public string? InputPath { get; init; }
}

public sealed class FailedTargetEntry
{
    public string? TargetId { get; init; }

    public string? ErrorCode { get; init; }

    public string? ErrorMessage { get; init; }
}

public sealed class TargetsResponse
{
    public int FailedEntryCount { get; init; }

    public IReadOnlyList<FailedTargetEntry> FailedEntries { get; init; } = [];
}

public sealed class ListTargetsByRuleResponse
{
    public IReadOnlyList<EventTarget> Targets { get; init; } = [];

    public string? NextToken { get; init; }
}

/// <summary>EventBridge rules that trigger the scheduler's Lambda (JSON 1.1, target prefix <c>AWSEvents</c>).</summary>
public sealed class EventBridgeClient
{
    private readonly AwsJsonProtocolClient _client;

    public EventBridgeClient(AwsSession session)
    {
        _client = new AwsJsonProtocolClient(session, AwsService.EventBridge, "EventBridge", "AWSEvents");
    }

    public Task<PutRuleResponse> PutRuleAsync(PutRuleRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<PutRuleRequest, PutRuleResponse>("PutRule", request, cancellationToken);

    public Task<EventRule> DescribeRuleAsync(string name, CancellationToken cancellationToken) =>
        _client.InvokeAsync<NameRequest, EventRule>("DescribeRule", new NameRequest(name), cancellationToken);

    /// <summary>The rule, or null when it does not exist.</summary>
    public async Task<EventRule?> FindRuleAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await DescribeRuleAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    public Task<ListRulesResponse> ListRulesAsync(ListRulesRequest request, CancellationToken cancellationToken) =>
        _client.InvokeAsync<ListRulesRequest, ListRulesResponse>("ListRules", request, cancellationToken);

    /// <summary>Every rule whose name starts with <paramref name="namePrefix"/>, across pages.</summary>
    public async Task<IReadOnlyList<EventRule>> ListAllRulesAsync(string? namePrefix, CancellationToken cancellationToken)
    {
        var rules = new List<EventRule>();
        string? token = null;
        do
        {
            var page = await ListRulesAsync(new ListRulesRequest { NamePrefix = namePrefix, NextToken = token }, cancellationToken).ConfigureAwait(false);
            rules.AddRange(page.Rules);
            token = page.NextToken;
        }
        while (!string.IsNullOrEmpty(token));
        return rules;
    }

    public async Task EnableRuleAsync(string name, CancellationToken cancellationToken) =>
        await _client.InvokeAsync<NameRequest, EmptyResponse>("EnableRule", new NameRequest(name), cancellationToken).ConfigureAwait(false);

    public async Task DisableRuleAsync(string name, CancellationToken cancellationToken) =>
        await _client.InvokeAsync<NameRequest, EmptyResponse>("DisableRule", new NameRequest(name), cancellationToken).ConfigureAwait(false);

    /// <summary>Deletes a rule (which must have no targets); a missing rule is not an error.</summary>
    public async Task DeleteRuleAsync(string name, CancellationToken cancellationToken) =>
        await _client.InvokeAsync<NameRequest, EmptyResponse>("DeleteRule", new NameRequest(name), cancellationToken).ConfigureAwait(false);

    /// <summary>Adds or replaces targets; throws when EventBridge rejects any entry.</summary>
    public async Task PutTargetsAsync(string rule, IReadOnlyList<EventTarget> targets, CancellationToken cancellationToken)
    {
        var response = await _client.InvokeAsync<PutTargetsRequest, TargetsResponse>("PutTargets", new PutTargetsRequest(rule, targets), cancellationToken).ConfigureAwait(false);
        ThrowOnFailedEntries("PutTargets", response);
    }

    public Task<ListTargetsByRuleResponse> ListTargetsByRuleAsync(string rule, CancellationToken cancellationToken) =>
        _client.InvokeAsync<RuleRequest, ListTargetsByRuleResponse>("ListTargetsByRule", new RuleRequest(rule), cancellationToken);

    public async Task RemoveTargetsAsync(string rule, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var response = await _client.InvokeAsync<RemoveTargetsRequest, TargetsResponse>("RemoveTargets", new RemoveTargetsRequest(rule, ids), cancellationToken).ConfigureAwait(false);
        ThrowOnFailedEntries("RemoveTargets", response);
    }

    private static void ThrowOnFailedEntries(string operation, TargetsResponse response)
    {
        if (response.FailedEntryCount > 0)
        {
            var first = response.FailedEntries.Count > 0 ? response.FailedEntries[0] : null;
            throw new AwsServiceException("EventBridge", operation, System.Net.HttpStatusCode.OK, first?.ErrorCode ?? "FailedEntry",
                $"{response.FailedEntryCount} target(s) failed; first '{first?.TargetId}': {first?.ErrorMessage}", null, null);
        }
    }

    private sealed record NameRequest(string Name);

    private sealed record RuleRequest(string Rule);

    private sealed record PutTargetsRequest(string Rule, IReadOnlyList<EventTarget> Targets);

    private sealed record RemoveTargetsRequest(string Rule, IReadOnlyList<string> Ids);
}
