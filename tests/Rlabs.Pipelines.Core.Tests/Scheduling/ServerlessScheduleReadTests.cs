using System.Text.Json;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>
/// The read, state and remove side of both schedule kinds against the emulator: <see cref="ScheduleKinds"/> lists and
/// toggles whichever kind exists, a serverless toggle sends every field back, a serverless removal deletes only what
/// this module made and is idempotent, and <see cref="PipelineRunHistory"/> lists a project's executions as runs.
/// </summary>
[Trait("Tier", "Emulator")]
public sealed class ServerlessScheduleReadTests : IClassFixture<EmulatorFixture>
{
    private static readonly string[] s_readOnlyPrefixes = ["Describe", "Get", "List", "Head"];
    private readonly EmulatorFixture _aws;

    public ServerlessScheduleReadTests(EmulatorFixture aws)
    {
        _aws = aws;
    }

    [Fact]
    public async Task Should_list_both_kinds_filter_by_kind_and_give_next_times_in_the_zone_and_in_UTC()
    {
        using var session = _aws.Session();
        var project = Project();
        await PutEc2RuleAsync(session, project, "nightly");
        var pipelineArn = await NewPipelineAsync(session, project, "daily");
        await new SchedulerTrigger(session, NullRunReporter.Instance).EnsureAsync(Request(project, "daily", pipelineArn, "cron(0 6 * * ? *)", "Europe/Amsterdam"), CancellationToken.None);
        var kinds = new ScheduleKinds(session, NullRunReporter.Instance);

        var all = await kinds.ListAsync(project, null, null, CancellationToken.None);
        var serverless = await kinds.ListAsync(project, null, RlabsScheduleKind.Serverless, CancellationToken.None);
        var ec2 = await kinds.ListAsync(project, null, RlabsScheduleKind.Ec2, CancellationToken.None);
        var onePipeline = await kinds.ListAsync(project, "daily", null, CancellationToken.None);

        Assert.Equal([("daily", RlabsScheduleKind.Serverless), ("nightly", RlabsScheduleKind.Ec2)], all.Select(s => (s.PipelineName, s.Kind)));
        Assert.Equal(["daily"], serverless.Select(s => s.PipelineName));
        Assert.Equal(["nightly"], ec2.Select(s => s.PipelineName));
        Assert.Equal(["daily"], onePipeline.Select(s => s.PipelineName));
        var daily = serverless[0];
        Assert.Equal(("Europe/Amsterdam", "pipelines/daily.yaml", pipelineArn), (daily.TimeZone, daily.PipelinePath, daily.SageMakerPipelineArn));
        Assert.Equal(3, daily.NextRunTimesLocal.Count);
        // The same instants twice: 06:00 on Amsterdam's clock, 04:00 or 05:00 UTC.
        Assert.Equal(daily.NextRunTimes, daily.NextRunTimesLocal.Select(t => t.UtcDateTime));
        Assert.All(daily.NextRunTimesLocal, t => Assert.Equal((6, TimeZoneInfo.FindSystemTimeZoneById("Europe/Amsterdam").GetUtcOffset(t)), (t.Hour, t.Offset)));
        Assert.All(daily.NextRunTimes, t => Assert.True(t.Kind == DateTimeKind.Utc && t.Hour is 4 or 5, t.ToString("O")));
        Assert.Equal("UTC", ec2[0].TimeZone);
    }

    [Fact]
    public async Task Should_toggle_a_serverless_schedule_sending_every_field_back_and_read_the_state_back()
    {
        using var session = _aws.Session();
        var emulator = _aws.Emulator;
        var project = Project();
        var pipelineArn = await NewPipelineAsync(session, project, "daily");
        var scheduler = new SchedulerClient(session);
        await new SchedulerTrigger(session, NullRunReporter.Instance).EnsureAsync(Request(project, "daily", pipelineArn, "rate(1 day)", null), CancellationToken.None);
        var name = ScheduleNaming.RuleName(project, "daily");
        var created = await scheduler.GetScheduleAsync(name, SchedulerTrigger.GroupName, CancellationToken.None);
        // Every field UpdateSchedule would reset when left out, set to something other than its default.
        await scheduler.UpdateScheduleAsync(name, new SchedulerScheduleRequest
        {
            GroupName = SchedulerTrigger.GroupName,
            Description = created.Description,
            ScheduleExpression = "cron(30 7 ? * MON-FRI *)",
            ScheduleExpressionTimezone = "America/New_York",
            StartDate = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
            EndDate = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero),
            State = "ENABLED",
            KmsKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            FlexibleTimeWindow = new SchedulerFlexibleTimeWindow { Mode = "FLEXIBLE", MaximumWindowInMinutes = 15 },
            Target = new SchedulerTarget
            {
                Arn = pipelineArn,
                RoleArn = created.Target!.RoleArn,
                RetryPolicy = new SchedulerRetryPolicy { MaximumRetryAttempts = 7, MaximumEventAgeInSeconds = 1800 },
                DeadLetterConfig = new SchedulerDeadLetterConfig { Arn = "arn:aws:sqs:eu-west-1:123456789012:rlabs-dead-letters" },
                SageMakerPipelineParameters = new SchedulerSageMakerPipelineParameters { PipelineParameterList = [new SchedulerPipelineParameter { Name = "Mode", Value = "full" }] },
            },
        }, CancellationToken.None);
        var before = await scheduler.GetScheduleAsync(name, SchedulerTrigger.GroupName, CancellationToken.None);
        var kinds = new ScheduleKinds(session, NullRunReporter.Instance);
        var marker = emulator.Requests.All.Count;

        var disabled = Assert.Single(await kinds.SetStateAsync(project, "daily", enabled: false, null, CancellationToken.None));
        var skipped = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, name, new DateTimeOffset(2026, 3, 2, 12, 30, 0, TimeSpan.Zero));
        var afterDisable = await scheduler.GetScheduleAsync(name, SchedulerTrigger.GroupName, CancellationToken.None);
        var enabled = Assert.Single(await kinds.SetStateAsync(project, "daily", enabled: true, RlabsScheduleKind.Serverless, CancellationToken.None));
        var afterWrites = emulator.Requests.All.Count;
        var again = Assert.Single(await kinds.SetStateAsync(project, "daily", enabled: true, null, CancellationToken.None));
        var againWrites = Writes(afterWrites);
        var afterEnable = await scheduler.GetScheduleAsync(name, SchedulerTrigger.GroupName, CancellationToken.None);
        var wrongKind = await Assert.ThrowsAsync<ScheduleNotFoundException>(() => kinds.SetStateAsync(project, "daily", enabled: false, RlabsScheduleKind.Ec2, CancellationToken.None));

        Assert.Equal((RlabsScheduleKind.Serverless, RlabsScheduleState.Disabled), (disabled.Kind, disabled.State));
        Assert.Equal("DISABLED", afterDisable.State);
        Assert.Equal((false, "disabled"), (skipped.Fired, skipped.Reason));
        Assert.Equal((RlabsScheduleState.Enabled, "ENABLED"), (enabled.State, afterEnable.State));
        Assert.Equal(["UpdateSchedule", "UpdateSchedule"], Writes(marker).Take(2));
        Assert.Empty(again.Changes);
        Assert.Empty(againWrites);
        // Nothing but the state changed: UpdateSchedule replaces the whole schedule, so everything was sent back.
        Assert.Equal(Comparable(before), Comparable(afterDisable, "ENABLED"));
        Assert.Equal(Comparable(before), Comparable(afterEnable));
        Assert.Contains("no EventBridge rule", wrongKind.Message, StringComparison.Ordinal);
        Assert.Empty(disabled.NextRunTimes);
    }

    [Fact]
    public async Task Should_remove_the_schedule_stored_credentials_and_created_role_keep_the_pipeline_and_do_nothing_the_second_time()
    {
        using var session = _aws.Session();
        var emulator = _aws.Emulator;
        var project = Project();
        var bucket = PipelineTestDefinitions.SeedBucket(emulator);
        var pipelineArn = await NewPipelineAsync(session, project, "daily");
        var pipelineName = pipelineArn[(pipelineArn.LastIndexOf('/') + 1)..];
        await new SchedulerTrigger(session, NullRunReporter.Instance).EnsureAsync(Request(project, "daily", pipelineArn, "rate(1 day)", null), CancellationToken.None);
        var credentialsKey = ServerlessScheduleManager.CredentialsKey(project, "daily");
        emulator.S3.PutObjectBytes(bucket, credentialsKey, "secret: x\n"u8.ToArray());
        var manager = new ServerlessScheduleManager(session, NullRunReporter.Instance);
        var roleName = SchedulerTrigger.RoleName(project, "daily");

        var removal = await manager.RemoveAsync(project, "daily", bucket, null, includePipeline: false, CancellationToken.None);
        var afterFirst = emulator.Requests.All.Count;
        var second = await manager.RemoveAsync(project, "daily", bucket, null, includePipeline: false, CancellationToken.None);
        var secondWrites = Writes(afterFirst);

        // The created role last: while anything else is left, the role is too.
        Assert.Equal([$"schedule rlabs/{ScheduleNaming.RuleName(project, "daily")}", $"credentials s3://{bucket}/{credentialsKey}", $"inline policy rlabs-start-pipeline of role {roleName}", $"role {roleName}"], removal.Removed);
        Assert.Equal([$"SageMaker pipeline {pipelineName} and its executions (-IncludePipeline deletes it)"], removal.Kept);
        Assert.Null(await new SchedulerClient(session).FindScheduleAsync(removal.ScheduleName, SchedulerTrigger.GroupName, CancellationToken.None));
        Assert.Null(await new IamClient(session).FindRoleAsync(roleName, CancellationToken.None));
        Assert.Null(emulator.S3.GetObjectBytes(bucket, credentialsKey));
        Assert.NotNull(await new SageMakerClient(session).DescribePipelineAsync(pipelineName, CancellationToken.None));
        // Already gone: the second removal only reads.
        Assert.Empty(second.Removed);
        Assert.Empty(secondWrites);
    }

    [Fact]
    public async Task Should_never_delete_a_role_given_with_RoleArn_even_one_the_module_created_and_delete_the_pipeline_with_IncludePipeline()
    {
        using var session = _aws.Session();
        var emulator = _aws.Emulator;
        var project = Project();
        var bucket = PipelineTestDefinitions.SeedBucket(emulator);
        var pipelineArn = await NewPipelineAsync(session, project, "daily");
        var pipelineName = pipelineArn[(pipelineArn.LastIndexOf('/') + 1)..];
        var iam = new IamClient(session);
        // Given with -RoleArn: even a role this module created (for another schedule) is not this schedule's to delete.
        var given = await iam.CreateRoleAsync(new CreateRoleRequest { RoleName = SchedulerTrigger.RoleName(project, "other"), AssumeRolePolicyDocument = SchedulerTrigger.TrustPolicy(), Description = $"{ScheduleManager.RoleDescriptionPrefix}: another schedule's" }, CancellationToken.None);
        var request = Request(project, "daily", pipelineArn, "rate(1 day)", null);
        await new SchedulerTrigger(session, NullRunReporter.Instance).EnsureAsync(new ServerlessScheduleRequest
        {
            ProjectName = request.ProjectName,
            PipelineName = request.PipelineName,
            PipelineRelativePath = request.PipelineRelativePath,
            PipelineArn = request.PipelineArn,
            Schedule = request.Schedule,
            SchedulerRoleArn = given.Arn,
        }, CancellationToken.None);

        var removal = await new ServerlessScheduleManager(session, NullRunReporter.Instance).RemoveAsync(project, "daily", bucket, null, includePipeline: true, CancellationToken.None);

        Assert.Equal([$"schedule rlabs/{ScheduleNaming.RuleName(project, "daily")}", $"SageMaker pipeline {pipelineName}"], removal.Removed);
        Assert.Equal([$"role {given.RoleName}: given with -RoleArn, never deleted"], removal.Kept);
        Assert.NotNull(await iam.FindRoleAsync(given.RoleName, CancellationToken.None));
        await Assert.ThrowsAsync<AwsServiceException>(() => new SageMakerClient(session).DescribePipelineAsync(pipelineName, CancellationToken.None));
    }

    [Fact]
    public async Task Should_list_the_newest_executions_of_the_project_only_across_pages_newest_first_with_steps()
    {
        using var session = _aws.Session();
        var emulator = _aws.Emulator;
        var project = Project();
        var sageMaker = new SageMakerClient(session);
        var scheduled = await NewPipelineAsync(session, project, "daily");
        var scheduledName = scheduled[(scheduled.LastIndexOf('/') + 1)..];
        // Project "<p>-b" shares the name prefix "rlabs-<p>-": only the tag tells them apart.
        var other = await NewPipelineAsync(session, project + "-b", "daily");
        var executions = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            executions.Add(await PipelineTestDefinitions.StartAsync(sageMaker, scheduledName, "0"));
        }
        await PipelineTestDefinitions.StartAsync(sageMaker, other[(other.LastIndexOf('/') + 1)..], "0");
        foreach (var arn in executions)
        {
            await PipelineTestDefinitions.WaitAsync(sageMaker, arn);
        }
        var marker = emulator.Requests.All.Count;

        var runs = await new PipelineRunHistory(session).RecentAsync(project, null, 11, CancellationToken.None);
        var listCalls = emulator.Requests.All.Skip(marker).Count(r => r.Operation == "ListPipelineExecutions");
        var noSuchPipeline = await new PipelineRunHistory(session).RecentAsync(project, "nightly", 5, CancellationToken.None);

        // The 11 newest of the 12, newest first; the emulator pages by 10, so two pages were read.
        Assert.Equal(executions.AsEnumerable().Reverse().Take(11), runs.Select(r => r.PipelineExecutionArn));
        Assert.Equal(2, listCalls);
        Assert.All(runs, r =>
        {
            // A scheduled pipeline's job id is the execution's id: the id its steps ran under.
            Assert.Equal(PipelineTestDefinitions.ExecutionId(r.PipelineExecutionArn!), r.JobId);
            Assert.Equal((project, "daily", RlabsRunStatus.Completed, "SageMakerPipelines"), (r.ProjectName, r.PipelineName, r.Status, r.Engine));
            Assert.Equal(["A", "B"], r.Steps.Select(s => s.StepName));
            Assert.All(r.Steps, s => Assert.Equal(RlabsRunStatus.Completed, s.Status));
            Assert.NotNull(r.EndTime);
        });
        Assert.Equal(11, runs.Select(r => r.JobId).Distinct().Count());
        Assert.Empty(noSuchPipeline);
    }

    private static string Project() => "rd" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>A SageMaker pipeline named and tagged as a scheduled one of the project.</summary>
    private async Task<string> NewPipelineAsync(AwsSession session, string project, string pipeline)
    {
        var sageMaker = new SageMakerClient(session);
        var bucket = PipelineTestDefinitions.SeedBucket(_aws.Emulator);
        var arn = await PipelineTestDefinitions.CreateAsync(sageMaker, $"rlabs-{project}-{pipeline}-0a1b2c3d-scheduled", PipelineTestDefinitions.Definition(
            PipelineTestDefinitions.RunStep("A", bucket, []),
            PipelineTestDefinitions.RunStep("B", bucket, [PipelineTestDefinitions.OutputOf("A")])));
        await sageMaker.AddTagsAsync(arn, [new AwsTag { Key = ScheduleNaming.ProjectTag, Value = project }, new AwsTag { Key = ScheduleNaming.PipelineTag, Value = pipeline }], CancellationToken.None);
        return arn;
    }

    /// <summary>An EventBridge rule as the Ec2 kind writes it (no function or instance needed to be listed).</summary>
    private static async Task PutEc2RuleAsync(AwsSession session, string project, string pipeline) =>
        await new EventBridgeClient(session).PutRuleAsync(new PutRuleRequest
        {
            Name = ScheduleNaming.RuleName(project, pipeline),
            ScheduleExpression = "rate(1 day)",
            State = "ENABLED",
            Description = ScheduleManager.WriteDescription(new ScheduleDescription(project, $"pipelines/{pipeline}.yaml", "i-0a1b2c3d4e5f60718", "role", "function")),
        }, CancellationToken.None);

    private static ServerlessScheduleRequest Request(string project, string pipeline, string pipelineArn, string expression, string? zone) => new()
    {
        ProjectName = project,
        PipelineName = pipeline,
        PipelineRelativePath = $"pipelines/{pipeline}.yaml",
        PipelineArn = pipelineArn,
        Schedule = SchedulerExpression.Parse(expression, zone),
    };

    /// <summary>The schedule as JSON without what an update changes by itself (its modification time), with the state given.</summary>
    private static string Comparable(SchedulerSchedule schedule, string? state = null)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(schedule))!.AsObject();
        node.Remove(nameof(SchedulerSchedule.LastModificationDate));
        if (state is not null)
        {
            node[nameof(SchedulerSchedule.State)] = state;
        }
        return node.ToJsonString();
    }

    private List<string> Writes(int marker) =>
        _aws.Emulator.Requests.All.Skip(marker).Select(r => r.Operation).Where(o => !s_readOnlyPrefixes.Any(p => o.StartsWith(p, StringComparison.Ordinal))).ToList();
}
