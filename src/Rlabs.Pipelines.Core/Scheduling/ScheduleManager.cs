using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Packaging;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Scheduling;

/// <summary>Timings and choices of the schedule workflow (tests shorten the timings).</summary>
public sealed class ScheduleOptions
{
    /// <summary>
    /// The starter function's Lambda runtime. Override with the RLABS_LAMBDA_RUNTIME environment variable
    /// when AWS deprecates the default, or for an emulator whose service model predates it.
    /// </summary>
    public string LambdaRuntime { get; init; } = Environment.GetEnvironmentVariable("RLABS_LAMBDA_RUNTIME") is { Length: > 0 } runtime ? runtime : ScheduleManager.DefaultLambdaRuntime;

    /// <summary>How often instance state is polled.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a start may take to reach 'running'.</summary>
    public TimeSpan InstanceStartTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long to wait for SSH to answer after the instance runs.</summary>
    public TimeSpan SshWaitTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long Lambda may refuse a new role (IAM is eventually consistent).</summary>
    public TimeSpan RolePropagationTimeout { get; init; } = TimeSpan.FromSeconds(90);
}

/// <summary>What a removal did.</summary>
/// <param name="RuleName">The rule.</param>
/// <param name="Removed">What was deleted, in order.</param>
/// <param name="Kept">What stayed, and why.</param>
public sealed record ScheduleRemoval(string RuleName, IReadOnlyList<string> Removed, IReadOnlyList<string> Kept);

/// <summary>
/// Schedules a pipeline the seed's way, idempotently: each step looks before it writes, so running it
/// again changes nothing. The role gets only ec2:StartInstances on the one instance plus its function's log
/// group; the function is invokable only by the one rule. The work is done by the kind's three parts:
/// executor (<see cref="Ec2InstanceExecutor"/>), starter (<see cref="LambdaStarter"/>) and trigger
/// (<see cref="EventBridgeRuleTrigger"/>); the serverless kind has a trigger only (<see cref="SchedulerTrigger"/>:
/// the Scheduler starts the pipeline itself).
/// </summary>
public sealed class ScheduleManager
{
    /// <summary>Default Lambda runtime of the starter function (the handler needs only boto3, which every Python runtime has).</summary>
    public const string DefaultLambdaRuntime = "python3.12";

    /// <summary>Handler (module.function) inside the zip.</summary>
    public const string LambdaHandler = "rlabs_start_instance.handler";

    /// <summary>The environment variable holding the instance id.</summary>
    public const string InstanceIdVariable = "RLABS_INSTANCE_ID";

    /// <summary>The rule target's id.</summary>
    public const string TargetId = "rlabs-start-instance";

    /// <summary>The function policy statement letting the rule invoke it.</summary>
    public const string PermissionStatementId = "rlabs-eventbridge-invoke";

    /// <summary>Starts descriptions of roles this module created.</summary>
    public const string RoleDescriptionPrefix = "Created by Rlabs.Pipelines";

    private const string RuleDescriptionPrefix = "Rlabs.Pipelines schedule ";

    private static readonly string[] s_logActions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"];

    private static readonly JsonSerializerOptions s_json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly AwsSession _session;
    private readonly IRunReporter _reporter;
    private readonly ScheduleOptions _options;

    /// <summary>Creates the manager over an AWS session.</summary>
    public ScheduleManager(AwsSession session, IRunReporter reporter, ScheduleOptions? options = null)
    {
        _session = session;
        _reporter = reporter;
        _options = options ?? new ScheduleOptions();
    }

    /// <summary>The Lambda handler's Python source.</summary>
    public static string HandlerSource()
    {
        using var stream = typeof(ScheduleManager).Assembly.GetManifestResourceStream("Rlabs.Pipelines.Scheduling.Lambda.rlabs_start_instance.py")
            ?? throw new InvalidOperationException("The Lambda handler resource is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().ReplaceLineEndings("\n");
    }

    /// <summary>The deployment zip: one entry, fixed timestamp, so the same source gives the same bytes (and CodeSha256).</summary>
    public static byte[] HandlerZip()
    {
        using var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            var entry = archive.CreateEntry("rlabs_start_instance.py", CompressionLevel.Optimal);
            entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
            entry.ExternalAttributes = 0x1A4 << 16;
            using var writer = new StreamWriter(entry.Open(), new UTF8Encoding(false));
            writer.Write(HandlerSource());
        }
        return buffer.ToArray();
    }

    /// <summary>The role's trust policy: Lambda may assume it, nothing else.</summary>
    public static string TrustPolicy() =>
        """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";

    /// <summary>The inline policy: start this one instance; create and write this function's log group only.</summary>
    public static string StartInstancePolicy(string partition, string region, string account, string instanceId, string functionName) =>
        JsonSerializer.Serialize(new
        {
            Version = "2012-10-17",
            Statement = new object[]
            {
                new { Sid = "StartThePipelineInstance", Effect = "Allow", Action = "ec2:StartInstances", Resource = $"arn:{partition}:ec2:{region}:{account}:instance/{instanceId}" },
                new
                {
                    Sid = "WriteOwnLogs",
                    Effect = "Allow",
                    Action = s_logActions,
                    Resource = $"arn:{partition}:logs:{region}:{account}:log-group:{ScheduleNaming.LogGroupName(functionName)}:*",
                },
            },
        });

    /// <summary>Runs the approved steps of scheduling and returns the schedule as read back.</summary>
    public async Task<RlabsPipelineSchedule> ScheduleAsync(ScheduleRequest request, ScheduleSteps approved, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var changes = new List<string>();
        var pipelineName = request.PipelineName;
        var ruleName = ScheduleNaming.RuleName(request.ProjectName, pipelineName);
        var functionName = ScheduleNaming.FunctionName(request.ProjectName, pipelineName);
        var identity = await _session.GetCallerIdentityAsync(cancellationToken).ConfigureAwait(false);
        var partition = identity.Arn.Split(':') is { Length: > 2 } parts ? parts[1] : "aws";
        var region = _session.Region;
        var ruleArn = $"arn:{partition}:events:{region}:{identity.Account}:rule/{ruleName}";

        if ((approved & (ScheduleSteps.StartInstance | ScheduleSteps.SetUpInstance | ScheduleSteps.TransferFiles)) != 0)
        {
            await new Ec2InstanceExecutor(_session, _reporter, _options).PrepareAsync(request, approved, changes, cancellationToken).ConfigureAwait(false);
        }

        var starter = new LambdaStarter(_session, _reporter, _options);
        string? roleArn = null;
        if ((approved & ScheduleSteps.Role) != 0)
        {
            roleArn = await starter.EnsureRoleAsync(request, partition, region, identity.Account, functionName, changes, cancellationToken).ConfigureAwait(false);
        }

        var lambda = new LambdaClient(_session);
        string? functionArn = null;
        if ((approved & ScheduleSteps.Function) != 0)
        {
            roleArn ??= (await new IamClient(_session).GetRoleAsync(request.RoleName, cancellationToken).ConfigureAwait(false)).Arn;
            functionArn = await starter.EnsureFunctionAsync(request, functionName, roleArn, ruleArn, changes, cancellationToken).ConfigureAwait(false);
        }

        if ((approved & ScheduleSteps.Rule) != 0)
        {
            functionArn ??= (await lambda.GetFunctionAsync(functionName, cancellationToken).ConfigureAwait(false)).Configuration.FunctionArn;
            await new EventBridgeRuleTrigger(_session).EnsureRuleAsync(request, ruleName, functionName, functionArn, changes, cancellationToken).ConfigureAwait(false);
        }

        if ((approved & ScheduleSteps.Rule) == 0)
        {
            // Nothing was put (-WhatIf or declined): describe what would be there.
            return new RlabsPipelineSchedule(request.ProjectName, pipelineName, request.PipelineRelativePath, ruleName, ruleArn, RlabsScheduleState.Enabled,
                request.Schedule.Expression, NextRuns(request.Schedule), functionName, functionArn, request.RoleName, request.InstanceId, changes);
        }
        var rule = await new EventBridgeClient(_session).DescribeRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        return ToSchedule(rule, functionArn, changes);
    }

    /// <summary>The schedules this module created (rules with our prefix and description), optionally filtered.</summary>
    public async Task<IReadOnlyList<RlabsPipelineSchedule>> GetAsync(string? projectName, string? pipelineName, CancellationToken cancellationToken)
    {
        var events = new EventBridgeClient(_session);
        var prefix = projectName is null ? ScheduleNaming.Prefix : $"{ScheduleNaming.Prefix}{projectName}-";
        var schedules = new List<RlabsPipelineSchedule>();
        foreach (var listed in await events.ListAllRulesAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (ReadDescription(listed.Description) is not { } description
                || (projectName is not null && description.Project != projectName)
                || (pipelineName is not null && ScheduleNaming.PipelineName(description.Pipeline) != pipelineName))
            {
                continue;
            }
            schedules.Add(ToSchedule(listed, null, []));
        }
        return schedules;
    }

    /// <summary>Enables or disables the rule, then reads it back to confirm the new state.</summary>
    public async Task<RlabsPipelineSchedule> SetStateAsync(string projectName, string pipelineName, bool enabled, CancellationToken cancellationToken)
    {
        var events = new EventBridgeClient(_session);
        var ruleName = ScheduleNaming.RuleName(projectName, pipelineName);
        var before = await events.FindRuleAsync(ruleName, cancellationToken).ConfigureAwait(false)
            ?? throw new ScheduleNotFoundException(ruleName, $"There is no schedule for pipeline '{pipelineName}' of project '{projectName}' (no EventBridge rule '{ruleName}' in {_session.Region}). Create it with New-RlabsPipelineSchedule; Get-RlabsPipelineSchedule lists the existing ones.");
        var changes = new List<string>();
        if (before.IsEnabled != enabled)
        {
            if (enabled)
            {
                await events.EnableRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await events.DisableRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
            }
            changes.Add($"rule {ruleName} {(enabled ? "enabled" : "disabled")}");
        }
        var after = await events.DescribeRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        if (after.IsEnabled != enabled)
        {
            throw new InvalidOperationException($"The rule '{ruleName}' reads back as {after.State} after {(enabled ? "EnableRule" : "DisableRule")}.");
        }
        _reporter.Verbose($"Rule {ruleName} is {after.State} (read back).");
        return ToSchedule(after, null, changes);
    }

    /// <summary>
    /// Deletes targets, rule, permission, function, the inline policy, and the role when this module created
    /// it and nothing else uses it. Each part may already be gone (deleted by hand).
    /// </summary>
    public async Task<ScheduleRemoval> RemoveAsync(string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        var events = new EventBridgeClient(_session);
        var lambda = new LambdaClient(_session);
        var iam = new IamClient(_session);
        var ruleName = ScheduleNaming.RuleName(projectName, pipelineName);
        var functionName = ScheduleNaming.FunctionName(projectName, pipelineName);
        var removed = new List<string>();
        var kept = new List<string>();

        var rule = await events.FindRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        var function = await lambda.FindFunctionAsync(functionName, cancellationToken).ConfigureAwait(false);
        var roleName = ReadDescription(rule?.Description)?.Role
            ?? function?.Configuration.Role?.Split('/')[^1]
            ?? ScheduleNaming.DefaultRoleName(projectName, pipelineName);
        if (rule is not null)
        {
            var targets = await events.ListTargetsByRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
            if (targets.Targets.Count > 0)
            {
                await events.RemoveTargetsAsync(ruleName, targets.Targets.Select(t => t.Id).ToList(), cancellationToken).ConfigureAwait(false);
                removed.Add($"targets of rule {ruleName}");
            }
            await events.DeleteRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
            removed.Add($"rule {ruleName}");
        }
        else
        {
            _reporter.Warning($"The rule '{ruleName}' was already gone (deleted by hand?); removing the rest.");
        }
        if (function is not null)
        {
            await IgnoreNotFound(() => lambda.RemovePermissionAsync(functionName, PermissionStatementId, cancellationToken)).ConfigureAwait(false);
            await lambda.DeleteFunctionAsync(functionName, cancellationToken).ConfigureAwait(false);
            removed.Add($"function {functionName} and its EventBridge permission");
        }
        var role = await iam.FindRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
        if (role is null)
        {
            kept.Add($"role {roleName}: not found");
        }
        else if (role.Description?.StartsWith(RoleDescriptionPrefix, StringComparison.Ordinal) != true)
        {
            kept.Add($"role {roleName}: not created by Rlabs.Pipelines");
        }
        else
        {
            await IgnoreNotFound(() => iam.DeleteRolePolicyAsync(roleName, functionName, cancellationToken)).ConfigureAwait(false);
            removed.Add($"inline policy {functionName} of role {roleName}");
            try
            {
                await iam.DeleteRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
                removed.Add($"role {roleName}");
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.Conflict)
            {
                kept.Add($"role {roleName}: still used by other schedules of the project");
            }
        }
        return new ScheduleRemoval(ruleName, removed, kept);
    }

    /// <summary>
    /// Removes this pipeline's @reboot line from the instance's crontab when the instance runs and answers
    /// SSH; returns what happened. A stopped instance is not started just for this.
    /// </summary>
    public Task<string> RemoveCronEntryAsync(string instanceId, string pemFile, string userName, int sshPort, KnownHosts knownHosts, bool acceptChangedHostKey, string projectName, string pipelineName, CancellationToken cancellationToken) =>
        new Ec2InstanceExecutor(_session, _reporter, _options).RemoveCronEntryAsync(instanceId, pemFile, userName, sshPort, knownHosts, acceptChangedHostKey, projectName, pipelineName, cancellationToken);

    /// <summary>What the rule's description records about the schedule.</summary>
    internal static ScheduleDescription? ReadDescription(string? description)
    {
        if (description is null || !description.StartsWith(RuleDescriptionPrefix, StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<ScheduleDescription>(description[RuleDescriptionPrefix.Length..], s_json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal static string WriteDescription(ScheduleDescription description) => RuleDescriptionPrefix + JsonSerializer.Serialize(description, s_json);

    private static List<DateTime> NextRuns(ScheduleExpression schedule) =>
        schedule.NextOccurrences(DateTimeOffset.UtcNow, 3).Select(t => t.UtcDateTime).ToList();

    private static RlabsPipelineSchedule ToSchedule(EventRule rule, string? functionArn, IReadOnlyList<string> changes)
    {
        var description = ReadDescription(rule.Description);
        var next = rule.ScheduleExpression is { } text && ScheduleExpression.TryParse(text, out var parsed, out _) ? NextRuns(parsed) : [];
        var project = description?.Project ?? string.Empty;
        var pipeline = description is null ? rule.Name : ScheduleNaming.PipelineName(description.Pipeline);
        return new RlabsPipelineSchedule(project, pipeline, description?.Pipeline, rule.Name, rule.Arn,
            rule.IsEnabled ? RlabsScheduleState.Enabled : RlabsScheduleState.Disabled, rule.ScheduleExpression ?? string.Empty, next,
            description?.Function ?? rule.Name, functionArn, description?.Role, description?.Instance, changes);
    }

    private static async Task IgnoreNotFound(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
        }
    }

}

/// <summary>What the rule's description records, so Get/Remove can find the rest.</summary>
/// <param name="Project">Sanitized project name.</param>
/// <param name="Pipeline">Pipeline file relative to the repository.</param>
/// <param name="Instance">EC2 instance id.</param>
/// <param name="Role">Lambda role name.</param>
/// <param name="Function">Lambda function name.</param>
internal sealed record ScheduleDescription(
    [property: JsonPropertyName("project")] string Project,
    [property: JsonPropertyName("pipeline")] string Pipeline,
    [property: JsonPropertyName("instance")] string Instance,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("function")] string Function);

/// <summary>No schedule (EventBridge rule) exists for that project and pipeline.</summary>
public sealed class ScheduleNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScheduleNotFoundException(string ruleName, string message)
        : base(message)
    {
        RuleName = ruleName;
    }

    /// <summary>Creates the exception.</summary>
    public ScheduleNotFoundException()
        : this(string.Empty, "The schedule does not exist.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public ScheduleNotFoundException(string message)
        : this(string.Empty, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ScheduleNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
        RuleName = string.Empty;
    }

    /// <summary>The rule looked for.</summary>
    public string RuleName { get; }
}
