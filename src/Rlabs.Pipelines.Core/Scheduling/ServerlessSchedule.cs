using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>
/// A schedule expression as EventBridge Scheduler takes it, with its time zone: <c>rate()</c>, <c>cron()</c>
/// with six fields (evaluated in the zone), or <c>at(yyyy-mm-ddThh:mm:ss)</c> for one run. Checked before any
/// AWS call.
/// </summary>
public sealed partial class SchedulerExpression
{
    private readonly ScheduleExpression? _recurring;
    private readonly DateTime? _at;

    private SchedulerExpression(string expression, TimeZoneInfo zone, ScheduleExpression? recurring, DateTime? at)
    {
        Expression = expression;
        TimeZone = zone;
        _recurring = recurring;
        _at = at;
    }

    /// <summary>The expression as Scheduler takes it.</summary>
    public string Expression { get; }

    /// <summary>The zone cron and at() are read in.</summary>
    public TimeZoneInfo TimeZone { get; }

    /// <summary>The IANA id of <see cref="TimeZone"/>.</summary>
    public string TimeZoneId => TimeZone.Id;

    /// <summary>
    /// Parses the expression and resolves the IANA time zone (default UTC); throws <see cref="ArgumentException"/>
    /// naming what is wrong and how to write it.
    /// </summary>
    public static SchedulerExpression Parse(string expression, string? timeZone)
    {
        var zone = ResolveTimeZone(timeZone);
        var text = expression?.Trim() ?? string.Empty;
        if (AtRegex().Match(text) is { Success: true } at)
        {
            if (!DateTime.TryParseExact(at.Groups[1].Value, "yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
            {
                throw new ArgumentException($"The date in '{text}' does not exist. Write at(yyyy-mm-ddThh:mm:ss), e.g. 'at(2027-01-31T06:00:00)'.", nameof(expression));
            }
            return new SchedulerExpression(text, zone, null, local);
        }
        if (text.StartsWith("at(", StringComparison.Ordinal))
        {
            throw new ArgumentException($"The one-time expression '{text}' must be at(yyyy-mm-ddThh:mm:ss), e.g. 'at(2027-01-31T06:00:00)' (in -TimeZone).", nameof(expression));
        }
        if (!ScheduleExpression.TryParse(text, out var recurring, out var error))
        {
            throw new ArgumentException(error.Replace(" UTC", " in -TimeZone", StringComparison.Ordinal) + " One run: 'at(2027-01-31T06:00:00)'.", nameof(expression));
        }
        return new SchedulerExpression(recurring.Expression, zone, recurring, null);
    }

    /// <summary>The IANA zone, or an <see cref="ArgumentException"/> with examples (Windows ids are refused: Scheduler takes IANA ids only).</summary>
    public static TimeZoneInfo ResolveTimeZone(string? timeZone)
    {
        var id = string.IsNullOrWhiteSpace(timeZone) ? "UTC" : timeZone.Trim();
        try
        {
            var zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            if (!zone.HasIanaId && id != "UTC")
            {
                throw new TimeZoneNotFoundException();
            }
            return zone;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ArgumentException($"The time zone '{id}' is not an IANA time zone name. Use one such as 'UTC', 'Europe/Amsterdam' or 'America/New_York'.", nameof(timeZone), ex);
        }
    }

    /// <summary>The next <paramref name="count"/> firings after <paramref name="after"/>, in UTC (rate: counted from <paramref name="rateAnchor"/> when known).</summary>
    public IReadOnlyList<DateTimeOffset> NextOccurrences(DateTimeOffset after, int count, DateTimeOffset? rateAnchor = null)
    {
        if (_at is { } at)
        {
            var utc = ToUtc(at);
            return utc > after && count > 0 ? [utc] : [];
        }
        if (_recurring!.Kind == ScheduleKind.Rate)
        {
            return _recurring.NextOccurrences(after, count, rateAnchor);
        }
        // Cron fields are wall-clock times in the zone: evaluate them on the local clock, then convert.
        var times = new List<DateTimeOffset>();
        var cursor = after;
        while (times.Count < count)
        {
            var local = new DateTimeOffset(TimeZoneInfo.ConvertTime(cursor, TimeZone).DateTime, TimeSpan.Zero);
            var found = _recurring.NextOccurrences(local, 1);
            if (found.Count == 0)
            {
                break;
            }
            var utc = ToUtc(found[0].DateTime);
            if (utc > after && (times.Count == 0 || utc > times[^1]))
            {
                times.Add(utc);
            }
            cursor = utc > cursor ? utc : cursor.AddHours(1);
        }
        return times;
    }

    /// <summary>A wall-clock time in the zone as UTC: a skipped time (spring forward) runs an hour later, a repeated one once, the first time.</summary>
    private DateTimeOffset ToUtc(DateTime local)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (TimeZone.IsInvalidTime(local))
        {
            local = local.AddHours(1);
        }
        var offset = TimeZone.IsAmbiguousTime(local) ? TimeZone.GetAmbiguousTimeOffsets(local).Max() : TimeZone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    [GeneratedRegex(@"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")]
    private static partial Regex AtRegex();
}

/// <summary>What a serverless schedule is made of (all checked before any AWS call).</summary>
public sealed partial class ServerlessScheduleRequest
{
    /// <summary>Sanitized project name.</summary>
    public required string ProjectName { get; init; }

    /// <summary>Sanitized pipeline name.</summary>
    public required string PipelineName { get; init; }

    /// <summary>The pipeline file relative to the repository.</summary>
    public string? PipelineRelativePath { get; init; }

    /// <summary>The SageMaker pipeline the schedule starts.</summary>
    public required string PipelineArn { get; init; }

    /// <summary>When, in which zone.</summary>
    public required SchedulerExpression Schedule { get; init; }

    /// <summary>0 = fire on time; otherwise within this many minutes.</summary>
    public int FlexibleWindowMinutes { get; init; }

    /// <summary>No firing before.</summary>
    public DateTimeOffset? StartDate { get; init; }

    /// <summary>No firing after.</summary>
    public DateTimeOffset? EndDate { get; init; }

    /// <summary>Retries of a failed start (0-185); null = the service's default.</summary>
    public int? MaximumRetryAttempts { get; init; }

    /// <summary>How long a start may be retried (60-86400 s); null = the service's default.</summary>
    public int? MaximumEventAgeSeconds { get; init; }

    /// <summary>SQS queue for starts that failed for good.</summary>
    public string? DeadLetterQueueArn { get; init; }

    /// <summary>The role the schedule starts the pipeline as; null = create a least-privilege one.</summary>
    public string? SchedulerRoleArn { get; init; }

    /// <summary>
    /// A -StartDate or -EndDate as the instant Scheduler takes (whole seconds): a time without a kind is read in
    /// <paramref name="zone"/>, the schedule's time zone, so "2027-07-01" means midnight there.
    /// </summary>
    public static DateTimeOffset ToInstant(DateTime value, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        var whole = new DateTime(value.Ticks - (value.Ticks % TimeSpan.TicksPerSecond), value.Kind);
        return whole.Kind switch
        {
            DateTimeKind.Utc => new DateTimeOffset(whole),
            DateTimeKind.Local => new DateTimeOffset(whole).ToUniversalTime(),
            _ => new DateTimeOffset(whole, zone.GetUtcOffset(whole)).ToUniversalTime(),
        };
    }

    /// <summary>Why the window cannot be used (the end before the start or already past), or null.</summary>
    public static string? ValidateWindow(DateTimeOffset? start, DateTimeOffset? end, DateTimeOffset now)
    {
        if (end is { } e && e <= now)
        {
            return string.Create(CultureInfo.InvariantCulture, $"-EndDate {e.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC has passed: the schedule would never fire.");
        }
        if (start is { } s && end is { } f && f <= s)
        {
            return string.Create(CultureInfo.InvariantCulture, $"-EndDate ({f.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC) must be after -StartDate ({s.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC).");
        }
        return null;
    }

    /// <summary>Why <paramref name="arn"/> is not an IAM role ARN, or null.</summary>
    public static string? ValidateRoleArn(string arn, string parameter) =>
        RoleArnRegex().IsMatch(arn) ? null : $"{parameter} '{arn}' is not an IAM role ARN: they look like arn:aws:iam::123456789012:role/my-role.";

    /// <summary>Why <paramref name="arn"/> is not an SQS queue ARN, or null.</summary>
    public static string? ValidateQueueArn(string arn) =>
        QueueArnRegex().IsMatch(arn) ? null : $"-DeadLetterQueueArn '{arn}' is not an SQS queue ARN: they look like arn:aws:sqs:eu-west-1:123456789012:my-queue.";

    [GeneratedRegex(@"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")]
    private static partial Regex RoleArnRegex();

    [GeneratedRegex(@"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,75}(\.fifo)?$")]
    private static partial Regex QueueArnRegex();
}

/// <summary>What a removal did.</summary>
/// <param name="ScheduleName">The schedule.</param>
/// <param name="Removed">What was deleted, in order.</param>
/// <param name="Kept">What stayed, and why.</param>
public sealed record ServerlessScheduleRemoval(string ScheduleName, IReadOnlyList<string> Removed, IReadOnlyList<string> Kept);

/// <summary>A serverless schedule as read back.</summary>
public sealed record ServerlessScheduleState(
    string ProjectName,
    string PipelineName,
    string ScheduleName,
    string ScheduleArn,
    RlabsScheduleState State,
    string ScheduleExpression,
    string TimeZone,
    string PipelineArn,
    string RoleArn,
    IReadOnlyList<DateTimeOffset> NextRunTimesUtc,
    IReadOnlyList<DateTimeOffset> NextRunTimesLocal,
    IReadOnlyList<string> Changes)
{
    /// <summary>The pipeline file relative to the repository, as the schedule's description records it.</summary>
    public string? PipelinePath { get; init; }
}

/// <summary>
/// What removing a serverless schedule's trigger would delete, read before anything is deleted.
/// </summary>
/// <param name="ScheduleName">The schedule's name in group rlabs.</param>
/// <param name="Schedule">The schedule, or null when it is already gone.</param>
/// <param name="RoleName">The schedule's own scheduler role (the one this module creates when none is given).</param>
/// <param name="RoleCreatedByModule">Whether the role exists and this module created it (so it goes too).</param>
/// <param name="RoleKeptBecause">Why a role stays (the own one not there, or a given one), when one does.</param>
/// <param name="HasInlinePolicy">Whether the created role still has its inline policy.</param>
public sealed record SchedulerTriggerRemoval(string ScheduleName, SchedulerSchedule? Schedule, string RoleName, bool RoleCreatedByModule, string? RoleKeptBecause, bool HasInlinePolicy)
{
    /// <summary>The SageMaker pipeline the schedule starts (from its target ARN), when the schedule is there.</summary>
    public string? PipelineName => Schedule?.Target?.Arn is { Length: > 0 } arn && arn.LastIndexOf(":pipeline/", StringComparison.Ordinal) is var at and >= 0
        ? arn[(at + ":pipeline/".Length)..]
        : null;
}

/// <summary>
/// The serverless kind's trigger: one EventBridge Scheduler schedule in group <see cref="GroupName"/> whose
/// target is the SageMaker pipeline itself (no starter, no instance). Each part looks before it writes, so a
/// re-run with nothing changed makes no write. The role it creates trusts scheduler.amazonaws.com only and
/// may call sagemaker:StartPipelineExecution on the one pipeline only.
/// </summary>
public sealed class SchedulerTrigger
{
    /// <summary>The module's schedule group.</summary>
    public const string GroupName = "rlabs";

    // No pipeline parameter is sent: EventBridge Scheduler replaces context attributes such as
    // <aws.scheduler.execution-id> only in a target's Input payload, never in SageMakerPipelineParameters, so a
    // parameter would carry the literal text to every firing. The scheduled definition takes its job id from
    // Execution.PipelineExecutionId instead (PipelineDefinitionCompiler.Compile with jobIdFromExecution).

    /// <summary>The inline policy's name on the scheduler role.</summary>
    public const string PolicyName = "rlabs-start-pipeline";

    private const string DescriptionPrefix = "Rlabs.Pipelines schedule ";

    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;

    /// <summary>Creates the trigger over an AWS session.</summary>
    public SchedulerTrigger(AwsSession session, IRunReporter reporter)
    {
        _session = session;
        _reporter = reporter;
    }

    /// <summary>The schedule's name.</summary>
    public static string ScheduleName(string projectName, string pipelineName) => ScheduleNaming.RuleName(projectName, pipelineName);

    /// <summary>The role created when none is given.</summary>
    public static string RoleName(string projectName, string pipelineName) =>
        ScheduleNaming.DefaultRoleName(projectName, pipelineName).Replace("-lambda-role", "-scheduler-role", StringComparison.Ordinal);

    /// <summary>Trust: EventBridge Scheduler only.</summary>
    public static string TrustPolicy() =>
        """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";

    /// <summary>
    /// Permission: one action on one pipeline, and with a dead-letter queue, sending to that one queue (the Scheduler
    /// sends dead letters as the schedule's role, so without it a failed start would be lost silently).
    /// </summary>
    public static string StartPipelinePolicy(string pipelineArn, string? deadLetterQueueArn = null) => JsonSerializer.Serialize(new
    {
        Version = "2012-10-17",
        Statement = deadLetterQueueArn is null
            ? new[] { new { Sid = "StartThePipeline", Effect = "Allow", Action = "sagemaker:StartPipelineExecution", Resource = pipelineArn } }
            : [
                new { Sid = "StartThePipeline", Effect = "Allow", Action = "sagemaker:StartPipelineExecution", Resource = pipelineArn },
                new { Sid = "SendDeadLetters", Effect = "Allow", Action = "sqs:SendMessage", Resource = deadLetterQueueArn },
            ],
    });

    /// <summary>The calls <see cref="EnsureAsync"/> may make, for -WhatIf.</summary>
    public static IEnumerable<string> Describe(ServerlessScheduleRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var name = ScheduleName(request.ProjectName, request.PipelineName);
        yield return $"scheduler:GetScheduleGroup {GroupName}, scheduler:CreateScheduleGroup {GroupName} when missing";
        if (request.SchedulerRoleArn is null)
        {
            var role = RoleName(request.ProjectName, request.PipelineName);
            yield return $"iam:GetRole {role}, iam:CreateRole {role} when missing (trusts scheduler.amazonaws.com only)";
            yield return $"iam:GetRolePolicy {role} {PolicyName}, iam:PutRolePolicy when it differs (sagemaker:StartPipelineExecution on {request.PipelineArn} only"
                + (request.DeadLetterQueueArn is null ? ")" : $", sqs:SendMessage on {request.DeadLetterQueueArn} only)");
        }
        yield return $"scheduler:GetSchedule {GroupName}/{name}, scheduler:CreateSchedule or UpdateSchedule when it differs ('{request.Schedule.Expression}' in {request.Schedule.TimeZoneId}, target {request.PipelineArn})";
    }

    /// <summary>Creates or updates the group, the role and the schedule; returns the schedule as read back.</summary>
    public async Task<ServerlessScheduleState> EnsureAsync(ServerlessScheduleRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var changes = new List<string>();
        var scheduler = new SchedulerClient(_session);
        if (await scheduler.FindScheduleGroupAsync(GroupName, cancellationToken).ConfigureAwait(false) is null)
        {
            await scheduler.CreateScheduleGroupAsync(GroupName, [new AwsTag { Key = ScheduleNaming.CreatedByTag, Value = ScheduleNaming.CreatedByValue }], cancellationToken).ConfigureAwait(false);
            changes.Add($"schedule group {GroupName} created");
        }
        var roleArn = request.SchedulerRoleArn ?? await EnsureRoleAsync(request, changes, cancellationToken).ConfigureAwait(false);
        var name = ScheduleName(request.ProjectName, request.PipelineName);
        var wanted = ScheduleBody(request, roleArn);
        var existing = await scheduler.FindScheduleAsync(name, GroupName, cancellationToken).ConfigureAwait(false);
        if (existing is null)
        {
            await scheduler.CreateScheduleAsync(name, wanted, cancellationToken).ConfigureAwait(false);
            changes.Add($"schedule {GroupName}/{name} created");
        }
        else if (!Same(existing, wanted))
        {
            // Keep the state the user chose with Enable/Disable.
            await scheduler.UpdateScheduleAsync(name, With(wanted, existing.State), cancellationToken).ConfigureAwait(false);
            changes.Add($"schedule {GroupName}/{name} updated");
        }
        return await GetAsync(request.ProjectName, request.PipelineName, changes, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The schedule {GroupName}/{name} does not read back after it was put.");
    }

    /// <summary>The schedule as read back, or null when there is none.</summary>
    public async Task<ServerlessScheduleState?> GetAsync(string projectName, string pipelineName, IReadOnlyList<string> changes, CancellationToken cancellationToken)
    {
        var name = ScheduleName(projectName, pipelineName);
        var schedule = await new SchedulerClient(_session).FindScheduleAsync(name, GroupName, cancellationToken).ConfigureAwait(false);
        return schedule is null ? null : ToState(projectName, pipelineName, schedule, changes);
    }

    /// <summary>Every schedule of the module's group (of one project when given).</summary>
    public async Task<IReadOnlyList<ServerlessScheduleState>> ListAsync(string? projectName, CancellationToken cancellationToken)
    {
        var scheduler = new SchedulerClient(_session);
        if (await scheduler.FindScheduleGroupAsync(GroupName, cancellationToken).ConfigureAwait(false) is null)
        {
            return [];
        }
        var result = new List<ServerlessScheduleState>();
        var prefix = projectName is null ? ScheduleNaming.Prefix : $"{ScheduleNaming.Prefix}{projectName}-";
        foreach (var summary in await scheduler.ListSchedulesAsync(GroupName, prefix, cancellationToken).ConfigureAwait(false))
        {
            var schedule = await scheduler.GetScheduleAsync(summary.Name, GroupName, cancellationToken).ConfigureAwait(false);
            if (ReadDescription(schedule.Description) is { } description && (projectName is null || description.Project == projectName))
            {
                result.Add(ToState(description.Project, description.Pipeline, schedule, []));
            }
        }
        return result;
    }

    /// <summary>Enables or disables the schedule, then reads it back to confirm.</summary>
    public async Task<ServerlessScheduleState> SetStateAsync(string projectName, string pipelineName, bool enabled, CancellationToken cancellationToken)
    {
        var scheduler = new SchedulerClient(_session);
        var name = ScheduleName(projectName, pipelineName);
        var schedule = await scheduler.FindScheduleAsync(name, GroupName, cancellationToken).ConfigureAwait(false)
            ?? throw new ScheduleNotFoundException(name, $"There is no serverless schedule for pipeline '{pipelineName}' of project '{projectName}' (no EventBridge Scheduler schedule '{GroupName}/{name}' in {_session.Region}). Create it with New-RlabsPipelineSchedule -Serverless.");
        var wantedState = enabled ? "ENABLED" : "DISABLED";
        var changes = new List<string>();
        if (schedule.State != wantedState)
        {
            // UpdateSchedule replaces the whole schedule: send back what was read, with the new state.
            await scheduler.UpdateScheduleAsync(name, new SchedulerScheduleRequest
            {
                GroupName = GroupName,
                Description = schedule.Description,
                ScheduleExpression = schedule.ScheduleExpression ?? string.Empty,
                ScheduleExpressionTimezone = schedule.ScheduleExpressionTimezone,
                StartDate = schedule.StartDate,
                EndDate = schedule.EndDate,
                State = wantedState,
                FlexibleTimeWindow = schedule.FlexibleTimeWindow ?? new SchedulerFlexibleTimeWindow(),
                Target = schedule.Target ?? new SchedulerTarget(),
                KmsKeyArn = schedule.KmsKeyArn,
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"schedule {GroupName}/{name} {(enabled ? "enabled" : "disabled")}");
        }
        var after = await scheduler.GetScheduleAsync(name, GroupName, cancellationToken).ConfigureAwait(false);
        if (after.State != wantedState)
        {
            throw new InvalidOperationException($"The schedule '{GroupName}/{name}' reads back as {after.State} after UpdateSchedule.");
        }
        _reporter.Verbose($"Schedule {GroupName}/{name} is {after.State} (read back).");
        return ToState(projectName, pipelineName, after, changes);
    }

    /// <summary>Deletes the schedule and the role this module created for it; each may already be gone.</summary>
    public async Task<ServerlessScheduleRemoval> RemoveAsync(string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        var plan = await PlanRemovalAsync(projectName, pipelineName, cancellationToken).ConfigureAwait(false);
        var removed = new List<string>();
        await RemoveAsync(plan, removed, cancellationToken).ConfigureAwait(false);
        return new ServerlessScheduleRemoval(plan.ScheduleName, removed, plan.RoleKeptBecause is null ? [] : [plan.RoleKeptBecause]);
    }

    /// <summary>
    /// Reads what a removal would delete, deleting nothing: a missing permission stops here. Only the schedule's own
    /// role (<see cref="RoleName"/>) goes, and only when this module created it: a role given with -RoleArn is never
    /// deleted, even one this module created for another schedule.
    /// </summary>
    public async Task<SchedulerTriggerRemoval> PlanRemovalAsync(string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        var iam = new IamClient(_session);
        var name = ScheduleName(projectName, pipelineName);
        var schedule = await new SchedulerClient(_session).FindScheduleAsync(name, GroupName, cancellationToken).ConfigureAwait(false);
        var roleName = RoleName(projectName, pipelineName);
        var targetRole = schedule?.Target?.RoleArn is { Length: > 0 } roleArn ? roleArn.Split('/')[^1] : null;
        var given = targetRole is not null && targetRole != roleName ? $"role {targetRole}: given with -RoleArn, never deleted" : null;
        var role = await iam.FindRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
        if (role is null)
        {
            return new SchedulerTriggerRemoval(name, schedule, roleName, false, given ?? $"role {roleName}: not found", false);
        }
        if (role.Description?.StartsWith(ScheduleManager.RoleDescriptionPrefix, StringComparison.Ordinal) != true)
        {
            return new SchedulerTriggerRemoval(name, schedule, roleName, false, given ?? $"role {roleName}: not created by Rlabs.Pipelines", false);
        }
        var policy = await iam.FindRolePolicyAsync(roleName, PolicyName, cancellationToken).ConfigureAwait(false);
        return new SchedulerTriggerRemoval(name, schedule, roleName, true, given, policy is not null);
    }

    /// <summary>
    /// Deletes what <paramref name="plan"/> found: the schedule first (so nothing fires with a role that is going),
    /// then the created role; appends each deletion to <paramref name="removed"/> as it happens.
    /// </summary>
    public async Task RemoveAsync(SchedulerTriggerRemoval plan, List<string> removed, CancellationToken cancellationToken)
    {
        await RemoveScheduleAsync(plan, removed, cancellationToken).ConfigureAwait(false);
        await RemoveRoleAsync(plan, removed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes the schedule <paramref name="plan"/> found (a warning when it was already gone).</summary>
    public async Task RemoveScheduleAsync(SchedulerTriggerRemoval plan, List<string> removed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(removed);
        if (plan.Schedule is null)
        {
            _reporter.Warning($"The schedule '{GroupName}/{plan.ScheduleName}' was already gone; removing the rest.");
            return;
        }
        try
        {
            await new SchedulerClient(_session).DeleteScheduleAsync(plan.ScheduleName, GroupName, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            // Deleted meanwhile: the goal is reached.
        }
        removed.Add($"schedule {GroupName}/{plan.ScheduleName}");
    }

    /// <summary>Deletes the role <paramref name="plan"/> found when this module created it (with its inline policy).</summary>
    public async Task RemoveRoleAsync(SchedulerTriggerRemoval plan, List<string> removed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(removed);
        if (!plan.RoleCreatedByModule)
        {
            return;
        }
        var iam = new IamClient(_session);
        if (plan.HasInlinePolicy)
        {
            await IgnoreNotFound(() => iam.DeleteRolePolicyAsync(plan.RoleName, PolicyName, cancellationToken)).ConfigureAwait(false);
            removed.Add($"inline policy {PolicyName} of role {plan.RoleName}");
        }
        await IgnoreNotFound(() => iam.DeleteRoleAsync(plan.RoleName, cancellationToken)).ConfigureAwait(false);
        removed.Add($"role {plan.RoleName}");
    }

    private static async Task IgnoreNotFound(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            // Already gone: what a removal wants.
        }
    }

    private async Task<string> EnsureRoleAsync(ServerlessScheduleRequest request, List<string> changes, CancellationToken cancellationToken)
    {
        var iam = new IamClient(_session);
        var roleName = RoleName(request.ProjectName, request.PipelineName);
        var role = await iam.FindRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
        if (role is null)
        {
            role = await iam.CreateRoleAsync(new CreateRoleRequest
            {
                RoleName = roleName,
                AssumeRolePolicyDocument = TrustPolicy(),
                Description = $"{ScheduleManager.RoleDescriptionPrefix}: lets the schedule {request.ProjectName}/{request.PipelineName} start its SageMaker pipeline",
                Tags =
                [
                    new AwsTag { Key = ScheduleNaming.CreatedByTag, Value = ScheduleNaming.CreatedByValue },
                    new AwsTag { Key = ScheduleNaming.ProjectTag, Value = request.ProjectName },
                ],
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"role {roleName} created");
        }
        else if (role.Description?.StartsWith(ScheduleManager.RoleDescriptionPrefix, StringComparison.Ordinal) != true)
        {
            _reporter.Warning($"The role '{roleName}' was not created by this module, so it is used as it is: it must let EventBridge Scheduler call sagemaker:StartPipelineExecution on {request.PipelineArn}.");
            return role.Arn;
        }
        else if (!PolicyDocuments.AreEquivalent(role.AssumeRolePolicyDocument, TrustPolicy()))
        {
            throw new InvalidOperationException($"The role '{roleName}' (created by this module) no longer trusts scheduler.amazonaws.com alone; remove the schedule (Remove-RlabsPipelineSchedule) or fix its trust policy.");
        }
        var wanted = StartPipelinePolicy(request.PipelineArn, request.DeadLetterQueueArn);
        var current = await iam.FindRolePolicyAsync(roleName, PolicyName, cancellationToken).ConfigureAwait(false);
        if (!PolicyDocuments.AreEquivalent(current, wanted))
        {
            await iam.PutRolePolicyAsync(roleName, PolicyName, wanted, cancellationToken).ConfigureAwait(false);
            changes.Add(current is null ? $"inline policy {PolicyName} of role {roleName} put" : $"inline policy {PolicyName} of role {roleName} updated");
        }
        return role.Arn;
    }

    private static SchedulerScheduleRequest ScheduleBody(ServerlessScheduleRequest request, string roleArn) => new()
    {
        GroupName = GroupName,
        Description = WriteDescription(new ServerlessDescription(request.ProjectName, request.PipelineName, request.PipelineRelativePath)),
        ScheduleExpression = request.Schedule.Expression,
        ScheduleExpressionTimezone = request.Schedule.TimeZoneId,
        StartDate = request.StartDate,
        EndDate = request.EndDate,
        State = "ENABLED",
        FlexibleTimeWindow = request.FlexibleWindowMinutes > 0
            ? new SchedulerFlexibleTimeWindow { Mode = "FLEXIBLE", MaximumWindowInMinutes = request.FlexibleWindowMinutes }
            : new SchedulerFlexibleTimeWindow { Mode = "OFF" },
        Target = new SchedulerTarget
        {
            Arn = request.PipelineArn,
            RoleArn = roleArn,
            RetryPolicy = request.MaximumRetryAttempts is null && request.MaximumEventAgeSeconds is null
                ? null
                : new SchedulerRetryPolicy { MaximumRetryAttempts = request.MaximumRetryAttempts, MaximumEventAgeInSeconds = request.MaximumEventAgeSeconds },
            DeadLetterConfig = request.DeadLetterQueueArn is null ? null : new SchedulerDeadLetterConfig { Arn = request.DeadLetterQueueArn },
        },
    };

    private static SchedulerScheduleRequest With(SchedulerScheduleRequest body, string? state) => new()
    {
        GroupName = body.GroupName,
        Description = body.Description,
        ScheduleExpression = body.ScheduleExpression,
        ScheduleExpressionTimezone = body.ScheduleExpressionTimezone,
        StartDate = body.StartDate,
        EndDate = body.EndDate,
        State = state ?? body.State,
        FlexibleTimeWindow = body.FlexibleTimeWindow,
        Target = body.Target,
    };

    /// <summary>Whether the schedule read back already is what would be written (its state aside).</summary>
    private static bool Same(SchedulerSchedule existing, SchedulerScheduleRequest wanted)
    {
        var target = existing.Target;
        var parameters = target?.SageMakerPipelineParameters?.PipelineParameterList ?? [];
        var wantedParameters = wanted.Target.SageMakerPipelineParameters?.PipelineParameterList ?? [];
        return existing.Description == wanted.Description
            && existing.ScheduleExpression == wanted.ScheduleExpression
            && (existing.ScheduleExpressionTimezone ?? "UTC") == (wanted.ScheduleExpressionTimezone ?? "UTC")
            && existing.StartDate == wanted.StartDate
            && existing.EndDate == wanted.EndDate
            && existing.FlexibleTimeWindow?.Mode == wanted.FlexibleTimeWindow.Mode
            && existing.FlexibleTimeWindow?.MaximumWindowInMinutes == wanted.FlexibleTimeWindow.MaximumWindowInMinutes
            && target is not null
            && target.Arn == wanted.Target.Arn
            && target.RoleArn == wanted.Target.RoleArn
            && parameters.Select(p => (p.Name, p.Value)).SequenceEqual(wantedParameters.Select(p => (p.Name, p.Value)))
            && target.RetryPolicy?.MaximumRetryAttempts == wanted.Target.RetryPolicy?.MaximumRetryAttempts
            && target.RetryPolicy?.MaximumEventAgeInSeconds == wanted.Target.RetryPolicy?.MaximumEventAgeInSeconds
            && target.DeadLetterConfig?.Arn == wanted.Target.DeadLetterConfig?.Arn;
    }

    private static ServerlessScheduleState ToState(string projectName, string pipelineName, SchedulerSchedule schedule, IReadOnlyList<string> changes)
    {
        var enabled = schedule.State != "DISABLED";
        IReadOnlyList<DateTimeOffset> next = [];
        SchedulerExpression? expression = null;
        try
        {
            expression = SchedulerExpression.Parse(schedule.ScheduleExpression ?? string.Empty, schedule.ScheduleExpressionTimezone);
            var from = schedule.StartDate is { } start && start > DateTimeOffset.UtcNow ? start.AddTicks(-1) : DateTimeOffset.UtcNow;
            next = enabled ? expression.NextOccurrences(from, 3, schedule.StartDate ?? schedule.CreationDate).Where(t => schedule.EndDate is not { } end || t < end).ToList() : [];
        }
        catch (ArgumentException)
        {
            // Edited by hand into something this module does not read: show it without next times.
        }
        var zone = expression?.TimeZone ?? TimeZoneInfo.Utc;
        return new ServerlessScheduleState(projectName, pipelineName, schedule.Name, schedule.Arn,
            enabled ? RlabsScheduleState.Enabled : RlabsScheduleState.Disabled,
            schedule.ScheduleExpression ?? string.Empty, schedule.ScheduleExpressionTimezone ?? "UTC",
            schedule.Target?.Arn ?? string.Empty, schedule.Target?.RoleArn ?? string.Empty,
            next, next.Select(t => TimeZoneInfo.ConvertTime(t, zone)).ToList(), changes)
        {
            PipelinePath = ReadDescription(schedule.Description)?.Path,
        };
    }

    private static string WriteDescription(ServerlessDescription description) => DescriptionPrefix + JsonSerializer.Serialize(description);

    private static ServerlessDescription? ReadDescription(string? description)
    {
        if (description is null || !description.StartsWith(DescriptionPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<ServerlessDescription>(description[DescriptionPrefix.Length..]);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record ServerlessDescription(string Project, string Pipeline, string? Path);
}
