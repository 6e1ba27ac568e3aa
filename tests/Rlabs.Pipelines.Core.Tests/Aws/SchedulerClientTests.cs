using System.Text.Json;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>EventBridge Scheduler: the client's calls, and the emulator firing a schedule as the service would.</summary>
[Trait("Tier", "Emulator")]
public sealed class SchedulerClientTests : IClassFixture<EmulatorFixture>
{
    private const string SchedulerTrust = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"},"Action":"sts:AssumeRole"}]}""";
    private readonly EmulatorFixture _fixture;

    public SchedulerClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Faults.Clear();
    }

    [Fact]
    public async Task A_group_and_a_schedule_are_created_read_updated_listed_tagged_and_deleted()
    {
        using var session = _fixture.Session();
        var scheduler = new SchedulerClient(session);
        var group = EmulatorFixture.UniqueName("rlabs");

        Assert.Null(await scheduler.FindScheduleGroupAsync(group, CancellationToken.None));
        var groupArn = await scheduler.CreateScheduleGroupAsync(group, [new AwsTag { Key = "rlabs:created-by", Value = "Rlabs.Pipelines" }], CancellationToken.None);
        await scheduler.TagResourceAsync(groupArn, [new AwsTag { Key = "owner", Value = "data" }], CancellationToken.None);
        var request = Request("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p", "arn:aws:iam::123456789012:role/r", group, "ENABLED");
        var arn = await scheduler.CreateScheduleAsync("daily", request, CancellationToken.None);
        var conflict = await Assert.ThrowsAsync<AwsServiceException>(() => scheduler.CreateScheduleAsync("daily", request, CancellationToken.None));
        var read = await scheduler.GetScheduleAsync("daily", group, CancellationToken.None);
        await scheduler.UpdateScheduleAsync("daily", Request("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p", "arn:aws:iam::123456789012:role/r", group, "DISABLED"), CancellationToken.None);
        var listed = await scheduler.ListSchedulesAsync(group, "dai", CancellationToken.None);
        var tags = await scheduler.ListTagsForResourceAsync(groupArn, CancellationToken.None);
        await scheduler.DeleteScheduleAsync("daily", group, CancellationToken.None);
        var gone = await scheduler.FindScheduleAsync("daily", group, CancellationToken.None);
        await scheduler.DeleteScheduleGroupAsync(group, CancellationToken.None);

        Assert.Equal($"arn:aws:scheduler:eu-west-1:123456789012:schedule-group/{group}", groupArn);
        Assert.Equal($"arn:aws:scheduler:eu-west-1:123456789012:schedule/{group}/daily", arn);
        Assert.Equal(AwsErrorKind.Conflict, conflict.Kind);
        Assert.Equal(("cron(0 6 * * ? *)", "Europe/Amsterdam", "ENABLED", group), (read.ScheduleExpression, read.ScheduleExpressionTimezone, read.State, read.GroupName));
        Assert.Equal("<aws.scheduler.execution-id>", read.Target!.SageMakerPipelineParameters!.PipelineParameterList![0].Value);
        Assert.Equal((3, 7200), (read.Target.RetryPolicy!.MaximumRetryAttempts, read.Target.RetryPolicy.MaximumEventAgeInSeconds));
        Assert.Equal(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), read.StartDate);
        Assert.Equal([("daily", "DISABLED")], listed.Select(s => (s.Name, s.State!)));
        Assert.Equal(["owner", "rlabs:created-by"], tags.Select(t => t.Key).Order(StringComparer.Ordinal));
        Assert.Null(gone);
        Assert.Null(await scheduler.FindScheduleGroupAsync(group, CancellationToken.None));
    }

    [Fact]
    public async Task A_schedule_is_refused_for_an_unknown_time_zone_or_a_five_field_cron()
    {
        using var session = _fixture.Session();
        var scheduler = new SchedulerClient(session);
        var pipeline = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p";

        var zone = await Assert.ThrowsAsync<AwsServiceException>(() => scheduler.CreateScheduleAsync("zone", new SchedulerScheduleRequest
        {
            ScheduleExpression = "rate(1 day)", ScheduleExpressionTimezone = "Europe/Atlantis", Target = new SchedulerTarget { Arn = pipeline, RoleArn = "arn:aws:iam::123456789012:role/r" },
        }, CancellationToken.None));
        var cron = await Assert.ThrowsAsync<AwsServiceException>(() => scheduler.CreateScheduleAsync("cron", new SchedulerScheduleRequest
        {
            ScheduleExpression = "cron(0 6 * * *)", Target = new SchedulerTarget { Arn = pipeline, RoleArn = "arn:aws:iam::123456789012:role/r" },
        }, CancellationToken.None));

        Assert.Equal(("ValidationException", AwsErrorKind.Validation), (zone.ErrorCode, zone.Kind));
        Assert.Equal("ValidationException", cron.ErrorCode);
    }

    [Fact]
    public async Task A_cron_in_Amsterdam_fires_at_five_utc_in_winter_and_four_in_summer_each_firing_a_whole_run_under_its_own_job_id()
    {
        using var session = _fixture.Session();
        var emulator = _fixture.Emulator;
        var sageMaker = new SageMakerClient(session);
        var iam = new IamClient(session);
        var scheduler = new SchedulerClient(session);
        var bucket = PipelineTestDefinitions.SeedBucket(emulator);
        var pipelineName = EmulatorFixture.UniqueName("sched");
        var pipelineArn = await PipelineTestDefinitions.CreateAsync(sageMaker, pipelineName, PipelineTestDefinitions.Definition(
            PipelineTestDefinitions.RunStep("A", bucket, []),
            PipelineTestDefinitions.RunStep("B", bucket, [PipelineTestDefinitions.OutputOf("A")])));
        var roleName = EmulatorFixture.UniqueName("sched-role");
        var role = await iam.CreateRoleAsync(new CreateRoleRequest { RoleName = roleName, AssumeRolePolicyDocument = SchedulerTrust }, CancellationToken.None);
        await iam.PutRolePolicyAsync(roleName, "start", JsonSerializer.Serialize(new
        {
            Version = "2012-10-17",
            Statement = new[] { new { Effect = "Allow", Action = "sagemaker:StartPipelineExecution", Resource = pipelineArn } },
        }), CancellationToken.None);
        var group = EmulatorFixture.UniqueName("rlabs");
        await scheduler.CreateScheduleGroupAsync(group, null, CancellationToken.None);
        await scheduler.CreateScheduleAsync("daily", Request(pipelineArn, role.Arn, group, "ENABLED"), CancellationToken.None);

        var winter = emulator.Scheduler.NextFireTimes(group, "daily", new DateTimeOffset(2026, 1, 10, 12, 0, 0, TimeSpan.Zero), 2);
        var summer = emulator.Scheduler.NextFireTimes(group, "daily", new DateTimeOffset(2026, 7, 10, 12, 0, 0, TimeSpan.Zero), 1);
        var acrossTheChange = emulator.Scheduler.NextFireTimes(group, "daily", new DateTimeOffset(2026, 3, 28, 12, 0, 0, TimeSpan.Zero), 2);
        var notDue = emulator.Scheduler.Fire(group, "daily", new DateTimeOffset(2026, 1, 11, 6, 0, 0, TimeSpan.Zero));
        var firings = new[] { emulator.Scheduler.Fire(group, "daily", winter[0]), emulator.Scheduler.Fire(group, "daily", summer[0]) };

        Assert.Equal([new DateTimeOffset(2026, 1, 11, 5, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 1, 12, 5, 0, 0, TimeSpan.Zero)], winter);
        Assert.Equal([new DateTimeOffset(2026, 7, 11, 4, 0, 0, TimeSpan.Zero)], summer);
        Assert.Equal([new DateTimeOffset(2026, 3, 29, 4, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 30, 4, 0, 0, TimeSpan.Zero)], acrossTheChange);
        Assert.False(notDue.Fired);
        Assert.All(firings, f => Assert.True(f.Fired, f.Reason));
        Assert.NotEqual(firings[0].ExecutionId, firings[1].ExecutionId);
        foreach (var firing in firings)
        {
            var execution = await PipelineTestDefinitions.WaitAsync(sageMaker, firing.PipelineExecutionArn!);
            Assert.Equal("Succeeded", execution.PipelineExecutionStatus);
            var executionId = PipelineTestDefinitions.ExecutionId(firing.PipelineExecutionArn!);
            // Context attributes are replaced only in Input payloads, never in SageMakerPipelineParameters: the literal arrives.
            Assert.Equal("A+B", PipelineTestDefinitions.Read(emulator, bucket, $"runs/<aws.scheduler.execution-id>/{executionId}/B/B.txt"));
        }
    }

    [Fact]
    public async Task A_schedule_does_not_fire_when_disabled_or_when_its_role_may_not_start_that_pipeline()
    {
        using var session = _fixture.Session();
        var emulator = _fixture.Emulator;
        var iam = new IamClient(session);
        var scheduler = new SchedulerClient(session);
        var pipelineArn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/" + EmulatorFixture.UniqueName("other");
        var roleName = EmulatorFixture.UniqueName("wrong-role");
        var role = await iam.CreateRoleAsync(new CreateRoleRequest { RoleName = roleName, AssumeRolePolicyDocument = SchedulerTrust }, CancellationToken.None);
        await iam.PutRolePolicyAsync(roleName, "start", """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sagemaker:StartPipelineExecution","Resource":"arn:aws:sagemaker:eu-west-1:123456789012:pipeline/someone-else"}]}""", CancellationToken.None);
        var group = EmulatorFixture.UniqueName("rlabs");
        await scheduler.CreateScheduleGroupAsync(group, null, CancellationToken.None);
        await scheduler.CreateScheduleAsync("daily", Request(pipelineArn, role.Arn, group, "DISABLED"), CancellationToken.None);
        var due = emulator.Scheduler.NextFireTimes(group, "daily", new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero), 1)[0];

        var disabled = emulator.Scheduler.Fire(group, "daily", due);
        await scheduler.UpdateScheduleAsync("daily", Request(pipelineArn, role.Arn, group, "ENABLED"), CancellationToken.None);
        var refused = emulator.Scheduler.Fire(group, "daily", due);

        Assert.Equal((false, "disabled"), (disabled.Fired, disabled.Reason));
        Assert.False(refused.Fired);
        Assert.StartsWith("AccessDenied", refused.Reason, StringComparison.Ordinal);
    }

    private static SchedulerScheduleRequest Request(string pipelineArn, string roleArn, string group, string state) => new()
    {
        GroupName = group,
        ScheduleExpression = "cron(0 6 * * ? *)",
        ScheduleExpressionTimezone = "Europe/Amsterdam",
        StartDate = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        State = state,
        FlexibleTimeWindow = new SchedulerFlexibleTimeWindow { Mode = "OFF" },
        Target = new SchedulerTarget
        {
            Arn = pipelineArn,
            RoleArn = roleArn,
            SageMakerPipelineParameters = new SchedulerSageMakerPipelineParameters { PipelineParameterList = [new SchedulerPipelineParameter { Name = "JobId", Value = "<aws.scheduler.execution-id>" }] },
            RetryPolicy = new SchedulerRetryPolicy { MaximumRetryAttempts = 3, MaximumEventAgeInSeconds = 7200 },
        },
    };
}
