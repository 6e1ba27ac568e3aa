using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>The serverless kind's trigger against the emulator: a Scheduler schedule that starts the pipeline itself.</summary>
[Trait("Tier", "Emulator")]
public sealed class SchedulerTriggerTests : IClassFixture<EmulatorFixture>
{
    private static readonly string[] s_readOnlyPrefixes = ["Describe", "Get", "List"];
    private readonly EmulatorFixture _aws;
    private readonly Reporter _reporter = new();

    public SchedulerTriggerTests(EmulatorFixture aws)
    {
        _aws = aws;
    }

    [Fact]
    public async Task Should_schedule_fire_in_the_time_zone_toggle_and_remove_without_ec2_lambda_or_a_second_write()
    {
        using var session = _aws.Session();
        var emulator = _aws.Emulator;
        var sageMaker = new SageMakerClient(session);
        var bucket = PipelineTestDefinitions.SeedBucket(emulator);
        var project = "serverless-" + Guid.NewGuid().ToString("N")[..6];
        var pipelineArn = await PipelineTestDefinitions.CreateAsync(sageMaker, $"rlabs-{project}-daily", PipelineTestDefinitions.Definition(
            PipelineTestDefinitions.RunStep("A", bucket, []),
            PipelineTestDefinitions.RunStep("B", bucket, [PipelineTestDefinitions.OutputOf("A")])));
        var trigger = new SchedulerTrigger(session, _reporter);
        var request = new ServerlessScheduleRequest
        {
            ProjectName = project,
            PipelineName = "daily",
            PipelineRelativePath = "pipelines/daily.yaml",
            PipelineArn = pipelineArn,
            Schedule = SchedulerExpression.Parse("cron(0 6 * * ? *)", "Europe/Amsterdam"),
            MaximumRetryAttempts = 2,
            MaximumEventAgeSeconds = 3600,
        };
        var marker = emulator.Requests.All.Count;

        var first = await trigger.EnsureAsync(request, CancellationToken.None);
        var afterFirst = emulator.Requests.All.Count;
        var second = await trigger.EnsureAsync(request, CancellationToken.None);
        var secondWrites = Writes(afterFirst);
        var roleName = $"{project}-daily-scheduler-role";
        var role = await new IamClient(session).GetRoleAsync(roleName, CancellationToken.None);
        var policies = emulator.Iam.InlinePolicies(roleName);
        var winter = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 1, 11, 5, 0, 0, TimeSpan.Zero));
        var summer = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 7, 11, 4, 0, 0, TimeSpan.Zero));
        var disabled = await trigger.SetStateAsync(project, "daily", enabled: false, CancellationToken.None);
        var skipped = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 1, 12, 5, 0, 0, TimeSpan.Zero));
        var reRunWhileDisabled = await trigger.EnsureAsync(request, CancellationToken.None);
        var enabled = await trigger.SetStateAsync(project, "daily", enabled: true, CancellationToken.None);
        var listed = await trigger.ListAsync(project, CancellationToken.None);
        var removal = await trigger.RemoveAsync(project, "daily", CancellationToken.None);

        // Created once; the second run only reads.
        Assert.Equal(["schedule group rlabs created", $"role {project}-daily-scheduler-role created", $"inline policy rlabs-start-pipeline of role {project}-daily-scheduler-role put", $"schedule rlabs/rlabs-{project}-daily created"], first.Changes);
        Assert.Empty(second.Changes);
        Assert.Empty(secondWrites);
        Assert.Equal(("Europe/Amsterdam", RlabsScheduleState.Enabled, pipelineArn), (first.TimeZone, first.State, first.PipelineArn));
        Assert.All(first.NextRunTimesLocal, t => Assert.Equal(6, t.Hour));
        Assert.All(first.NextRunTimesUtc, t => Assert.True(t.Offset == TimeSpan.Zero && t.Hour is 4 or 5));

        // The role: trusted by Scheduler only, one action on one pipeline.
        Assert.True(PolicyDocuments.AreEquivalent(SchedulerTrigger.TrustPolicy(), role.AssumeRolePolicyDocument));
        var policy = JsonNode.Parse(Assert.Single(policies).Value)!;
        var statement = Assert.Single(policy["Statement"]!.AsArray())!;
        Assert.Equal(("Allow", "sagemaker:StartPipelineExecution", pipelineArn), ((string?)statement["Effect"], (string?)statement["Action"], (string?)statement["Resource"]));
        Assert.Equal(first.RoleArn, role.Arn);

        // Firings: each a whole run under its own job id; none while disabled.
        foreach (var firing in new[] { winter, summer })
        {
            Assert.True(firing.Fired, firing.Reason);
            var execution = await PipelineTestDefinitions.WaitAsync(sageMaker, firing.PipelineExecutionArn!);
            Assert.Equal("Succeeded", execution.PipelineExecutionStatus);
            // The schedule sends no parameter (JobId keeps its default "0"): each run is told apart by its execution id.
            Assert.Equal("A+B", PipelineTestDefinitions.Read(emulator, bucket, $"runs/0/{PipelineTestDefinitions.ExecutionId(firing.PipelineExecutionArn!)}/B/B.txt"));
        }
        Assert.NotEqual(PipelineTestDefinitions.ExecutionId(winter.PipelineExecutionArn!), PipelineTestDefinitions.ExecutionId(summer.PipelineExecutionArn!));
        Assert.Equal((RlabsScheduleState.Disabled, "schedule rlabs/rlabs-" + project + "-daily disabled"), (disabled.State, Assert.Single(disabled.Changes)));
        Assert.Equal((false, "disabled"), (skipped.Fired, skipped.Reason));
        Assert.Equal(RlabsScheduleState.Disabled, reRunWhileDisabled.State);
        Assert.Empty(reRunWhileDisabled.Changes);
        Assert.Equal(RlabsScheduleState.Enabled, enabled.State);
        Assert.Equal([first.ScheduleName], listed.Select(s => s.ScheduleName));

        // Removed: no schedule, no role; and never an EC2, Lambda or EventBridge-rule call.
        Assert.Equal([$"schedule rlabs/rlabs-{project}-daily", $"inline policy rlabs-start-pipeline of role {roleName}", $"role {roleName}"], removal.Removed);
        Assert.Null(await new SchedulerClient(session).FindScheduleAsync(first.ScheduleName, SchedulerTrigger.GroupName, CancellationToken.None));
        Assert.Null(await new IamClient(session).FindRoleAsync(roleName, CancellationToken.None));
        Assert.DoesNotContain(emulator.Requests.All.Skip(marker), r => r.Service is "ec2" or "lambda" or "events");
    }

    [Fact]
    public void Should_list_every_call_it_may_make_for_WhatIf()
    {
        var request = new ServerlessScheduleRequest
        {
            ProjectName = "p",
            PipelineName = "d",
            PipelineArn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/rlabs-p-d",
            Schedule = SchedulerExpression.Parse("rate(1 day)", null),
        };

        var calls = SchedulerTrigger.Describe(request).ToList();
        var withRole = SchedulerTrigger.Describe(new ServerlessScheduleRequest
        {
            ProjectName = "p", PipelineName = "d", PipelineArn = request.PipelineArn, Schedule = request.Schedule, SchedulerRoleArn = "arn:aws:iam::123456789012:role/given",
        }).ToList();

        Assert.Equal(["scheduler:CreateScheduleGroup", "iam:CreateRole", "iam:PutRolePolicy", "scheduler:CreateSchedule"],
            calls.Select(c => new[] { "scheduler:CreateScheduleGroup", "iam:CreateRole", "iam:PutRolePolicy", "scheduler:CreateSchedule" }.First(w => c.Contains(w, StringComparison.Ordinal))));
        Assert.Equal(2, withRole.Count);
        Assert.DoesNotContain(withRole, c => c.Contains("iam:", StringComparison.Ordinal));
    }

    private List<string> Writes(int marker) =>
        _aws.Emulator.Requests.All.Skip(marker).Select(r => r.Operation).Where(o => !s_readOnlyPrefixes.Any(p => o.StartsWith(p, StringComparison.Ordinal))).ToList();

    private sealed class Reporter : IRunReporter
    {
        public void Progress(RunProgress progress)
        {
        }

        public void Verbose(string message)
        {
        }

        public void Warning(string message)
        {
        }
    }
}
