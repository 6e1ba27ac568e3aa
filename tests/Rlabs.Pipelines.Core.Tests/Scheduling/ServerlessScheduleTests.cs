using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Scheduling;
using Rlabs.Pipelines.Tests.Running;

namespace Rlabs.Pipelines.Tests.Scheduling;

/// <summary>
/// Issue 14's acceptance against the emulator: a serverless schedule of a real pipeline file (its steps run), fired
/// as EventBridge Scheduler fires it, with the credentials file reaching the steps by S3 only.
/// </summary>
[Trait("Tier", "Emulator")]
public sealed class ServerlessScheduleTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker";
    private const string Bucket = "sagemaker-eu-west-1-123456789012";
    private const string Secret = "pwQQQ-7f3a";
    private static readonly string[] s_readOnlyPrefixes = ["Describe", "Get", "List", "Head"];

    private const string StepScript = """
        import argparse, json, os
        p = argparse.ArgumentParser()
        p.add_argument('--job-id', required=True)
        p.add_argument('--input-data-zip')
        p.add_argument('--input-data-path')
        p.add_argument('--output-data-path', required=True)
        p.add_argument('--source-code-zip', required=True)
        p.add_argument('--requirements-path', required=True)
        args, extra = p.parse_known_args()
        name = os.environ['RLABS_STEP_NAME']
        seen = sorted(os.listdir(args.input_data_path)) if args.input_data_path else []
        with open(os.environ['RLABS_CREDENTIALS_FILE']) as f:
            credentials = f.read()
        os.makedirs(args.output_data_path, exist_ok=True)
        with open(os.path.join(args.output_data_path, name + '.json'), 'w') as f:
            json.dump({'seen': seen, 'job': args.job_id, 'secret_seen': 'pwQQQ-7f3a' in credentials}, f)
        """;

    private readonly EmulatorFixture _fixture;
    private readonly TempRepository _repo = new();

    public ServerlessScheduleTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
        _repo.Write("step.py", StepScript);
        _repo.Write("requirements.txt", "# none\n");
    }

    public void Dispose() => _repo.Dispose();

    [SkippableFact]
    public async Task Should_fire_in_Amsterdam_time_run_each_firing_whole_under_its_own_job_id_and_leave_nothing_after_Remove()
    {
        var emulator = _fixture.Emulator;
        var path = _repo.Write("pipelines/daily.yaml", $"project: sched\nrole_arn: {RoleArn}\ninstance_type: ml.t3.medium\npipeline:\n" + """
              - { name: extract, job_suffix: X, code: step.py, output_path: data }
              - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
            """);
        var read = PipelineConfigReader.Read(path, _repo.Root);
        Assert.False(read.HasErrors, string.Join(Environment.NewLine, read.Diagnostics));
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", $"warehouse:\n  password: {Secret}\n"));
        var run = new RunRequest { Pipeline = read.Pipeline!, JobId = "unused", Credentials = credentials, Cloud = new CloudRunOptions { Engine = CloudEngine.SageMakerPipelines } };
        ServerlessScheduleRequest Schedule(string pipelineArn) => new()
        {
            ProjectName = "sched",
            PipelineName = "daily",
            PipelineRelativePath = "pipelines/daily.yaml",
            PipelineArn = pipelineArn,
            Schedule = SchedulerExpression.Parse("cron(0 6 * * ? *)", "Europe/Amsterdam"),
        };
        using var session = _fixture.Session();
        var manager = new ServerlessScheduleManager(session, NullRunReporter.Instance);
        var trigger = new SchedulerTrigger(session, NullRunReporter.Instance);
        var sageMaker = new SageMakerClient(session);

        var first = await manager.ScheduleAsync(run, Schedule, CancellationToken.None);
        var afterFirst = emulator.Requests.All.Count;
        var second = await manager.ScheduleAsync(run, Schedule, CancellationToken.None);
        var secondWrites = emulator.Requests.All.Skip(afterFirst).Select(r => r.Operation).Where(o => !s_readOnlyPrefixes.Any(p => o.StartsWith(p, StringComparison.Ordinal))).ToList();
        var winterTimes = emulator.Scheduler.NextFireTimes(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 1, 10, 12, 0, 0, TimeSpan.Zero), 1);
        var summerTimes = emulator.Scheduler.NextFireTimes(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 7, 10, 12, 0, 0, TimeSpan.Zero), 1);
        var winter = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, winterTimes[0]);
        var summer = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, summerTimes[0]);
        var executions = new[] { await PipelineTestDefinitions.WaitAsync(sageMaker, winter.PipelineExecutionArn!), await PipelineTestDefinitions.WaitAsync(sageMaker, summer.PipelineExecutionArn!) };
        await trigger.SetStateAsync("sched", "daily", enabled: false, CancellationToken.None);
        var skipped = emulator.Scheduler.Fire(SchedulerTrigger.GroupName, first.ScheduleName, new DateTimeOffset(2026, 1, 12, 5, 0, 0, TimeSpan.Zero));
        var roleName = SchedulerTrigger.RoleName("sched", "daily");
        var policies = emulator.Iam.InlinePolicies(roleName);
        var schedule = await new SchedulerClient(session).GetScheduleAsync(first.ScheduleName, SchedulerTrigger.GroupName, CancellationToken.None);
        var definitions = emulator.Requests.For("sagemaker", "CreatePipeline").Select(r => r.Parameters!.ToJsonString()).ToList();
        var credentialsKey = ServerlessScheduleManager.CredentialsKey("sched", "daily");
        var storedBefore = emulator.S3.GetObjectBytes(Bucket, credentialsKey);
        var removal = await manager.RemoveAsync("sched", "daily", Bucket, PipelineDefinitionCompiler.ScheduledPipelineName(read.Pipeline!), includePipeline: false, CancellationToken.None);

        // Fires at 06:00 Amsterdam: 05:00 UTC in winter, 04:00 UTC in summer.
        Assert.Equal(new DateTimeOffset(2026, 1, 11, 5, 0, 0, TimeSpan.Zero), winterTimes[0]);
        Assert.Equal(new DateTimeOffset(2026, 7, 11, 4, 0, 0, TimeSpan.Zero), summerTimes[0]);

        // Each firing runs the whole pipeline to Succeeded under its own job id (its execution id), credentials read from S3.
        Assert.All(executions, e => Assert.Equal("Succeeded", e.PipelineExecutionStatus));
        var jobIds = new[] { winter, summer }.Select(f => PipelineTestDefinitions.ExecutionId(f.PipelineExecutionArn!)).ToList();
        Assert.NotEqual(jobIds[0], jobIds[1]);
        foreach (var jobId in jobIds)
        {
            var score = JsonNode.Parse(emulator.S3.GetObjectBytes(Bucket, $"rlabs/sched/data/data/{jobId}/score.json")!)!;
            Assert.Equal(jobId, (string?)score["job"]);
            Assert.Equal(["extract.json"], score["seen"]!.AsArray().Select(n => (string)n!));
            Assert.True((bool)score["secret_seen"]!);
        }

        // Disabled: the firing is skipped.
        Assert.Equal((false, "disabled"), (skipped.Fired, skipped.Reason));

        // The scheduler role: one action on one pipeline.
        var statement = Assert.Single(JsonNode.Parse(Assert.Single(policies).Value)!["Statement"]!.AsArray())!;
        Assert.Equal(("sagemaker:StartPipelineExecution", first.PipelineArn), ((string?)statement["Action"], (string?)statement["Resource"]));
        Assert.EndsWith("-scheduled", first.PipelineArn, StringComparison.Ordinal);

        // The secret is in S3 (encrypted) only: never in the definition, the schedule or a parameter.
        Assert.NotNull(storedBefore);
        Assert.Contains(first.Changes, c => c.StartsWith("credentials stored encrypted at s3://", StringComparison.Ordinal));
        Assert.NotEmpty(definitions);
        Assert.All(definitions, d => Assert.DoesNotContain(Secret, d, StringComparison.Ordinal));
        Assert.DoesNotContain(Secret, System.Text.Json.JsonSerializer.Serialize(schedule), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, emulator.SageMaker.Pipelines.Snapshot().ToJsonString(), StringComparison.Ordinal);

        // Re-running New is idempotent: nothing written, nothing reported.
        Assert.Contains(first.Changes, c => c.Contains("created", StringComparison.Ordinal));
        Assert.Empty(second.Changes);
        Assert.Empty(secondWrites);

        // Removed: no schedule, no role, no stored credentials; the pipeline stays. Never an EC2, Lambda or EventBridge-rule call.
        Assert.Null(await new SchedulerClient(session).FindScheduleAsync(first.ScheduleName, SchedulerTrigger.GroupName, CancellationToken.None));
        Assert.Null(await new IamClient(session).FindRoleAsync(roleName, CancellationToken.None));
        Assert.Null(emulator.S3.GetObjectBytes(Bucket, credentialsKey));
        Assert.Contains($"credentials s3://{Bucket}/{credentialsKey}", removal.Removed);
        Assert.Contains(removal.Kept, k => k.StartsWith("SageMaker pipeline ", StringComparison.Ordinal));
        Assert.DoesNotContain(emulator.Requests.All, r => r.Service is "ec2" or "lambda" or "events");
    }
}
