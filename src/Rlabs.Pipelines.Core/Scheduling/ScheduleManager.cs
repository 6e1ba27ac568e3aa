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
/// group; the function is invokable only by the one rule.
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
            await PrepareInstanceAsync(request, approved, changes, cancellationToken).ConfigureAwait(false);
        }

        string? roleArn = null;
        if ((approved & ScheduleSteps.Role) != 0)
        {
            roleArn = await EnsureRoleAsync(request, partition, region, identity.Account, functionName, changes, cancellationToken).ConfigureAwait(false);
        }

        var lambda = new LambdaClient(_session);
        string? functionArn = null;
        if ((approved & ScheduleSteps.Function) != 0)
        {
            roleArn ??= (await new IamClient(_session).GetRoleAsync(request.RoleName, cancellationToken).ConfigureAwait(false)).Arn;
            functionArn = await EnsureFunctionAsync(request, functionName, roleArn, ruleArn, changes, cancellationToken).ConfigureAwait(false);
        }

        if ((approved & ScheduleSteps.Rule) != 0)
        {
            functionArn ??= (await lambda.GetFunctionAsync(functionName, cancellationToken).ConfigureAwait(false)).Configuration.FunctionArn;
            await EnsureRuleAsync(request, ruleName, functionName, functionArn, changes, cancellationToken).ConfigureAwait(false);
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
    public async Task<string> RemoveCronEntryAsync(string instanceId, string pemFile, string userName, int sshPort, KnownHosts knownHosts, bool acceptChangedHostKey, string projectName, string pipelineName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(knownHosts);
        using var ec2 = new Ec2Client(_session);
        var instance = await ec2.DescribeInstanceAsync(instanceId, cancellationToken).ConfigureAwait(false);
        var host = instance.PublicIpAddress ?? instance.PublicDnsName ?? instance.PrivateIpAddress;
        if (instance.State != "running" || host is null)
        {
            return $"kept: the instance {instanceId} is {instance.State}; its crontab line '# {new InstanceLayout("/home/x", projectName, pipelineName).CronMarker}' stays until you remove it (crontab -e) or run Remove-RlabsPipelineSchedule again while it runs";
        }
        var fingerprints = await ConsoleFingerprintsAsync(ec2, instanceId, cancellationToken).ConfigureAwait(false);
        using var remote = await RemoteInstance.ConnectAsync(new SshEndpoint(host, sshPort, userName, pemFile, instanceId), knownHosts, acceptChangedHostKey, fingerprints, TimeSpan.Zero, _reporter, cancellationToken).ConfigureAwait(false);
        var layout = new InstanceLayout(remote.Home, projectName, pipelineName);
        var result = await remote.RunCheckedAsync("bash -c " + ShellQuote.Quote(InstanceScripts.CronScript(layout, install: false)), "Removing the crontab line", cancellationToken).ConfigureAwait(false);
        return result.Output.Contains("unchanged", StringComparison.Ordinal) ? "no crontab line on the instance" : $"crontab line removed on {instanceId}";
    }

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

    /// <summary>The host key fingerprints in the instance's console output; empty when it has none (yet) or may not be read.</summary>
    private async Task<IReadOnlyList<string>> ConsoleFingerprintsAsync(Ec2Client ec2, string instanceId, CancellationToken cancellationToken)
    {
        try
        {
            var fingerprints = KnownHosts.ConsoleFingerprints(await ec2.GetConsoleOutputAsync(instanceId, cancellationToken).ConfigureAwait(false));
            _reporter.Verbose(fingerprints.Count == 0
                ? $"The console output of {instanceId} holds no SSH host key fingerprints (yet): a first-contact key cannot be checked against it."
                : $"The console output of {instanceId} lists {fingerprints.Count} SSH host key fingerprint(s); a first-contact key must be one of them.");
            return fingerprints;
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.AccessDenied)
        {
            _reporter.Warning($"Cannot read the console output of {instanceId} ({ex.ErrorCode}): a first-contact host key cannot be checked. Allow ec2:GetConsoleOutput to have it checked.");
            return [];
        }
    }

    private async Task PrepareInstanceAsync(ScheduleRequest request, ScheduleSteps approved, List<string> changes, CancellationToken cancellationToken)
    {
        using var ec2 = new Ec2Client(_session);
        var instance = await ec2.DescribeInstanceAsync(request.InstanceId, cancellationToken).ConfigureAwait(false);
        // Only an instance that is booting gets time for sshd to come up; one that already ran must answer
        // at once, so a closed or filtered port fails within the connect timeout, not after the boot wait.
        var booting = instance.State != "running";
        if (booting)
        {
            if ((approved & ScheduleSteps.StartInstance) == 0)
            {
                _reporter.Warning($"The instance {request.InstanceId} is {instance.State} and starting it was not approved; its set-up and the file transfer are skipped.");
                return;
            }
            if (instance.State is "stopping" or "shutting-down")
            {
                _reporter.Verbose($"The instance {request.InstanceId} is {instance.State}; waiting for it to stop before starting it.");
                await ec2.WaitForStateAsync(request.InstanceId, "stopped", _options.PollInterval, _options.InstanceStartTimeout, cancellationToken).ConfigureAwait(false);
            }
            if (instance.State != "pending")
            {
                await ec2.StartInstanceAsync(request.InstanceId, cancellationToken).ConfigureAwait(false);
                changes.Add($"instance {request.InstanceId} started");
            }
            _reporter.Verbose($"Waiting for {request.InstanceId} to run.");
            instance = await ec2.WaitForStateAsync(request.InstanceId, "running", _options.PollInterval, _options.InstanceStartTimeout, cancellationToken).ConfigureAwait(false);
        }
        var host = instance.PublicIpAddress ?? instance.PublicDnsName ?? instance.PrivateIpAddress
            ?? throw new InvalidOperationException($"The instance {request.InstanceId} has no address to connect to.");
        if ((approved & (ScheduleSteps.SetUpInstance | ScheduleSteps.TransferFiles)) == 0)
        {
            return;
        }
        var endpoint = new SshEndpoint(host, request.SshPort, request.Ec2UserName, request.PemFile, request.InstanceId);
        var fingerprints = await ConsoleFingerprintsAsync(ec2, request.InstanceId, cancellationToken).ConfigureAwait(false);
        using var remote = await RemoteInstance.ConnectAsync(endpoint, request.KnownHosts, request.AcceptChangedHostKey, fingerprints, booting ? _options.SshWaitTimeout : TimeSpan.Zero, _reporter, cancellationToken).ConfigureAwait(false);
        var layout = new InstanceLayout(remote.Home, request.ProjectName, request.PipelineName);
        await remote.EnsureDirectoryAsync(layout.ProjectDirectory, cancellationToken, mode: 0x1C0).ConfigureAwait(false);

        if ((approved & ScheduleSteps.TransferFiles) != 0)
        {
            // The key the module logs in with never goes to the instance, even when it sits in the repository.
            var excluded = new List<string> { request.PemFile };
            if (request.CredentialsFile is not null)
            {
                excluded.Add(request.CredentialsFile);
            }
            var selection = SourcePackager.Select(request.RepositoryPath, excluded, request.PackageSecrets);
            foreach (var secret in selection.SkippedSecrets)
            {
                _reporter.Warning($"Not transferring '{secret}': it looks like a key or credentials file (list it under 'package_secrets:' to send it).");
            }
            foreach (var link in selection.SkippedLinks)
            {
                _reporter.Warning($"Not transferring the link '{link}': it points outside the repository.");
            }
            var sync = await remote.SyncDirectoryAsync(selection.Files, layout.RepositoryDirectory, cancellationToken).ConfigureAwait(false);
            if (sync.Changed)
            {
                changes.Add($"repository: {sync.Uploaded.Count} file(s) sent, {sync.Deleted.Count} removed");
            }
            _reporter.Verbose($"Repository on the instance: {sync.Uploaded.Count} sent, {sync.Deleted.Count} removed, {sync.Unchanged} unchanged.");
            if (request.CredentialsFile is not null)
            {
                var content = await File.ReadAllBytesAsync(request.CredentialsFile, cancellationToken).ConfigureAwait(false);
                if (await remote.WriteFileAsync(layout.CredentialsFile, content, 0x180, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add("credentials file (mode 600)");
                }
            }
        }

        if ((approved & ScheduleSteps.SetUpInstance) != 0)
        {
            var moduleFiles = Directory.EnumerateFiles(request.ModuleDirectory, "*", SearchOption.AllDirectories)
                .Select(f => (Path.GetRelativePath(request.ModuleDirectory, f).Replace('\\', '/'), f))
                .OrderBy(f => f.Item1, StringComparer.Ordinal)
                .ToList();
            var module = await remote.SyncDirectoryAsync(moduleFiles, layout.ModuleDirectory, cancellationToken).ConfigureAwait(false);
            if (module.Changed)
            {
                changes.Add($"module: {module.Uploaded.Count} file(s) sent, {module.Deleted.Count} removed");
            }
            await remote.EnsureDirectoryAsync(layout.ScheduleDirectory, cancellationToken).ConfigureAwait(false);
            foreach (var (name, content) in InstanceScripts.Generate(layout, request.PipelineRelativePath, request.SageMakerInstanceType))
            {
                var mode = name.EndsWith(".sh", StringComparison.Ordinal) ? 0x1C0 : 0x180;
                if (await remote.WriteFileAsync($"{layout.ScheduleDirectory}/{name}", Encoding.UTF8.GetBytes(content), mode, cancellationToken).ConfigureAwait(false))
                {
                    changes.Add($"instance script {name}");
                }
            }
            var setup = await remote.RunCheckedAsync("bash " + ShellQuote.Quote($"{layout.ScheduleDirectory}/{InstanceScripts.SetupScriptName}"), "The instance set-up", cancellationToken).ConfigureAwait(false);
            foreach (var line in setup.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                _reporter.Verbose(line);
                if (line.StartsWith("rlabs-cron: ", StringComparison.Ordinal) && !line.EndsWith("unchanged", StringComparison.Ordinal))
                {
                    changes.Add($"crontab {line["rlabs-cron: ".Length..]}");
                }
                else if (line.StartsWith("rlabs-setup: ", StringComparison.Ordinal) && (line.Contains("created", StringComparison.Ordinal) || line.Contains("installed", StringComparison.Ordinal)))
                {
                    changes.Add(line["rlabs-setup: ".Length..]);
                }
            }
        }
    }

    private async Task<string> EnsureRoleAsync(ScheduleRequest request, string partition, string region, string account, string functionName, List<string> changes, CancellationToken cancellationToken)
    {
        var iam = new IamClient(_session);
        var role = await iam.FindRoleAsync(request.RoleName, cancellationToken).ConfigureAwait(false);
        var ours = role is null || role.Description?.StartsWith(RoleDescriptionPrefix, StringComparison.Ordinal) == true;
        if (role is null)
        {
            role = await iam.CreateRoleAsync(new CreateRoleRequest
            {
                RoleName = request.RoleName,
                AssumeRolePolicyDocument = TrustPolicy(),
                Description = $"{RoleDescriptionPrefix}: lets the schedule {request.ProjectName}/{request.PipelineName} start its EC2 instance",
                Tags =
                [
                    new AwsTag { Key = ScheduleNaming.CreatedByTag, Value = ScheduleNaming.CreatedByValue },
                    new AwsTag { Key = ScheduleNaming.ProjectTag, Value = request.ProjectName },
                ],
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"role {request.RoleName} created");
        }
        if (ours)
        {
            // Look before writing: IAM gives the document back re-serialised, so compare what it grants.
            var wanted = StartInstancePolicy(partition, region, account, request.InstanceId, functionName);
            var current = await iam.FindRolePolicyAsync(request.RoleName, functionName, cancellationToken).ConfigureAwait(false);
            if (!PolicyDocuments.AreEquivalent(current, wanted))
            {
                await iam.PutRolePolicyAsync(request.RoleName, functionName, wanted, cancellationToken).ConfigureAwait(false);
                changes.Add(current is null ? $"inline policy {functionName} of role {request.RoleName} put" : $"inline policy {functionName} of role {request.RoleName} updated");
            }
        }
        else
        {
            _reporter.Warning($"The role '{request.RoleName}' was not created by this module, so it is used as it is: it must let Lambda call ec2:StartInstances on {request.InstanceId}.");
        }
        return role.Arn;
    }

    private async Task<string> EnsureFunctionAsync(ScheduleRequest request, string functionName, string roleArn, string ruleArn, List<string> changes, CancellationToken cancellationToken)
    {
        var lambda = new LambdaClient(_session);
        var zip = HandlerZip();
        var codeSha256 = Convert.ToBase64String(SHA256.HashData(zip));
        var environment = new FunctionEnvironment { Variables = new Dictionary<string, string> { [InstanceIdVariable] = request.InstanceId } };
        var description = $"Rlabs.Pipelines: starts {request.InstanceId} for {request.ProjectName}/{request.PipelineName}";
        var existing = await lambda.FindFunctionAsync(functionName, cancellationToken).ConfigureAwait(false);
        string functionArn;
        if (existing is null)
        {
            var deadline = DateTimeOffset.UtcNow + _options.RolePropagationTimeout;
            while (true)
            {
                try
                {
                    functionArn = (await lambda.CreateFunctionAsync(new CreateFunctionRequest
                    {
                        FunctionName = functionName,
                        Runtime = _options.LambdaRuntime,
                        Role = roleArn,
                        Handler = LambdaHandler,
                        Code = new FunctionCode { ZipFile = zip },
                        Description = description,
                        Timeout = 30,
                        MemorySize = 128,
                        Environment = environment,
                        Tags = new Dictionary<string, string>
                        {
                            [ScheduleNaming.ProjectTag] = request.ProjectName,
                            [ScheduleNaming.PipelineTag] = request.PipelineName,
                            [ScheduleNaming.InstanceTag] = request.InstanceId,
                        },
                    }, cancellationToken).ConfigureAwait(false)).FunctionArn;
                    break;
                }
                catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.Validation && ex.AwsMessage.Contains("assume", StringComparison.OrdinalIgnoreCase) && DateTimeOffset.UtcNow < deadline)
                {
                    _reporter.Verbose("Lambda cannot assume the new role yet (IAM propagates in seconds); retrying.");
                    await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                }
            }
            changes.Add($"function {functionName} created");
        }
        else
        {
            var configuration = existing.Configuration;
            functionArn = configuration.FunctionArn;
            if (configuration.CodeSha256 != codeSha256)
            {
                await lambda.UpdateFunctionCodeAsync(functionName, zip, cancellationToken).ConfigureAwait(false);
                changes.Add($"function {functionName} code updated");
            }
            var variables = configuration.Environment?.Variables;
            if (configuration.Role != roleArn || configuration.Handler != LambdaHandler || configuration.Runtime != _options.LambdaRuntime || configuration.Description != description
                || variables is null || variables.Count != 1 || !variables.TryGetValue(InstanceIdVariable, out var id) || id != request.InstanceId)
            {
                await lambda.UpdateFunctionConfigurationAsync(new UpdateFunctionConfigurationRequest
                {
                    FunctionName = functionName,
                    Role = roleArn,
                    Handler = LambdaHandler,
                    Runtime = _options.LambdaRuntime,
                    Description = description,
                    Environment = environment,
                }, cancellationToken).ConfigureAwait(false);
                changes.Add($"function {functionName} configuration updated");
            }
        }
        // Look before writing: a second AddPermission with the same statement id is answered 409.
        var policy = await lambda.FindPolicyAsync(functionName, cancellationToken).ConfigureAwait(false);
        if (!PolicyDocuments.HasPermission(policy, PermissionStatementId, "events.amazonaws.com", "lambda:InvokeFunction", ruleArn))
        {
            if (PolicyDocuments.HasStatement(policy, PermissionStatementId))
            {
                // A statement of that id grants something else (edited by hand): replace it.
                await lambda.RemovePermissionAsync(functionName, PermissionStatementId, cancellationToken).ConfigureAwait(false);
            }
            await lambda.AddPermissionAsync(new AddPermissionRequest
            {
                FunctionName = functionName,
                StatementId = PermissionStatementId,
                Action = "lambda:InvokeFunction",
                Principal = "events.amazonaws.com",
                SourceArn = ruleArn,
            }, cancellationToken).ConfigureAwait(false);
            changes.Add($"permission for rule {ruleArn.Split('/')[^1]} to invoke {functionName}");
        }
        return functionArn;
    }

    private async Task EnsureRuleAsync(ScheduleRequest request, string ruleName, string functionName, string functionArn, List<string> changes, CancellationToken cancellationToken)
    {
        var events = new EventBridgeClient(_session);
        var description = WriteDescription(new ScheduleDescription(request.ProjectName, request.PipelineRelativePath, request.InstanceId, request.RoleName, functionName));
        var rule = await events.FindRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        if (rule is null || rule.ScheduleExpression != request.Schedule.Expression || !rule.IsEnabled || rule.Description != description)
        {
            await events.PutRuleAsync(new PutRuleRequest
            {
                Name = ruleName,
                ScheduleExpression = request.Schedule.Expression,
                State = "ENABLED",
                Description = description,
                Tags = rule is null
                    ?
                    [
                        new AwsTag { Key = ScheduleNaming.ProjectTag, Value = request.ProjectName },
                        new AwsTag { Key = ScheduleNaming.PipelineTag, Value = request.PipelineName },
                        new AwsTag { Key = ScheduleNaming.InstanceTag, Value = request.InstanceId },
                    ]
                    : null,
            }, cancellationToken).ConfigureAwait(false);
            changes.Add(rule is null ? $"rule {ruleName} created" : $"rule {ruleName} updated");
        }
        var targets = await events.ListTargetsByRuleAsync(ruleName, cancellationToken).ConfigureAwait(false);
        if (targets.Targets.Count != 1 || targets.Targets[0].Id != TargetId || targets.Targets[0].Arn != functionArn || targets.Targets[0].Input is not null)
        {
            var stale = targets.Targets.Where(t => t.Id != TargetId).Select(t => t.Id).ToList();
            if (stale.Count > 0)
            {
                await events.RemoveTargetsAsync(ruleName, stale, cancellationToken).ConfigureAwait(false);
            }
            await events.PutTargetsAsync(ruleName, [new EventTarget { Id = TargetId, Arn = functionArn }], cancellationToken).ConfigureAwait(false);
            changes.Add($"rule {ruleName} targets {functionName}");
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
