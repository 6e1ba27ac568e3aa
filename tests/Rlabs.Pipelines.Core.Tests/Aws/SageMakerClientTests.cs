using System.Net;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Core.Tests.Aws;

[Trait("Tier", "Emulator")]
public sealed class SageMakerClientTests : IClassFixture<EmulatorFixture>
{
    private readonly EmulatorFixture _fixture;

    public SageMakerClientTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    internal static CreateProcessingJobRequest Job(string name, string instanceType = "ml.t3.xlarge") => new()
    {
        ProcessingJobName = name,
        RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker",
        AppSpecification = new AppSpecification
        {
            ImageUri = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            ContainerEntrypoint = ["python3", "/opt/ml/processing/input/code/run.py"],
            ContainerArguments = ["--job-id", "42"],
        },
        ProcessingResources = new ProcessingResources
        {
            ClusterConfig = new ProcessingClusterConfig { InstanceCount = 1, InstanceType = instanceType, VolumeSizeInGB = 30 },
        },
        ProcessingInputs =
        [
            new ProcessingInput
            {
                InputName = "code",
                S3Input = new ProcessingS3Input { S3Uri = "s3://bucket/code/run.py", LocalPath = "/opt/ml/processing/input/code" },
            },
        ],
        ProcessingOutputConfig = new ProcessingOutputConfig
        {
            Outputs =
            [
                new ProcessingOutput
                {
                    OutputName = "output",
                    S3Output = new ProcessingS3Output { S3Uri = "s3://bucket/data/42", LocalPath = "/opt/ml/processing/output" },
                },
            ],
        },
        StoppingCondition = new ProcessingStoppingCondition { MaxRuntimeInSeconds = 3600 },
        Environment = new Dictionary<string, string> { ["RLABS_JOB_ID"] = "42" },
        Tags = [new AwsTag { Key = "rlabs:project", Value = "demo" }],
    };

    [Fact]
    public async Task CreateProcessingJob_sends_the_request_as_the_model_names_it_and_returns_the_arn()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("create");

        var created = await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);

        Assert.Equal($"arn:aws:sagemaker:eu-west-1:123456789012:processing-job/{name}", created.ProcessingJobArn);
        var recorded = Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"), r => (string?)r.Parameters!["ProcessingJobName"] == name);
        Assert.Equal(EmulatorFixture.AccessKey, recorded.AccessKeyId);
        Assert.Equal("eu-west-1", recorded.Region);
        Assert.Equal("ml.t3.xlarge", (string?)recorded.Parameters!["ProcessingResources"]!["ClusterConfig"]!["InstanceType"]);
        Assert.Equal("/opt/ml/processing/input/code/run.py", (string?)recorded.Parameters["AppSpecification"]!["ContainerEntrypoint"]![1]);
        Assert.Equal("s3://bucket/data/42", (string?)recorded.Parameters["ProcessingOutputConfig"]!["Outputs"]![0]!["S3Output"]!["S3Uri"]);
        Assert.Equal("42", (string?)recorded.Parameters["Environment"]!["RLABS_JOB_ID"]);
        Assert.Null(recorded.Parameters["ProcessingInputs"]![0]!["AppManaged"]);
    }

    [Fact]
    public async Task DescribeProcessingJob_reports_InProgress_then_Completed()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("complete");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { DurationMs = 3000 });

        await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);
        var running = await client.DescribeProcessingJobAsync(name, CancellationToken.None);
        var done = running;
        for (var i = 0; i < 100 && !done.IsTerminal; i++)
        {
            await Task.Delay(100);
            done = await client.DescribeProcessingJobAsync(name, CancellationToken.None);
        }

        Assert.Equal("InProgress", running.ProcessingJobStatus);
        Assert.False(running.IsTerminal);
        Assert.Equal("Completed", done.ProcessingJobStatus);
        Assert.True(done.IsTerminal);
        Assert.NotNull(done.ProcessingEndTime);
        Assert.Equal(3.0, (done.ProcessingEndTime!.Value - done.CreationTime!.Value).TotalSeconds, 0.01);
        Assert.True(Math.Abs((done.CreationTime!.Value - DateTimeOffset.UtcNow).TotalMinutes) < 1, "timestamps are epoch seconds, parsed as such");
        Assert.Equal("ml.t3.xlarge", done.ProcessingResources!.ClusterConfig.InstanceType);
        Assert.Equal(["--job-id", "42"], done.AppSpecification!.ContainerArguments);
        Assert.Equal("s3://bucket/code/run.py", done.ProcessingInputs![0].S3Input!.S3Uri);
    }

    [Fact]
    public async Task DescribeProcessingJob_reports_the_configured_failure_reason()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("fail");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = "AlgorithmError: notebook raised KeyError" });

        await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);
        var failed = await client.DescribeProcessingJobAsync(name, CancellationToken.None);

        Assert.Equal("Failed", failed.ProcessingJobStatus);
        Assert.Equal("AlgorithmError: notebook raised KeyError", failed.FailureReason);
    }

    [Fact]
    public async Task StopProcessingJob_moves_a_running_job_to_Stopped_and_refuses_a_finished_one()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("stop");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { DurationMs = 60_000 });
        await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);

        await client.StopProcessingJobAsync(name, CancellationToken.None);
        var stopped = await client.DescribeProcessingJobAsync(name, CancellationToken.None);
        var again = await Assert.ThrowsAsync<AwsServiceException>(() => client.StopProcessingJobAsync(name, CancellationToken.None));

        Assert.Equal("Stopped", stopped.ProcessingJobStatus);
        Assert.Equal("ValidationException", again.ErrorCode);
        Assert.Contains("Stopped", again.AwsMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAllProcessingJobs_follows_NextToken_and_applies_filters()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var marker = Guid.NewGuid().ToString("N")[..10];
        var names = Enumerable.Range(1, 5).Select(i => $"list-{marker}-{i}").ToList();
        foreach (var name in names)
        {
            await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);
        }

        var listed = new List<ProcessingJobSummary>();
        await foreach (var summary in client.ListAllProcessingJobsAsync(
            new ListProcessingJobsRequest { NameContains = marker, MaxResults = 2, SortBy = "Name", SortOrder = "Ascending" }, CancellationToken.None))
        {
            listed.Add(summary);
        }

        Assert.Equal(names, listed.Select(s => s.ProcessingJobName));
        Assert.All(listed, s => Assert.Equal("Completed", s.ProcessingJobStatus));
        Assert.Equal(3, _fixture.Emulator.Requests.For("sagemaker", "ListProcessingJobs").Count(r => (string?)r.Parameters!["NameContains"] == marker));
    }

    [Fact]
    public async Task Creating_a_job_twice_is_a_conflict()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("twice");
        await client.CreateProcessingJobAsync(Job(name), CancellationToken.None);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.CreateProcessingJobAsync(Job(name), CancellationToken.None));

        Assert.Equal("ResourceInUse", ex.ErrorCode);
        Assert.Equal(AwsErrorKind.Conflict, ex.Kind);
        Assert.Equal("SageMaker", ex.Service);
        Assert.Equal("CreateProcessingJob", ex.Operation);
        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
        Assert.False(string.IsNullOrEmpty(ex.RequestId));
    }

    [Fact]
    public async Task Describing_an_unknown_job_fails_with_the_AWS_code()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);

        var ex = await Assert.ThrowsAsync<AwsServiceException>(() => client.DescribeProcessingJobAsync("no-such-job", CancellationToken.None));

        Assert.Equal("ValidationException", ex.ErrorCode);
        Assert.Equal("Could not find requested job with name no-such-job", ex.AwsMessage);
    }
}
