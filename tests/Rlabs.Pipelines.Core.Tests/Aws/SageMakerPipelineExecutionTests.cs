using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;
using static Rlabs.Pipelines.Core.Tests.Aws.PipelineTestDefinitions;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>SageMaker Pipelines executions on the emulator, driven through <see cref="SageMakerClient"/>: the
/// steps' commands really run, in dependency order, concurrently where they can, cached, retried, stopped.</summary>
[Trait("Tier", "Emulator")]
public sealed class SageMakerPipelineExecutionTests : IClassFixture<EmulatorFixture>
{
    private readonly EmulatorFixture _fixture;

    public SageMakerPipelineExecutionTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    // SageMaker lowercases job ARNs but not job names, so the name comes from the emulator's record of the step.
    private string JobName(string pipeline, string step) =>
        (string)_fixture.Emulator.SageMaker.Pipelines.Snapshot(pipeline)[0]!["steps"]!.AsArray().Single(s => (string?)s!["name"] == step)!["jobNames"]![0]!;

    private static bool Overlap(PipelineExecutionStep a, PipelineExecutionStep b) => a.StartTime < b.EndTime && b.StartTime < a.EndTime;

    [Fact]
    public async Task A_diamond_runs_its_branches_concurrently_and_hands_data_through_step_properties()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("diamond");
        var d = RunStep("D", bucket, [OutputOf("B"), OutputOf("C")]);
        d["DependsOn"] = new JsonArray("A");
        await CreateAsync(client, name, Definition(
            RunStep("A", bucket, []),
            RunStep("B", bucket, [OutputOf("A")], "--sleep", "1.5"),
            RunStep("C", bucket, [OutputOf("A")], "--sleep", "1.5"),
            d));

        var arn = await StartAsync(client, name, "job42");
        var execution = await WaitAsync(client, arn);
        var steps = await StepsAsync(client, arn);

        Assert.Equal("Succeeded", execution.PipelineExecutionStatus);
        Assert.Null(execution.FailureReason);
        Assert.Equal(["A", "B", "C", "D"], steps.Keys.Order());
        Assert.All(steps.Values, s => Assert.Equal("Succeeded", s.StepStatus));
        Assert.All(steps.Values, s => Assert.StartsWith($"arn:aws:sagemaker:eu-west-1:123456789012:processing-job/pipelines-{ExecutionId(arn)}-", s.ProcessingJobArn, StringComparison.Ordinal));
        Assert.True(Overlap(steps["B"], steps["C"]), "the branches B and C ran one after the other");
        Assert.True(steps["A"].EndTime <= steps["B"].StartTime && steps["C"].EndTime <= steps["D"].StartTime && steps["B"].EndTime <= steps["D"].StartTime);
        var prefix = $"runs/job42/{ExecutionId(arn)}";
        Assert.Equal("A+B", Read(_fixture.Emulator, bucket, $"{prefix}/B/B.txt"));
        Assert.Equal("A+C", Read(_fixture.Emulator, bucket, $"{prefix}/C/C.txt"));
        Assert.Equal("A+B+A+C+D", Read(_fixture.Emulator, bucket, $"{prefix}/D/D.txt"));
        var summaries = new List<PipelineExecutionSummary>();
        await foreach (var summary in client.ListAllPipelineExecutionsAsync(new ListPipelineExecutionsRequest { PipelineName = name }, CancellationToken.None))
        {
            summaries.Add(summary);
        }

        Assert.Equal(arn, Assert.Single(summaries).PipelineExecutionArn);
    }

    [Fact]
    public async Task MaxParallelExecutionSteps_of_one_runs_the_branches_one_at_a_time()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("serial");
        await CreateAsync(client, name, Definition(RunStep("B", bucket, [], "--sleep", "0.5"), RunStep("C", bucket, [], "--sleep", "0.5")));

        var arn = (await client.StartPipelineExecutionAsync(new StartPipelineExecutionRequest
        {
            PipelineName = name,
            ParallelismConfiguration = new ParallelismConfiguration { MaxParallelExecutionSteps = 1 },
        }, CancellationToken.None)).PipelineExecutionArn;
        var execution = await WaitAsync(client, arn);
        var steps = await StepsAsync(client, arn);

        Assert.Equal("Succeeded", execution.PipelineExecutionStatus);
        Assert.Equal(1, execution.ParallelismConfiguration!.MaxParallelExecutionSteps);
        Assert.False(Overlap(steps["B"], steps["C"]), "MaxParallelExecutionSteps=1 let two steps run at once");
        Assert.Equal("B", Read(_fixture.Emulator, bucket, $"runs/0/{ExecutionId(arn)}/B/B.txt"));
    }

    [Fact]
    public async Task The_same_ClientRequestToken_returns_the_same_execution_and_never_starts_a_second()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("idem");
        await CreateAsync(client, name, Definition(RunStep("A", bucket, [])));
        var token = "rlabs-" + Guid.NewGuid().ToString("N");

        var first = await StartAsync(client, name, "7", token);
        var second = await StartAsync(client, name, "7", token);
        var other = await Assert.ThrowsAsync<AwsServiceException>(() => StartAsync(client, name, "8", token));
        var third = await StartAsync(client, name, "7");

        Assert.Equal(first, second);
        Assert.NotEqual(first, third);
        Assert.Equal("ValidationException", other.ErrorCode);
        Assert.Equal(2, _fixture.Emulator.SageMaker.Pipelines.Snapshot(name).Count);
        Assert.Equal("Succeeded", (await WaitAsync(client, first)).PipelineExecutionStatus);
        Assert.Equal("A", Read(_fixture.Emulator, bucket, $"runs/7/{ExecutionId(first)}/A/A.txt"));
    }

    [Fact]
    public async Task A_cached_step_reuses_the_earlier_job_within_ExpireAfter_and_runs_again_after_it()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("cache");

        // The output does not depend on the execution, so the resolved Arguments are the same each time.
        var cached = Step("Prepare", bucket, Join($"s3://{bucket}/prepared", Get("Parameters.JobId")), []);
        cached["CacheConfig"] = new JsonObject { ["Enabled"] = true, ["ExpireAfter"] = "PT2S" };
        await CreateAsync(client, name, Definition(cached));

        var first = await StartAsync(client, name, "1");
        await WaitAsync(client, first);
        var second = await StartAsync(client, name, "1");
        await WaitAsync(client, second);
        var otherArguments = await StartAsync(client, name, "2");
        await WaitAsync(client, otherArguments);
        await Task.Delay(2500);
        var expired = await StartAsync(client, name, "1");
        await WaitAsync(client, expired);

        var run = (await StepsAsync(client, first))["Prepare"];
        var hit = (await StepsAsync(client, second))["Prepare"];
        Assert.False(run.IsCacheHit);
        Assert.Equal("Succeeded", hit.StepStatus);
        Assert.Equal(first, hit.CacheHitResult!.SourcePipelineExecutionArn);
        Assert.Equal(run.ProcessingJobArn, hit.ProcessingJobArn);
        Assert.False((await StepsAsync(client, otherArguments))["Prepare"].IsCacheHit);
        Assert.False((await StepsAsync(client, expired))["Prepare"].IsCacheHit);
        var jobs = _fixture.Emulator.SageMaker.Pipelines.Snapshot(name).Select(e => e!["steps"]![0]!["jobNames"]!.AsArray().Count).ToList();
        Assert.Equal([1, 0, 1, 1], jobs);
        var listed = await client.ListProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = ExecutionId(second) }, CancellationToken.None);
        Assert.Empty(listed.ProcessingJobSummaries);
    }

    [Fact]
    public async Task A_failed_step_fails_the_execution_with_its_reason_and_the_steps_after_it_never_start()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("fail");
        await CreateAsync(client, name, Definition(
            RunStep("Extract", bucket, [], "--fail", "KeyError: 'amount'"),
            RunStep("Report", bucket, [OutputOf("Extract")])));

        var arn = await StartAsync(client, name, "9");
        var execution = await WaitAsync(client, arn);
        var steps = await StepsAsync(client, arn);

        Assert.Equal("Failed", execution.PipelineExecutionStatus);
        Assert.Contains("Extract", execution.FailureReason, StringComparison.Ordinal);
        Assert.Contains("AlgorithmError: KeyError: 'amount' (exit code 3)", execution.FailureReason, StringComparison.Ordinal);
        var failed = Assert.Single(steps.Values);
        Assert.Equal("Extract", failed.StepName);
        Assert.Equal("Failed", failed.StepStatus);
        Assert.Equal("AlgorithmError: KeyError: 'amount' (exit code 3)", failed.FailureReason);
        Assert.Equal(1, failed.AttemptCount);
        var job = await client.DescribeProcessingJobAsync(JobName(name, "Extract"), CancellationToken.None);
        Assert.Equal(failed.ProcessingJobArn, job.ProcessingJobArn);
        Assert.Equal("Failed", job.ProcessingJobStatus);
    }

    [Fact]
    public async Task A_retry_policy_retries_the_failure_types_it_names_and_no_others()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("retry");
        JsonObject Retried(string step)
        {
            var s = RunStep(step, bucket, []);
            s["RetryPolicies"] = new JsonArray(new JsonObject
            {
                ["ExceptionType"] = new JsonArray("SageMaker.JOB_INTERNAL_ERROR"), ["IntervalSeconds"] = 1, ["BackoffRate"] = 1.0, ["MaxAttempts"] = 2,
            });
            return s;
        }

        await CreateAsync(client, name, Definition(Retried("Flaky"), Retried("Broken"), Retried("Down")));
        var pipelines = _fixture.Emulator.SageMaker.Pipelines;
        var internalError = new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = "InternalServerError: We encountered an internal error." };
        pipelines.SetStepBehaviour(new PipelineStepBehaviour { PipelineName = name, StepName = "Flaky", Attempts = [internalError, new ProcessingJobBehaviour { Execute = true }] });
        pipelines.SetStepBehaviour(new PipelineStepBehaviour { PipelineName = name, StepName = "Broken", Attempts = [new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = "AlgorithmError: bad input" }] });
        pipelines.SetStepBehaviour(new PipelineStepBehaviour { PipelineName = name, StepName = "Down", Attempts = [internalError] });

        var arn = await StartAsync(client, name, "5");
        var execution = await WaitAsync(client, arn);
        var steps = await StepsAsync(client, arn);

        Assert.Equal("Failed", execution.PipelineExecutionStatus);
        Assert.Equal("Succeeded", steps["Flaky"].StepStatus);
        Assert.Equal(2, steps["Flaky"].AttemptCount);
        Assert.Equal("Flaky", Read(_fixture.Emulator, bucket, $"runs/5/{ExecutionId(arn)}/Flaky/Flaky.txt"));
        Assert.Equal("Failed", steps["Broken"].StepStatus);
        Assert.Equal(1, steps["Broken"].AttemptCount);
        Assert.Equal("AlgorithmError: bad input", steps["Broken"].FailureReason);
        Assert.Equal("Failed", steps["Down"].StepStatus);
        Assert.Equal(3, steps["Down"].AttemptCount);
        Assert.StartsWith("InternalServerError", steps["Down"].FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopPipelineExecution_stops_the_running_job_and_the_execution_ends_Stopped()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("stop");
        await CreateAsync(client, name, Definition(RunStep("Slow", bucket, [], "--sleep", "60"), RunStep("After", bucket, [OutputOf("Slow")])));
        var arn = await StartAsync(client, name, "3");
        await WaitAsync(client, arn, _ => _fixture.Emulator.SageMaker.Pipelines.Snapshot(name)[0]!["steps"]![0]!["jobNames"]!.AsArray().Count == 1);

        var started = DateTimeOffset.UtcNow;
        await client.StopPipelineExecutionAsync(arn, null, CancellationToken.None);
        var execution = await WaitAsync(client, arn);
        var steps = await StepsAsync(client, arn);
        var again = await Assert.ThrowsAsync<AwsServiceException>(() => client.StopPipelineExecutionAsync(arn, null, CancellationToken.None));

        Assert.Equal("Stopped", execution.PipelineExecutionStatus);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(20), "the stop waited for the step's command to finish");
        var slow = Assert.Single(steps.Values);
        Assert.Equal("Stopped", slow.StepStatus);
        var job = await client.DescribeProcessingJobAsync(JobName(name, "Slow"), CancellationToken.None);
        Assert.Equal(slow.ProcessingJobArn, job.ProcessingJobArn);
        Assert.Equal("Stopped", job.ProcessingJobStatus);
        Assert.Equal("ValidationException", again.ErrorCode);
    }

    [Fact]
    public async Task RetryPipelineExecution_reruns_only_the_failed_step_and_those_after_it()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = SeedBucket(_fixture.Emulator);
        var name = EmulatorFixture.UniqueName("resume");
        await CreateAsync(client, name, Definition(
            RunStep("A", bucket, []),
            RunStep("B", bucket, [OutputOf("A")]),
            RunStep("C", bucket, [OutputOf("B")])));
        _fixture.Emulator.SageMaker.Pipelines.SetStepBehaviour(new PipelineStepBehaviour
        {
            PipelineName = name,
            StepName = "B",
            Attempts = [new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = "AlgorithmError: transient" }, new ProcessingJobBehaviour { Execute = true }],
        });
        var arn = await StartAsync(client, name, "11");
        Assert.Equal("Failed", (await WaitAsync(client, arn)).PipelineExecutionStatus);
        var token = Guid.NewGuid().ToString();

        var retried = await client.RetryPipelineExecutionAsync(arn, token, null, CancellationToken.None);
        var sameToken = await client.RetryPipelineExecutionAsync(arn, token, null, CancellationToken.None);
        var execution = await WaitAsync(client, arn);
        var done = await Assert.ThrowsAsync<AwsServiceException>(() => client.RetryPipelineExecutionAsync(arn, null, null, CancellationToken.None));

        Assert.Equal(arn, retried.PipelineExecutionArn);
        Assert.Equal(arn, sameToken.PipelineExecutionArn);
        Assert.Equal("Succeeded", execution.PipelineExecutionStatus);
        Assert.Null(execution.FailureReason);
        var jobs = _fixture.Emulator.SageMaker.Pipelines.Snapshot(name)[0]!["steps"]!.AsArray().ToDictionary(s => (string)s!["name"]!, s => s!["jobNames"]!.AsArray().Count);
        Assert.Equal(new Dictionary<string, int> { ["A"] = 1, ["B"] = 2, ["C"] = 1 }, jobs);
        Assert.Equal("A+B+C", Read(_fixture.Emulator, bucket, $"runs/11/{ExecutionId(arn)}/C/C.txt"));
        Assert.Equal("ValidationException", done.ErrorCode);
    }
}
