using System.Text;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.Core.Tests.Aws;

/// <summary>The emulator runs a job's command for real: inputs from its S3, outputs back, output in the job's log stream.</summary>
[Trait("Tier", "Emulator")]
public sealed class ProcessingJobExecutionTests : IClassFixture<EmulatorFixture>
{
    private const string Script = """
        import argparse, os, sys, pathlib
        parser = argparse.ArgumentParser()
        parser.add_argument("--input-data-path")
        parser.add_argument("--output-data-path")
        parser.add_argument("--job-id")
        parser.add_argument("--fail", default="")
        args = parser.parse_args()
        rows = pathlib.Path(args.input_data_path, "nested", "rows.csv").read_text().splitlines()
        print(f"job {args.job_id} read {len(rows)} rows", flush=True)
        if args.fail:
            print(args.fail, file=sys.stderr, flush=True)
            sys.exit(3)
        out = pathlib.Path(args.output_data_path, "step1")
        out.mkdir(parents=True)
        (out / "total.txt").write_text(str(sum(int(r) for r in rows)) + " " + os.environ["RLABS_OUTPUT"])
        print("done", flush=True)
        """;

    private readonly EmulatorFixture _fixture;

    public ProcessingJobExecutionTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
    }

    private static CreateProcessingJobRequest Job(string name, string bucket, params string[] extraArguments) => new()
    {
        ProcessingJobName = name,
        RoleArn = "arn:aws:iam::123456789012:role/rlabs",
        AppSpecification = new AppSpecification
        {
            ImageUri = "sagemaker-scikit-learn:1.2-1-cpu-py3",
            ContainerEntrypoint = ["/usr/bin/python3", "/opt/ml/processing/input/code/run.py"],
            ContainerArguments = new[] { "--job-id", "42", "--input-data-path", "/opt/ml/processing/input/data", "--output-data-path", "/opt/ml/processing/output" }.Concat(extraArguments).ToList(),
        },
        ProcessingResources = new ProcessingResources { ClusterConfig = new ProcessingClusterConfig { InstanceType = "ml.t3.medium" } },
        ProcessingInputs =
        [
            new ProcessingInput { InputName = "code", S3Input = new ProcessingS3Input { S3Uri = $"s3://{bucket}/code/run.py", LocalPath = "/opt/ml/processing/input/code" } },
            new ProcessingInput { InputName = "data", S3Input = new ProcessingS3Input { S3Uri = $"s3://{bucket}/data/42/in", LocalPath = "/opt/ml/processing/input/data" } },
        ],
        ProcessingOutputConfig = new ProcessingOutputConfig
        {
            Outputs = [new ProcessingOutput { OutputName = "out", S3Output = new ProcessingS3Output { S3Uri = $"s3://{bucket}/data/42/out", LocalPath = "/opt/ml/processing/output" } }],
        },
        StoppingCondition = new ProcessingStoppingCondition { MaxRuntimeInSeconds = 120 },
        Environment = new Dictionary<string, string> { ["RLABS_OUTPUT"] = "/opt/ml/processing/output" },
    };

    private static async Task<DescribeProcessingJobResponse> WaitAsync(SageMakerClient client, string name)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var job = await client.DescribeProcessingJobAsync(name, timeout.Token);
            if (job.IsTerminal)
            {
                return job;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    private static async Task<List<string>> LogAsync(AwsSession session, string name)
    {
        var logs = new CloudWatchLogsClient(session);
        var stream = (await logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest { LogGroupName = SageMakerService.LogGroup, LogStreamNamePrefix = name + "/" }, CancellationToken.None)).LogStreams.Single();
        var events = await logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = SageMakerService.LogGroup, LogStreamName = stream.LogStreamName, StartFromHead = true }, CancellationToken.None);
        return events.Events.Select(e => e.Message).ToList();
    }

    private string Seed()
    {
        var bucket = "exec-" + Guid.NewGuid().ToString("N")[..16];
        _fixture.Emulator.S3.PutObjectBytes(bucket, "code/run.py", Encoding.UTF8.GetBytes(Script));
        _fixture.Emulator.S3.PutObjectBytes(bucket, "data/42/in/nested/rows.csv", Encoding.UTF8.GetBytes("1\n2\n39\n"));
        return bucket;
    }

    [Fact]
    public async Task A_job_reads_its_inputs_and_writes_its_outputs_back_to_S3()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = Seed();
        var name = EmulatorFixture.UniqueName("exec");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { Execute = true });

        await client.CreateProcessingJobAsync(Job(name, bucket), CancellationToken.None);
        var job = await WaitAsync(client, name);

        Assert.Equal("Completed", job.ProcessingJobStatus);
        var total = Encoding.UTF8.GetString(_fixture.Emulator.S3.GetObjectBytes(bucket, "data/42/out/step1/total.txt")!);
        Assert.StartsWith("42 /", total, StringComparison.Ordinal);
        Assert.DoesNotContain("/opt/ml", total, StringComparison.Ordinal);
        var log = await LogAsync(session, name);
        Assert.Contains("job 42 read 3 rows", log);
        Assert.Contains("done", log);
    }

    [Fact]
    public async Task A_failing_command_fails_the_job_with_its_error_and_uploads_nothing()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = Seed();
        var name = EmulatorFixture.UniqueName("execfail");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { Execute = true });

        await client.CreateProcessingJobAsync(Job(name, bucket, "--fail", "KeyError: 'customer_id'"), CancellationToken.None);
        var job = await WaitAsync(client, name);

        Assert.Equal("Failed", job.ProcessingJobStatus);
        Assert.Equal("AlgorithmError: KeyError: 'customer_id' (exit code 3)", job.FailureReason);
        Assert.Empty(_fixture.Emulator.S3.ListKeys(bucket, "data/42/out"));
        Assert.Contains("KeyError: 'customer_id'", await LogAsync(session, name));
    }

    [Fact]
    public async Task A_missing_input_prefix_fails_like_SageMaker_does()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var name = EmulatorFixture.UniqueName("execmissing");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { Execute = true });

        await client.CreateProcessingJobAsync(Job(name, "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8]), CancellationToken.None);
        var job = await WaitAsync(client, name);

        Assert.Equal("Failed", job.ProcessingJobStatus);
        Assert.StartsWith("ClientError: No S3 objects found under S3 URL", job.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_a_running_job_kills_its_command()
    {
        using var session = _fixture.Session();
        var client = new SageMakerClient(session);
        var bucket = "exec-" + Guid.NewGuid().ToString("N")[..16];
        _fixture.Emulator.S3.PutObjectBytes(bucket, "code/run.py", Encoding.UTF8.GetBytes("import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n"));
        _fixture.Emulator.S3.PutObjectBytes(bucket, "data/42/in/nested/rows.csv", Encoding.UTF8.GetBytes("1\n"));
        var name = EmulatorFixture.UniqueName("execstop");
        _fixture.Emulator.SageMaker.SetBehaviour(name, new ProcessingJobBehaviour { Execute = true });

        await client.CreateProcessingJobAsync(Job(name, bucket), CancellationToken.None);
        for (var i = 0; i < 100 && !(await LogAsync(session, name)).Contains("sleeping"); i++)
        {
            await Task.Delay(100);
        }

        var started = DateTimeOffset.UtcNow;
        await client.StopProcessingJobAsync(name, CancellationToken.None);
        var job = await WaitAsync(client, name);

        Assert.Equal("Stopped", job.ProcessingJobStatus);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(20));
    }
}
