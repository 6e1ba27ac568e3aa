using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>The whole schedule workflow against the AWS emulator and a real sshd standing in for the instance.</summary>
[Collection(SshServerGroup.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
[Trait("Tier", "Emulator")]
[Trait("Tier", "Ssh")]
public sealed class ScheduleManagerTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private static readonly string[] s_readOnlyPrefixes = ["Describe", "Get", "List"];

    private readonly SshServerFixture _server;
    private readonly EmulatorFixture _aws;
    private readonly string _local = Path.Combine(Path.GetTempPath(), "rlabs-tests", "schedule-" + Guid.NewGuid().ToString("N"));
    private readonly string _instanceId = "i-" + Guid.NewGuid().ToString("N")[..17];
    private readonly Reporter _reporter = new();

    public ScheduleManagerTests(SshServerFixture server, EmulatorFixture aws)
    {
        _server = server;
        _aws = aws;
        _server.ResetAccount();
        Directory.CreateDirectory(_local);
        _aws.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = _instanceId, State = "stopped", PublicIpAddress = "127.0.0.1", TransitionMs = 20 });
    }

    public void Dispose() => Directory.Delete(_local, recursive: true);

    [Fact]
    public async Task Should_start_set_up_and_schedule_the_instance_and_change_nothing_when_run_again()
    {
        _server.InstallPowerShellForTestUser();
        _server.SetCrontab("0 4 * * * /usr/bin/true # someone else's job\n");
        using var session = _aws.Session();
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        var request = Request("churn-model", "rate(1 day)");

        var first = await manager.ScheduleAsync(request, ScheduleSteps.All, CancellationToken.None);

        Assert.Equal("running", _aws.Emulator.Ec2.StateOf(_instanceId));
        Assert.Contains($"instance {_instanceId} started", first.Changes);
        Assert.Equal("rlabs-churn-model-daily-run", first.RuleName);
        Assert.Equal(RlabsScheduleState.Enabled, first.State);
        Assert.Equal("rate(1 day)", first.ScheduleExpression);
        Assert.Equal(3, first.NextRunTimes.Count);
        Assert.All(first.NextRunTimes, t => Assert.Equal(DateTimeKind.Utc, t.Kind));
        Assert.Equal("pipelines/daily_run.yaml", first.PipelinePath);
        Assert.Equal((_instanceId, "churn-model-daily-run-lambda-role"), (first.InstanceId, first.RoleName));

        // The instance: repository without .git, data or ignored files; credentials 600; module; scripts; crontab.
        var layout = new InstanceLayout(_server.Home, "churn-model", "daily-run");
        Assert.Equal([".gitignore", "pipelines/daily_run.yaml", "requirements.txt", "src/churn/train.py"], ListFiles(layout.RepositoryDirectory));
        Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(layout.CredentialsFile));
        Assert.Equal("aws:\n  region: eu-west-1\n", await File.ReadAllTextAsync(layout.CredentialsFile));
        Assert.True(File.Exists(layout.ModulePath));
        Assert.Equal($"0 4 * * * /usr/bin/true # someone else's job\n{InstanceScripts.CronLine(layout)}\n", SshServerFixture.Crontab());
        Assert.Equal(0, ScriptHarness.Run("bash", ["-n", layout.RunScript]).ExitCode);
        var shellcheck = ScriptHarness.Run("shellcheck", ["--shell=bash", layout.RunScript, $"{layout.ScheduleDirectory}/setup.sh", $"{layout.ScheduleDirectory}/cron.sh"]);
        Assert.True(shellcheck.ExitCode == 0, shellcheck.Output);
        Assert.Contains($"instance_type='ml.t3.xlarge'", await File.ReadAllTextAsync(layout.RunScript), StringComparison.Ordinal);

        // AWS: least-privilege role, function with the instance id, permission bound to the rule, rule → function.
        var role = _aws.Emulator.Requests.For("iam", "CreateRole").Single(r => (string?)r.Parameters!["RoleName"] == "churn-model-daily-run-lambda-role");
        Assert.Contains("lambda.amazonaws.com", (string?)role.Parameters!["AssumeRolePolicyDocument"], StringComparison.Ordinal);
        var policy = JsonNode.Parse((string)_aws.Emulator.Requests.For("iam", "PutRolePolicy")[^1].Parameters!["PolicyDocument"]!)!;
        var statements = policy["Statement"]!.AsArray();
        Assert.Equal(2, statements.Count);
        Assert.Equal("ec2:StartInstances", (string?)statements[0]!["Action"]);
        Assert.Equal($"arn:aws:ec2:eu-west-1:123456789012:instance/{_instanceId}", (string?)statements[0]!["Resource"]);
        Assert.Equal("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/rlabs-churn-model-daily-run:*", (string?)statements[1]!["Resource"]);
        var lambda = new LambdaClient(session);
        var function = await lambda.GetFunctionAsync("rlabs-churn-model-daily-run", CancellationToken.None);
        Assert.Equal(_instanceId, function.Configuration.Environment!.Variables![ScheduleManager.InstanceIdVariable]);
        Assert.Equal((FastOptions.LambdaRuntime, ScheduleManager.LambdaHandler), (function.Configuration.Runtime, function.Configuration.Handler));
        // The permission may come from an earlier test of the same schedule name: read it rather than the request log.
        Assert.True(PolicyDocuments.HasPermission(await lambda.FindPolicyAsync("rlabs-churn-model-daily-run", CancellationToken.None),
            ScheduleManager.PermissionStatementId, "events.amazonaws.com", "lambda:InvokeFunction", first.RuleArn));
        var targets = await new EventBridgeClient(session).ListTargetsByRuleAsync(first.RuleName, CancellationToken.None);
        Assert.Equal(function.Configuration.FunctionArn, Assert.Single(targets.Targets).Arn);

        // Again: nothing to change, so nothing written (each part is read and compared first).
        var marker = _aws.Emulator.Requests.All.Count;
        var crontab = SshServerFixture.Crontab();
        var manifest = await File.ReadAllTextAsync(InstanceLayout.ManifestPathFor(layout.RepositoryDirectory));
        var second = await manager.ScheduleAsync(request, ScheduleSteps.All, CancellationToken.None);

        Assert.Empty(second.Changes);
        Assert.Equal(crontab, SshServerFixture.Crontab());
        Assert.Equal(manifest, await File.ReadAllTextAsync(InstanceLayout.ManifestPathFor(layout.RepositoryDirectory)));
        var writes = _aws.Emulator.Requests.All.Skip(marker).Select(r => r.Operation).Where(o => !s_readOnlyPrefixes.Any(p => o.StartsWith(p, StringComparison.Ordinal))).Distinct().Order().ToList();
        Assert.Empty(writes);
        Assert.Contains(_aws.Emulator.Requests.All.Skip(marker), r => r.Operation == "GetRolePolicy");
        Assert.Contains(_aws.Emulator.Requests.All.Skip(marker), r => r.Operation == "GetPolicy");
        Assert.Equal(first.RuleArn, second.RuleArn);
    }

    [Fact]
    public async Task Should_update_only_what_changed_when_the_schedule_or_files_change()
    {
        _server.InstallPowerShellForTestUser();
        using var session = _aws.Session();
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        await manager.ScheduleAsync(Request("churn-model", "rate(1 day)"), ScheduleSteps.All, CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(_local, "repo", "src", "churn", "train.py"), "print('v2')\n");

        var changed = await manager.ScheduleAsync(Request("churn-model", "cron(0 6 ? * MON-FRI *)"), ScheduleSteps.All, CancellationToken.None);

        Assert.Equal(["repository: 1 file(s) sent, 0 removed", "rule rlabs-churn-model-daily-run updated"], changed.Changes);
        Assert.Equal("cron(0 6 ? * MON-FRI *)", changed.ScheduleExpression);
        Assert.All(changed.NextRunTimes, t => Assert.True(t.DayOfWeek is not DayOfWeek.Saturday and not DayOfWeek.Sunday && t.Hour == 6));
    }

    [Fact]
    public async Task Should_make_no_change_at_all_when_no_step_is_approved()
    {
        using var session = _aws.Session();
        var marker = _aws.Emulator.Requests.All.Count;

        var preview = await new ScheduleManager(session, _reporter, FastOptions).ScheduleAsync(Request("whatif", "rate(5 minutes)"), ScheduleSteps.None, CancellationToken.None);

        Assert.Equal("rlabs-whatif-daily-run", preview.RuleName);
        Assert.Empty(preview.Changes);
        Assert.All(_aws.Emulator.Requests.All.Skip(marker), r => Assert.True(s_readOnlyPrefixes.Any(p => r.Operation.StartsWith(p, StringComparison.Ordinal)), r.Operation));
        Assert.Equal("stopped", _aws.Emulator.Ec2.StateOf(_instanceId));
        Assert.Null(await new EventBridgeClient(session).FindRuleAsync("rlabs-whatif-daily-run", CancellationToken.None));
    }

    [Fact]
    public async Task Should_list_disable_enable_and_remove_a_schedule_reading_the_state_back()
    {
        using var session = _aws.Session();
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        var project = "toggle-" + Guid.NewGuid().ToString("N")[..6];
        await manager.ScheduleAsync(Request(project, "rate(2 hours)"), ScheduleSteps.Role | ScheduleSteps.Function | ScheduleSteps.Rule, CancellationToken.None);

        var listed = Assert.Single(await manager.GetAsync(project, null, CancellationToken.None));
        var disabled = await manager.SetStateAsync(project, "daily-run", enabled: false, CancellationToken.None);
        var disabledAgain = await manager.SetStateAsync(project, "daily-run", enabled: false, CancellationToken.None);
        var rule = await new EventBridgeClient(session).DescribeRuleAsync(disabled.RuleName, CancellationToken.None);
        var enabled = await manager.SetStateAsync(project, "daily-run", enabled: true, CancellationToken.None);
        var removal = await manager.RemoveAsync(project, "daily-run", CancellationToken.None);

        Assert.Equal((project, "daily-run", "pipelines/daily_run.yaml", RlabsScheduleState.Enabled), (listed.ProjectName, listed.PipelineName, listed.PipelinePath, listed.State));
        Assert.Equal(RlabsScheduleState.Disabled, disabled.State);
        Assert.Equal("DISABLED", rule.State);
        Assert.Empty(disabledAgain.Changes);
        Assert.Equal(RlabsScheduleState.Enabled, enabled.State);
        Assert.Equal([$"targets of rule rlabs-{project}-daily-run", $"rule rlabs-{project}-daily-run", $"function rlabs-{project}-daily-run and its EventBridge permission", $"inline policy rlabs-{project}-daily-run of role {project}-daily-run-lambda-role", $"role {project}-daily-run-lambda-role"], removal.Removed);
        Assert.Empty(await manager.GetAsync(project, null, CancellationToken.None));
        Assert.Null(await new IamClient(session).FindRoleAsync($"{project}-daily-run-lambda-role", CancellationToken.None));
        Assert.Null(await new LambdaClient(session).FindFunctionAsync($"rlabs-{project}-daily-run", CancellationToken.None));
    }

    [Fact]
    public async Task Should_handle_a_rule_someone_deleted_by_hand()
    {
        using var session = _aws.Session();
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        var project = "byhand-" + Guid.NewGuid().ToString("N")[..6];
        var schedule = await manager.ScheduleAsync(Request(project, "rate(1 hour)"), ScheduleSteps.Role | ScheduleSteps.Function | ScheduleSteps.Rule, CancellationToken.None);
        var events = new EventBridgeClient(session);
        await events.RemoveTargetsAsync(schedule.RuleName, [ScheduleManager.TargetId], CancellationToken.None);
        await events.DeleteRuleAsync(schedule.RuleName, CancellationToken.None);

        var listed = await manager.GetAsync(project, null, CancellationToken.None);
        var missing = await Assert.ThrowsAsync<ScheduleNotFoundException>(() => manager.SetStateAsync(project, "daily-run", enabled: true, CancellationToken.None));
        var removal = await manager.RemoveAsync(project, "daily-run", CancellationToken.None);

        Assert.Empty(listed);
        Assert.Equal(schedule.RuleName, missing.RuleName);
        Assert.Contains("New-RlabsPipelineSchedule", missing.Message, StringComparison.Ordinal);
        Assert.Contains(_reporter.Warnings, w => w.Contains("already gone", StringComparison.Ordinal));
        Assert.Equal([$"function rlabs-{project}-daily-run and its EventBridge permission", $"inline policy rlabs-{project}-daily-run of role {project}-daily-run-lambda-role", $"role {project}-daily-run-lambda-role"], removal.Removed);
    }

    [Fact]
    public async Task Should_keep_a_role_this_module_did_not_create()
    {
        using var session = _aws.Session();
        var iam = new IamClient(session);
        var roleName = "team-role-" + Guid.NewGuid().ToString("N")[..6];
        await iam.CreateRoleAsync(new CreateRoleRequest { RoleName = roleName, AssumeRolePolicyDocument = ScheduleManager.TrustPolicy(), Description = "made by the platform team" }, CancellationToken.None);
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        var project = "foreign-" + Guid.NewGuid().ToString("N")[..6];
        var marker = _aws.Emulator.Requests.All.Count;

        await manager.ScheduleAsync(Request(project, "rate(1 hour)", roleName), ScheduleSteps.Role | ScheduleSteps.Function | ScheduleSteps.Rule, CancellationToken.None);
        var removal = await manager.RemoveAsync(project, "daily-run", CancellationToken.None);

        Assert.DoesNotContain(_aws.Emulator.Requests.All.Skip(marker), r => r.Operation is "PutRolePolicy" or "DeleteRolePolicy" or "DeleteRole");
        Assert.Contains(_reporter.Warnings, w => w.Contains("not created by this module", StringComparison.Ordinal));
        Assert.Equal([$"role {roleName}: not created by Rlabs.Pipelines"], removal.Kept);
        Assert.NotNull(await iam.FindRoleAsync(roleName, CancellationToken.None));
    }

    [Fact]
    public async Task Should_start_the_instance_from_the_generated_handler_under_python3_and_boto3()
    {
        var python = "/usr/bin/python3";
        var handlerDirectory = Path.Combine(_local, "lambda");
        Directory.CreateDirectory(handlerDirectory);
        System.IO.Compression.ZipFile.ExtractToDirectory(new MemoryStream(ScheduleManager.HandlerZip()), handlerDirectory);
        Assert.Equal("stopped", _aws.Emulator.Ec2.StateOf(_instanceId));
        var environment = new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL"] = _aws.Endpoint,
            ["AWS_ACCESS_KEY_ID"] = EmulatorFixture.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = "emulator-secret",
            ["AWS_DEFAULT_REGION"] = "eu-west-1",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_CONFIG_FILE"] = "/dev/null",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
            [ScheduleManager.InstanceIdVariable] = _instanceId,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        };
        var script = "import json, rlabs_start_instance; print(json.dumps(rlabs_start_instance.handler({'resources': ['arn:aws:events:eu-west-1:123456789012:rule/r']}, None)))";

        var (exit, output) = ScriptHarness.Run(python, ["-c", script], environment, handlerDirectory);

        Assert.True(exit == 0, output);
        var result = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
        Assert.Equal(_instanceId, (string?)result["instance"]);
        Assert.Equal("stopped", (string?)result["previous_state"]);
        Assert.Equal("arn:aws:events:eu-west-1:123456789012:rule/r", (string?)result["rule"]);
        Assert.Contains(_aws.Emulator.Ec2.StateOf(_instanceId), new[] { "pending", "running" });
        Assert.Contains(_aws.Emulator.Requests.For("ec2", "StartInstances"), r => r.Parameters!.ToJsonString().Contains(_instanceId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_send_no_key_secret_or_outside_link_to_the_instance()
    {
        _server.InstallPowerShellForTestUser();
        var repo = Path.Combine(_local, "repo");
        Request("churn-model", "rate(1 day)");
        var pem = Path.Combine(repo, "deploy", "instance-key");
        Directory.CreateDirectory(Path.GetDirectoryName(pem)!);
        File.Copy(_server.Ed25519Key, pem);
        File.SetUnixFileMode(pem, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Write(repo, ".env.local", "DB_PASSWORD=x\n");
        Write(repo, "conf/service-account.json", "{}");
        Write(_local, "outside/creds.yaml", "aws: {}\n");
        File.CreateSymbolicLink(Path.Combine(repo, "conf", "settings.yaml"), Path.Combine(_local, "outside", "creds.yaml"));
        using var session = _aws.Session();

        await new ScheduleManager(session, _reporter, FastOptions).ScheduleAsync(Request("churn-model", "rate(1 day)", pemFile: pem), ScheduleSteps.All, CancellationToken.None);

        var layout = new InstanceLayout(_server.Home, "churn-model", "daily-run");
        Assert.Equal([".gitignore", "pipelines/daily_run.yaml", "requirements.txt", "src/churn/train.py"], ListFiles(layout.RepositoryDirectory));
        Assert.Contains(_reporter.Warnings, w => w.Contains(".env.local", StringComparison.Ordinal));
        Assert.Contains(_reporter.Warnings, w => w.Contains("conf/settings.yaml", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_refuse_an_instance_whose_host_key_is_not_in_its_console_output()
    {
        _aws.Emulator.Ec2.Seed(new Ec2InstanceSeed
        {
            InstanceId = _instanceId, State = "running", PublicIpAddress = "127.0.0.1",
            ConsoleOutput = "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\nec2: 256 SHA256:AAAAnotThisServersKeyAAAAAAAAAAAAAAAAAAAAAAA root@ip (ED25519)\nec2: -----END SSH HOST KEY FINGERPRINTS-----\n",
        });
        using var session = _aws.Session();
        var request = Request("churn-model", "rate(1 day)");

        var refused = await Assert.ThrowsAsync<RemoteInstanceException>(() => new ScheduleManager(session, _reporter, FastOptions).ScheduleAsync(request, ScheduleSteps.All, CancellationToken.None));

        Assert.Equal(RemoteFailure.HostKeyUnverified, refused.Failure);
        Assert.False(Directory.Exists(new InstanceLayout(_server.Home, "churn-model", "daily-run").RepositoryDirectory));
        Assert.False(File.Exists(request.KnownHosts.Path));
        Assert.Single(_aws.Emulator.Requests.For("ec2", "GetConsoleOutput"));
    }

    [Fact]
    public async Task Should_rewrite_only_the_policy_and_permission_someone_changed_by_hand()
    {
        using var session = _aws.Session();
        var manager = new ScheduleManager(session, _reporter, FastOptions);
        var project = "drift-" + Guid.NewGuid().ToString("N")[..6];
        var steps = ScheduleSteps.Role | ScheduleSteps.Function | ScheduleSteps.Rule;
        var first = await manager.ScheduleAsync(Request(project, "rate(1 hour)"), steps, CancellationToken.None);
        var roleName = $"{project}-daily-run-lambda-role";
        var functionName = $"rlabs-{project}-daily-run";
        var iam = new IamClient(session);
        var lambda = new LambdaClient(session);
        await iam.PutRolePolicyAsync(roleName, functionName, """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}""", CancellationToken.None);
        await lambda.RemovePermissionAsync(functionName, ScheduleManager.PermissionStatementId, CancellationToken.None);
        await lambda.AddPermissionAsync(new AddPermissionRequest { FunctionName = functionName, StatementId = ScheduleManager.PermissionStatementId, Action = "lambda:InvokeFunction", Principal = "events.amazonaws.com", SourceArn = first.RuleArn + "-other" }, CancellationToken.None);
        var marker = _aws.Emulator.Requests.All.Count;

        var repaired = await manager.ScheduleAsync(Request(project, "rate(1 hour)"), steps, CancellationToken.None);

        var writes = _aws.Emulator.Requests.All.Skip(marker).Select(r => r.Operation).Where(o => !s_readOnlyPrefixes.Any(p => o.StartsWith(p, StringComparison.Ordinal))).ToList();
        Assert.Equal(["PutRolePolicy", "RemovePermission", "AddPermission"], writes);
        Assert.Equal([$"inline policy {functionName} of role {roleName} updated", $"permission for rule rlabs-{project}-daily-run to invoke {functionName}"], repaired.Changes);
        Assert.True(PolicyDocuments.HasPermission(await lambda.FindPolicyAsync(functionName, CancellationToken.None), ScheduleManager.PermissionStatementId, "events.amazonaws.com", "lambda:InvokeFunction", first.RuleArn));
    }

    [Fact]
    public async Task Should_fail_at_once_when_a_running_instance_does_not_answer_ssh()
    {
        var runningId = "i-" + Guid.NewGuid().ToString("N")[..17];
        _aws.Emulator.Ec2.Seed(new Ec2InstanceSeed { InstanceId = runningId, State = "running", PublicIpAddress = "127.0.0.1", TransitionMs = 20 });
        using var session = _aws.Session();
        // A boot wait long enough that waiting for it would stall the test run: it must not be used.
        var manager = new ScheduleManager(session, _reporter, new ScheduleOptions { LambdaRuntime = "python3.9", PollInterval = TimeSpan.FromMilliseconds(20), SshWaitTimeout = TimeSpan.FromHours(1) });
        var request = Request("closed-port", "rate(1 day)");
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        request = new ScheduleRequest
        {
            InstanceId = runningId, PemFile = request.PemFile, Ec2UserName = request.Ec2UserName, SshPort = closedPort, RepositoryPath = request.RepositoryPath,
            ProjectName = request.ProjectName, PipelineRelativePath = request.PipelineRelativePath, Schedule = request.Schedule, RoleName = request.RoleName,
            ModuleDirectory = request.ModuleDirectory, KnownHosts = request.KnownHosts,
        };

        var marker = _aws.Emulator.Requests.All.Count;

        var failure = await Assert.ThrowsAsync<RemoteInstanceException>(() => manager.ScheduleAsync(request, ScheduleSteps.All, CancellationToken.None));

        Assert.Equal(RemoteFailure.Unreachable, failure.Failure);
        Assert.Contains("1 attempt(s), not retried because the instance was already running", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_aws.Emulator.Requests.All.Skip(marker), r => r.Operation is "StartInstances" or "CreateRole" or "CreateFunction" or "PutRule");
    }

    [Fact]
    public void Should_zip_the_handler_deterministically() =>
        Assert.Equal(ScheduleManager.HandlerZip(), ScheduleManager.HandlerZip());

    // The emulator validates against Debian's botocore 1.29 service model, whose newest Python runtime is 3.9.
    private static ScheduleOptions FastOptions { get; } = new() { LambdaRuntime = "python3.9", PollInterval = TimeSpan.FromMilliseconds(20), InstanceStartTimeout = TimeSpan.FromSeconds(10), SshWaitTimeout = TimeSpan.FromSeconds(20) };

    private ScheduleRequest Request(string project, string expression, string? roleName = null, string? pemFile = null)
    {
        var repo = Path.Combine(_local, "repo");
        if (!Directory.Exists(repo))
        {
            Write(repo, ".gitignore", "data/\n");
            Write(repo, ".git/HEAD", "ref: refs/heads/main\n");
            Write(repo, "data/raw.csv", "x\n");
            Write(repo, "pipelines/daily_run.yaml", "pipeline: []\n");
            Write(repo, "requirements.txt", "pandas\n");
            Write(repo, "src/churn/train.py", "print('train')\n");
            Write(repo, "credentials.yaml", "aws:\n  region: eu-west-1\n");
            Write(Path.Combine(_local, "module"), "Rlabs.Pipelines.psd1", "@{ ModuleVersion = '0.1.0'; GUID = '6f3c2a0e-8d4b-4e62-9a1f-2b7c5d9e4a13' }\n");
        }
        return new ScheduleRequest
        {
            InstanceId = _instanceId,
            PemFile = pemFile ?? _server.Ed25519Key,
            Ec2UserName = SshServerFixture.UserName,
            SshPort = _server.Port,
            RepositoryPath = repo,
            ProjectName = project,
            PipelineRelativePath = "pipelines/daily_run.yaml",
            CredentialsFile = Path.Combine(repo, "credentials.yaml"),
            Schedule = ScheduleExpression.Parse(expression),
            RoleName = roleName ?? ScheduleNaming.DefaultRoleName(project, "daily-run"),
            ModuleDirectory = Path.Combine(_local, "module"),
            KnownHosts = new KnownHosts(Path.Combine(_local, "known_hosts")),
        };
    }

    private static void Write(string root, string relative, string content)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private static List<string> ListFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(directory, f))
            .Order(StringComparer.Ordinal)
            .ToList();

    private sealed class Reporter : IRunReporter
    {
        public List<string> Warnings { get; } = [];

        public void Progress(RunProgress progress)
        {
        }

        public void Verbose(string message)
        {
        }

        public void Warning(string message)
        {
            lock (Warnings)
            {
                Warnings.Add(message);
            }
        }
    }
}
