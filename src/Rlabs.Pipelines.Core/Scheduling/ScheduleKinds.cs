using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// The one place that knows which kinds of schedule there are and where each lives: the Ec2 kind is an EventBridge
/// rule (<see cref="ScheduleManager"/>), the Serverless kind an EventBridge Scheduler schedule in group
/// <see cref="SchedulerTrigger.GroupName"/> (<see cref="SchedulerTrigger"/>). Both are named
/// <see cref="ScheduleNaming.RuleName"/> of the project and pipeline, so one pipeline may have one of each.
/// Get, Enable, Disable and Remove ask this class which kinds exist instead of guessing.
/// </summary>
public sealed class ScheduleKinds
{
    /// <summary>The names a -Kind parameter takes (the cmdlets take a string: the enum lives in the core's load context).</summary>
    public static readonly IReadOnlyList<string> Names = Enum.GetNames<RlabsScheduleKind>();

    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;

    /// <summary>Creates the resolver over an AWS session.</summary>
    public ScheduleKinds(AwsSession session, IRunReporter reporter)
    {
        _session = session;
        _reporter = reporter;
    }

    /// <summary>The kind named <paramref name="kind"/> (case-insensitive), null for none; throws <see cref="ArgumentException"/> for another name.</summary>
    public static RlabsScheduleKind? Parse(string? kind)
    {
        if (string.IsNullOrEmpty(kind))
        {
            return null;
        }
        // By name only: Enum.TryParse would take "1" for Serverless.
        return Names.FirstOrDefault(n => string.Equals(n, kind, StringComparison.OrdinalIgnoreCase)) is { } name
            ? Enum.Parse<RlabsScheduleKind>(name)
            : throw new ArgumentException($"'{kind}' is not a schedule kind: use {string.Join(" or ", Names)}.", nameof(kind));
    }

    /// <summary>Every schedule of either kind this module created, of one project and pipeline when given, sorted by project, pipeline and kind.</summary>
    public async Task<IReadOnlyList<RlabsPipelineSchedule>> ListAsync(string? projectName, string? pipelineName, RlabsScheduleKind? kind, CancellationToken cancellationToken)
    {
        var all = new List<RlabsPipelineSchedule>();
        if (kind is null or RlabsScheduleKind.Ec2)
        {
            all.AddRange(await ReadAsync(kind, RlabsScheduleKind.Ec2, () => new ScheduleManager(_session, _reporter).GetAsync(projectName, pipelineName, cancellationToken), []).ConfigureAwait(false));
        }
        if (kind is null or RlabsScheduleKind.Serverless)
        {
            var states = await ReadAsync(kind, RlabsScheduleKind.Serverless, () => new SchedulerTrigger(_session, _reporter).ListAsync(projectName, cancellationToken), []).ConfigureAwait(false);
            all.AddRange(states.Where(s => pipelineName is null || s.PipelineName == pipelineName).Select(s => RlabsPipelineSchedule.FromServerless(s, null)));
        }
        return [.. all.OrderBy(s => s.ProjectName, StringComparer.Ordinal).ThenBy(s => s.PipelineName, StringComparer.Ordinal).ThenBy(s => s.Kind)];
    }

    /// <summary>The kinds of schedule that exist for the pipeline (of <paramref name="kind"/> only when given).</summary>
    public async Task<IReadOnlyList<RlabsScheduleKind>> ExistingAsync(string projectName, string pipelineName, RlabsScheduleKind? kind, CancellationToken cancellationToken)
    {
        var found = new List<RlabsScheduleKind>();
        var name = ScheduleNaming.RuleName(projectName, pipelineName);
        if (kind is null or RlabsScheduleKind.Ec2
            && await ReadAsync(kind, RlabsScheduleKind.Ec2, async () => await new EventBridgeClient(_session).FindRuleAsync(name, cancellationToken).ConfigureAwait(false) is not null, false).ConfigureAwait(false))
        {
            found.Add(RlabsScheduleKind.Ec2);
        }
        if (kind is null or RlabsScheduleKind.Serverless
            && await ReadAsync(kind, RlabsScheduleKind.Serverless, async () => await new SchedulerClient(_session).FindScheduleAsync(name, SchedulerTrigger.GroupName, cancellationToken).ConfigureAwait(false) is not null, false).ConfigureAwait(false))
        {
            found.Add(RlabsScheduleKind.Serverless);
        }
        return found;
    }

    /// <summary>
    /// Reads one kind. When no kind was asked for, a kind the caller may not read (a user of the Ec2 kind without
    /// EventBridge Scheduler permissions, say) is a warning and counts as absent, so the other kind still works;
    /// asked for by -Kind, the denial is the error.
    /// </summary>
    private async Task<T> ReadAsync<T>(RlabsScheduleKind? asked, RlabsScheduleKind reading, Func<Task<T>> read, T absent)
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (asked is null && ex.Kind == AwsErrorKind.AccessDenied)
        {
            _reporter.Warning($"Schedules of kind {reading} were not read: {ex.Message} Pass -Kind {(reading == RlabsScheduleKind.Ec2 ? RlabsScheduleKind.Serverless : RlabsScheduleKind.Ec2)} to look at the other kind only.");
            return absent;
        }
    }

    /// <summary>
    /// The kinds whose removal to finish when neither schedule exists: the Ec2 kind always (its removal reads the rule,
    /// function and role the seed's way), the Serverless kind when the scheduler role this module created is still
    /// there, since a serverless removal deletes that role last. Asks nothing of S3, so a user of the Ec2 kind needs
    /// no S3 permission for it.
    /// </summary>
    public async Task<IReadOnlyList<RlabsScheduleKind>> LeftoversAsync(string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        var serverless = await ReadAsync(null, RlabsScheduleKind.Serverless,
            async () => (await new SchedulerTrigger(_session, _reporter).PlanRemovalAsync(projectName, pipelineName, cancellationToken).ConfigureAwait(false)).RoleCreatedByModule, false).ConfigureAwait(false);
        return serverless ? [RlabsScheduleKind.Ec2, RlabsScheduleKind.Serverless] : [RlabsScheduleKind.Ec2];
    }

    /// <summary>
    /// Enables or disables every existing schedule of the pipeline (of <paramref name="kind"/> only when given), each
    /// confirmed by reading it back; throws <see cref="ScheduleNotFoundException"/> when there is none.
    /// </summary>
    public async Task<IReadOnlyList<RlabsPipelineSchedule>> SetStateAsync(string projectName, string pipelineName, bool enabled, RlabsScheduleKind? kind, CancellationToken cancellationToken)
    {
        var existing = await ExistingAsync(projectName, pipelineName, kind, cancellationToken).ConfigureAwait(false);
        if (existing.Count == 0)
        {
            var name = ScheduleNaming.RuleName(projectName, pipelineName);
            var where = kind switch
            {
                RlabsScheduleKind.Ec2 => $"no EventBridge rule '{name}'",
                RlabsScheduleKind.Serverless => $"no EventBridge Scheduler schedule '{SchedulerTrigger.GroupName}/{name}'",
                _ => $"neither an EventBridge rule '{name}' nor an EventBridge Scheduler schedule '{SchedulerTrigger.GroupName}/{name}'",
            };
            throw new ScheduleNotFoundException(name, $"There is no schedule for pipeline '{pipelineName}' of project '{projectName}' ({where} in {_session.Region}). Create it with New-RlabsPipelineSchedule; Get-RlabsPipelineSchedule lists the existing ones.");
        }
        var result = new List<RlabsPipelineSchedule>();
        foreach (var found in existing)
        {
            result.Add(found == RlabsScheduleKind.Ec2
                ? await new ScheduleManager(_session, _reporter).SetStateAsync(projectName, pipelineName, enabled, cancellationToken).ConfigureAwait(false)
                : RlabsPipelineSchedule.FromServerless(await new SchedulerTrigger(_session, _reporter).SetStateAsync(projectName, pipelineName, enabled, cancellationToken).ConfigureAwait(false), null));
        }
        return result;
    }
}
