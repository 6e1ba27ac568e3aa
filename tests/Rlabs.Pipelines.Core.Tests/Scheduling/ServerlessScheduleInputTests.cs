using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>What New-RlabsPipelineSchedule -Serverless checks before any AWS call.</summary>
public sealed class ServerlessScheduleInputTests
{
    private static readonly TimeZoneInfo s_amsterdam = TimeZoneInfo.FindSystemTimeZoneById("Europe/Amsterdam");

    [Fact]
    public void Should_read_a_date_without_kind_in_the_schedule_zone_and_drop_fractions_of_a_second()
    {
        var winter = ServerlessScheduleRequest.ToInstant(new DateTime(2027, 1, 10, 0, 0, 0, 500, DateTimeKind.Unspecified), s_amsterdam);
        var summer = ServerlessScheduleRequest.ToInstant(new DateTime(2027, 7, 10), s_amsterdam);
        var utc = ServerlessScheduleRequest.ToInstant(new DateTime(2027, 7, 10, 0, 0, 0, DateTimeKind.Utc), s_amsterdam);

        Assert.Equal(new DateTimeOffset(2027, 1, 9, 23, 0, 0, TimeSpan.Zero), winter);
        Assert.Equal(new DateTimeOffset(2027, 7, 9, 22, 0, 0, TimeSpan.Zero), summer);
        Assert.Equal(new DateTimeOffset(2027, 7, 10, 0, 0, 0, TimeSpan.Zero), utc);
    }

    [Fact]
    public void Should_refuse_an_end_before_the_start_or_in_the_past()
    {
        var now = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero);

        Assert.Null(ServerlessScheduleRequest.ValidateWindow(now.AddDays(1), now.AddDays(2), now));
        Assert.Null(ServerlessScheduleRequest.ValidateWindow(null, null, now));
        Assert.Contains("must be after -StartDate", ServerlessScheduleRequest.ValidateWindow(now.AddDays(2), now.AddDays(1), now), StringComparison.Ordinal);
        Assert.Contains("has passed", ServerlessScheduleRequest.ValidateWindow(null, now.AddDays(-1), now), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("arn:aws:iam::123456789012:role/rlabs-sagemaker", true)]
    [InlineData("arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-2027", true)]
    [InlineData("arn:aws-cn:iam::123456789012:role/x", true)]
    [InlineData("rlabs-sagemaker", false)]
    [InlineData("arn:aws:iam::123456789012:user/me", false)]
    [InlineData("arn:aws:iam::12345:role/x", false)]
    public void Should_tell_a_role_arn(string arn, bool valid) =>
        Assert.Equal(valid, ServerlessScheduleRequest.ValidateRoleArn(arn, "-RoleArn") is null);

    [Fact]
    public void Should_let_the_scheduler_role_send_only_to_the_dead_letter_queue_it_is_given()
    {
        const string Pipeline = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p-scheduled";
        const string Queue = "arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq";

        var without = System.Text.Json.Nodes.JsonNode.Parse(SchedulerTrigger.StartPipelinePolicy(Pipeline))!["Statement"]!.AsArray();
        var with = System.Text.Json.Nodes.JsonNode.Parse(SchedulerTrigger.StartPipelinePolicy(Pipeline, Queue))!["Statement"]!.AsArray();

        Assert.Equal([("sagemaker:StartPipelineExecution", Pipeline)], without.Select(n => ((string)n!["Action"]!, (string)n["Resource"]!)));
        Assert.Equal([("sagemaker:StartPipelineExecution", Pipeline), ("sqs:SendMessage", Queue)], with.Select(n => ((string)n!["Action"]!, (string)n["Resource"]!)));
    }

    [Fact]
    public void Should_give_the_next_runs_as_lists_PowerShell_can_index()
    {
        DateTimeOffset[] utc = [new(2027, 1, 11, 5, 0, 0, TimeSpan.Zero)];
        var state = new ServerlessScheduleState("p", "q", "rlabs-p-q", "arn:aws:scheduler:eu-west-1:123456789012:schedule/rlabs/rlabs-p-q", RlabsScheduleState.Enabled,
            "cron(0 6 * * ? *)", "Europe/Amsterdam", "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/q-scheduled", "arn:aws:iam::123456789012:role/r",
            utc, [.. utc.Select(t => TimeZoneInfo.ConvertTime(t, s_amsterdam))], []);

        var schedule = RlabsPipelineSchedule.FromServerless(state, "pipelines/q.yaml");

        // The format views read $_.NextRunTimes[0]: PowerShell does not index the compiler's internal read-only list
        // of a collection expression (the table's NextRun came out empty), so the lists must be of a public type.
        Assert.True(schedule.NextRunTimes.GetType().IsPublic, schedule.NextRunTimes.GetType().FullName);
        Assert.True(schedule.NextRunTimesLocal.GetType().IsPublic, schedule.NextRunTimesLocal.GetType().FullName);
        Assert.Equal(new DateTime(2027, 1, 11, 5, 0, 0, DateTimeKind.Utc), schedule.NextRunTimes[0]);
        Assert.Equal(6, schedule.NextRunTimesLocal[0].Hour);
        Assert.Equal(("Europe/Amsterdam", RlabsScheduleKind.Serverless, "r"), (schedule.TimeZone, schedule.Kind, schedule.RoleName));
    }

    [Theory]
    [InlineData("arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq", true)]
    [InlineData("arn:aws:sqs:eu-west-1:123456789012:rlabs-dlq.fifo", true)]
    [InlineData("arn:aws:sns:eu-west-1:123456789012:alerts", false)]
    [InlineData("https://sqs.eu-west-1.amazonaws.com/123456789012/rlabs-dlq", false)]
    public void Should_tell_a_queue_arn(string arn, bool valid) =>
        Assert.Equal(valid, ServerlessScheduleRequest.ValidateQueueArn(arn) is null);
}

/// <summary>ServerlessScheduleManager.Describe: every call of every part, made by none.</summary>
[Trait("Tier", "Emulator")]
public sealed class ServerlessScheduleDescribeTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private readonly EmulatorFixture _fixture;
    private readonly TempRepository _repo = new();

    public ServerlessScheduleDescribeTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _repo.Write("step.py", "print('hi')\n");
    }

    public void Dispose() => _repo.Dispose();

    [SkippableFact]
    public void Should_list_every_part_and_its_calls_without_a_request()
    {
        var path = _repo.Write("pipelines/daily.yaml", "project: sched\nrole_arn: arn:aws:iam::123456789012:role/sm\npipeline:\n  - { name: extract, job_suffix: X, code: step.py, output_path: data }\n");
        var read = PipelineConfigReader.Read(path, _repo.Root);
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "warehouse:\n  password: x\n"));
        var run = new RunRequest { Pipeline = read.Pipeline!, JobId = "scheduled", Credentials = credentials, Cloud = new CloudRunOptions { Engine = CloudEngine.SageMakerPipelines } };
        string? seenArn = null;
        ServerlessScheduleRequest Schedule(string pipelineArn)
        {
            seenArn = pipelineArn;
            return new ServerlessScheduleRequest
            {
                ProjectName = "sched",
                PipelineName = "daily",
                PipelineArn = pipelineArn,
                Schedule = SchedulerExpression.Parse("cron(0 6 * * ? *)", "Europe/Amsterdam"),
            };
        }
        using var session = _fixture.Session();

        var parts = new ServerlessScheduleManager(session, NullRunReporter.Instance).Describe(run, Schedule, "sched");
        var text = string.Join("\n", parts.Select(p => $"{p.Target}: {p.Action}"));

        Assert.Empty(_fixture.Emulator.Requests.All);
        Assert.Equal(
            ["s3://sagemaker-eu-west-1-<account id>", $"s3://sagemaker-eu-west-1-<account id>/{ServerlessScheduleManager.CredentialsKey("sched", "daily")}",
             $"SageMaker pipeline {Rlabs.Pipelines.Cloud.PipelineDefinitionCompiler.ScheduledPipelineName(read.Pipeline!)}", "Scheduler group rlabs",
             $"IAM role {SchedulerTrigger.RoleName("sched", "daily")}", "Scheduler schedule rlabs/rlabs-sched-daily"],
            parts.Select(p => p.Target));
        Assert.StartsWith("arn:aws:sagemaker:eu-west-1:<account id>:pipeline/", seenArn, StringComparison.Ordinal);
        foreach (var call in new[] { "sts:GetCallerIdentity", "s3:PutObject", "sagemaker:CreatePipeline", "sagemaker:UpdatePipeline", "scheduler:CreateScheduleGroup", "iam:CreateRole", "iam:PutRolePolicy", "scheduler:CreateSchedule", "Europe/Amsterdam" })
        {
            Assert.Contains(call, text, StringComparison.Ordinal);
        }
    }
}
