using System.Text.Json.Nodes;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.AwsEmulator;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Tests.Running;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>Cloud runs against the model-checked emulator; its jobs really execute the code scripts (LocalProcessingJobExecutor).</summary>
[Trait("Tier", "Emulator")]
public sealed class CloudRunTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker";

    private const string StepScript = """
        import argparse, json, os, sys, time
        p = argparse.ArgumentParser()
        p.add_argument('--job-id', required=True)
        p.add_argument('--input-data-zip')
        p.add_argument('--input-data-path')
        p.add_argument('--output-data-path', required=True)
        p.add_argument('--source-code-zip', required=True)
        p.add_argument('--requirements-path', required=True)
        args, extra = p.parse_known_args()
        params = dict(zip([e[2:] for e in extra[::2]], extra[1::2]))
        name = os.environ['RLABS_STEP_NAME']
        seen = sorted(os.listdir(args.input_data_path)) if args.input_data_path else []
        os.makedirs(args.output_data_path, exist_ok=True)
        with open(os.path.join(args.output_data_path, name + '.json'), 'w') as f:
            json.dump({'seen': seen, 'params': params, 'zip': os.path.exists(args.source_code_zip)}, f)
        print('step', name, 'saw', len(seen), 'files', flush=True)
        if params.get('mode') == 'fail':
            print('bad things happened', flush=True)
            sys.exit(4)
        if params.get('mode') == 'slow':
            time.sleep(60)
        if params.get('mode') == 'sleep':
            time.sleep(float(params['seconds']))
        """;

    private readonly EmulatorFixture _fixture;
    private readonly TempRepository _repo = new();

    public CloudRunTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
        _repo.Write("step.py", StepScript);
        _repo.Write("requirements.txt", "# none\n");
    }

    public void Dispose()
    {
        _repo.Dispose();
        if (Directory.Exists(_repo.Root + "-pipelines"))
        {
            Directory.Delete(_repo.Root + "-pipelines", recursive: true);
        }
    }

    private RlabsPipeline Pipeline(string steps, string project = "churn", bool outsideRepository = false)
    {
        var yaml = $"project: {project}\nrole_arn: {RoleArn}\npipeline:\n{steps}";
        var path = outsideRepository ? Path.Combine(_repo.Root + "-pipelines", "pipeline.yaml") : _repo.Write("pipeline.yaml", yaml);
        if (outsideRepository)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, yaml);
        }
        var result = PipelineConfigReader.Read(path, _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private const string ThreeSteps = """
          - { name: prepare, job_suffix: P, code: step.py, output_path: data }
          - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data, params: { rate: "0.1" } }
          - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
        """;

    /// <summary>The default bucket of the emulator's account in eu-west-1.</summary>
    private const string Bucket = "sagemaker-eu-west-1-123456789012";

    private static RunRequest Plan(RlabsPipeline pipeline, string jobId, bool resume = false, CredentialsFile? credentials = null, bool noWait = false) => new()
    {
        Pipeline = pipeline,
        JobId = jobId,
        Credentials = credentials,
        Cloud = new CloudRunOptions { Resume = resume, NoWait = noWait },
    };

    /// <summary>Plans and runs the request through the one engine with the SageMaker runtime, as Invoke-RlabsPipeline does.</summary>
    private async Task<RlabsPipelineRun> RunAsync(RunRequest request, bool noWait = false, IRunReporter? reporter = null, TimeSpan? throttlingBudget = null, CancellationToken cancellationToken = default)
    {
        using var runtime = new SageMakerRuntime(_fixture.Session(throttlingBudget: throttlingBudget));
        var plan = RunEngine.Plan(noWait ? Plan(request.Pipeline, request.JobId, request.Cloud.Resume, request.Credentials, noWait: true) : request, runtime);
        return await RunEngine.RunAsync(plan, runtime, reporter ?? NullRunReporter.Instance, cancellationToken);
    }

    private JsonNode? Created(string stepName) => _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob")
        .Where(r => r.StatusCode == 200)
        .Select(r => r.Parameters)
        .LastOrDefault(p => p?["Environment"]?["RLABS_STEP_NAME"]?.GetValue<string>() == stepName);

    private JsonNode? Output(string jobId, string step)
    {
        var bytes = _fixture.Emulator.S3.GetObjectBytes("sagemaker-eu-west-1-123456789012", $"rlabs/churn/data/data/{jobId}/{step}.json");
        return bytes is null ? null : JsonNode.Parse(bytes);
    }

    [Fact]
    public async Task Should_run_every_step_as_a_processing_job_handing_data_through_s3()
    {
        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c1"));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.All(run.Steps, s => Assert.Equal(RlabsRunStatus.Completed, s.Status));
        Assert.Equal("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data", run.DataRoot);
        Assert.Empty(Output("c1", "prepare")!["seen"]!.AsArray());
        Assert.Equal(["prepare.json"], Output("c1", "train")!["seen"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["prepare.json", "train.json"], Output("c1", "score")!["seen"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.True(Output("c1", "train")!["zip"]!.GetValue<bool>());
        Assert.Equal("0.1", Output("c1", "train")!["params"]!["rate"]!.GetValue<string>());
        Assert.True(_fixture.Emulator.S3.BucketExists("sagemaker-eu-west-1-123456789012"));
        Assert.Single(_fixture.Emulator.Requests.For("s3", "PutPublicAccessBlock"));
        Assert.Single(_fixture.Emulator.Requests.For("s3", "PutBucketEncryption"));
        Assert.DoesNotContain(_fixture.Emulator.Requests.All, r => r.StatusCode >= 400 && r.Operation != "HeadBucket" && r.Operation != "HeadObject");
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "ListProcessingJobs"));
    }

    [Fact]
    public async Task Should_start_the_first_job_without_reading_back_the_manifest_it_just_wrote_and_keep_every_log_line()
    {
        var reporter = new RecordingReporter();
        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c-fast"), reporter: reporter);
        Assert.Equal(RlabsRunStatus.Completed, run.Status);

        bool IsManifest(RecordedRequest r) => (string?)r.Parameters?["Key"] == "rlabs/churn/runs/c-fast/run.json";
        var all = _fixture.Emulator.Requests.All;
        var firstSave = all.First(r => r.Operation == "PutObject" && IsManifest(r)).Sequence;
        var firstCreate = all.First(r => r.Operation == "CreateProcessingJob").Sequence;
        Assert.DoesNotContain(all, r => r.Operation == "GetObject" && IsManifest(r) && r.Sequence > firstSave && r.Sequence < firstCreate);
        // Later steps still ask whether another session stopped the run while a job ran.
        Assert.Contains(all, r => r.Operation == "GetObject" && IsManifest(r) && r.Sequence > firstCreate);

        // The last lines of a completed job are drained while the next job starts, and awaited before the run returns.
        foreach (var step in new[] { "prepare", "train", "score" })
        {
            Assert.Contains(reporter.Lines, l => l.Contains($"step {step} saw", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Should_ask_about_a_job_no_more_often_than_the_polling_schedule_allows()
    {
        var steps = ThreeSteps.Replace("params: { rate: \"0.1\" }", "params: { mode: sleep, seconds: \"6\" }", StringComparison.Ordinal);
        var run = await RunAsync(Plan(Pipeline(steps), "c-poll"));
        Assert.Equal(RlabsRunStatus.Completed, run.Status);

        var train = run.Steps.Single(s => s.StepName == "train").JobName;
        var job = _fixture.Emulator.SageMaker.Snapshot().Single(j => (string?)j!["processingJobName"] == train)!;
        var seconds = job["processingEndTime"]!.GetValue<double>() - job["creationTime"]!.GetValue<double>();
        var describes = _fixture.Emulator.Requests.For("sagemaker", "DescribeProcessingJob").Count(r => (string?)r.Parameters?["ProcessingJobName"] == train);

        // The first call two intervals after the job was created, then one per interval, the last seeing it ended:
        // never more calls than intervals in the job's life (one more for a timer's rounding).
        using var session = _fixture.Session();
        var interval = session.JobPollInterval.TotalSeconds;
        Assert.InRange(describes, 2, (int)(seconds / interval) + 1);
    }

    [Fact]
    public async Task Should_send_the_seed_contract_and_container_layout_in_CreateProcessingJob()
    {
        await RunAsync(Plan(Pipeline(ThreeSteps), "c2"));

        var train = Created("train")!;
        var app = train["AppSpecification"]!;
        Assert.Equal("683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3".Replace("683313688378", "141502667606", StringComparison.Ordinal), app["ImageUri"]!.GetValue<string>());
        Assert.Equal(["python3", "/opt/ml/processing/input/code/step.py"], app["ContainerEntrypoint"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(
            ["--job-id", "c2", "--input-data-path", "/opt/ml/processing/input/data", "--output-data-path", "/opt/ml/processing/output",
             "--source-code-zip", "/opt/ml/processing/input/source/source.zip", "--requirements-path", "/opt/ml/processing/input/requirements/requirements.txt",
             "--rate", "0.1"],
            app["ContainerArguments"]!.AsArray().Select(n => n!.GetValue<string>()));
        var inputs = train["ProcessingInputs"]!.AsArray().ToDictionary(i => i!["InputName"]!.GetValue<string>(), i => i!["S3Input"]!);
        Assert.Equal("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data/data/c2/", inputs["data"]["S3Uri"]!.GetValue<string>());
        Assert.Equal("/opt/ml/processing/input/data", inputs["data"]["LocalPath"]!.GetValue<string>());
        Assert.StartsWith("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/artifacts/source/", inputs["source"]["S3Uri"]!.GetValue<string>(), StringComparison.Ordinal);
        var output = train["ProcessingOutputConfig"]!["Outputs"]![0]!["S3Output"]!;
        Assert.Equal("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data/data/c2/", output["S3Uri"]!.GetValue<string>());
        Assert.Equal(RoleArn, train["RoleArn"]!.GetValue<string>());
        var tags = train["Tags"]!.AsArray().ToDictionary(t => t!["Key"]!.GetValue<string>(), t => t!["Value"]!.GetValue<string>());
        Assert.Equal("c2", tags["rlabs:job-id"]);
        Assert.Equal("train", tags["rlabs:step"]);
        Assert.Equal("churn", tags["rlabs:project"]);
        Assert.Matches("^churn-c2-T-[0-9a-f]{4}$", train["ProcessingJobName"]!.GetValue<string>());
        // The same variables as a local step (issue 11's second drift): the UTF-8 ones and the pipeline's name too.
        var environment = train["Environment"]!.AsObject().ToDictionary(e => e.Key, e => e.Value!.GetValue<string>());
        Assert.Equal("utf-8", environment["PYTHONIOENCODING"]);
        Assert.Equal("1", environment["PYTHONUTF8"]);
        Assert.Equal("1", environment["PYTHONUNBUFFERED"]);
        Assert.Equal("pipeline", environment["RLABS_PIPELINE"]);
        Assert.Equal("c2", environment["RLABS_JOB_ID"]);
        Assert.Equal("train", environment["RLABS_STEP_NAME"]);
    }

    [Fact]
    public async Task Should_run_a_first_step_whose_input_prefix_is_empty_without_a_data_input_and_warn_once()
    {
        var lines = new LineReporter();
        var run = await RunAsync(Plan(Pipeline("""
              - { name: load, job_suffix: L, code: step.py, input_data: "data/<job_id>", output_path: data }
              - { name: next, job_suffix: N, code: step.py, input_data: "data/<job_id>", output_path: data }
            """), "e1"), reporter: lines);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var load = Created("load")!;
        Assert.DoesNotContain(load["ProcessingInputs"]!.AsArray(), i => i!["InputName"]!.GetValue<string>() == "data");
        var entrypoint = load["AppSpecification"]!["ContainerEntrypoint"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(["/bin/sh", "-c"], entrypoint.Take(2));
        Assert.Contains("mkdir -p /opt/ml/processing/input/data", entrypoint[2], StringComparison.Ordinal);
        Assert.Contains("--input-data-path", load["AppSpecification"]!["ContainerArguments"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Empty(Output("e1", "load")!["seen"]!.AsArray());
        Assert.Equal(["load.json"], Output("e1", "next")!["seen"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains(Created("next")!["ProcessingInputs"]!.AsArray(), i => i!["InputName"]!.GetValue<string>() == "data");
        var warning = Assert.Single(lines.Lines, l => l.Contains("empty input folder", StringComparison.Ordinal));
        Assert.Contains("'load'", warning, StringComparison.Ordinal);
        Assert.Contains("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data/data/e1", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_keep_the_data_input_of_a_first_step_whose_input_exists()
    {
        _fixture.Emulator.S3.PutObjectBytes(Bucket, "rlabs/churn/data/raw/e2/rows.csv", "a,b\n"u8.ToArray());

        var run = await RunAsync(Plan(Pipeline("""
              - { name: load, job_suffix: L, code: step.py, input_data: "raw/<job_id>", output_path: data }
            """), "e2"));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Contains(Created("load")!["ProcessingInputs"]!.AsArray(), i => i!["InputName"]!.GetValue<string>() == "data");
        Assert.Equal(["rows.csv"], Output("e2", "load")!["seen"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public async Task Should_fail_a_step_whose_input_an_earlier_step_did_not_write_before_creating_its_job()
    {
        var run = await RunAsync(Plan(Pipeline("""
              - { name: first, job_suffix: F, code: step.py, output_path: data }
              - { name: second, job_suffix: S, code: step.py, input_data: "data/<job_id>/batch.zip", output_path: data }
            """), "e3"));

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Contains("s3://sagemaker-eu-west-1-123456789012/rlabs/churn/data/data/e3/batch.zip", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Contains("Step 'first' writes its output there", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Null(Created("second"));
    }

    [Fact]
    public async Task Should_upload_nothing_on_a_second_run_of_an_unchanged_repository()
    {
        var pipeline = Pipeline(ThreeSteps);
        var first = await RunAsync(Plan(pipeline, "c3"));
        var second = await RunAsync(Plan(pipeline, "c4"));
        _repo.Write("step.py", StepScript + "\n# changed\n");
        var third = await RunAsync(Plan(Pipeline(ThreeSteps), "c5"));

        Assert.True(first.UploadedBytes > 0);
        Assert.Equal(0, second.UploadedBytes);
        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.True(third.UploadedBytes > 0, "a changed script is uploaded again");
    }

    [Fact]
    public async Task Should_refuse_a_default_bucket_owned_by_another_account_and_upload_nothing()
    {
        _fixture.Emulator.S3.CreateForeignBucket("sagemaker-eu-west-1-123456789012", "999999999999");

        var error = await Assert.ThrowsAsync<Rlabs.Pipelines.Aws.AwsServiceException>(() => RunAsync(Plan(Pipeline(ThreeSteps), "sniped")));

        Assert.Equal("BucketOwnedByAnotherAccount", error.ErrorCode);
        Assert.Contains("123456789012", error.Message, StringComparison.Ordinal);
        Assert.Empty(_fixture.Emulator.Requests.For("s3", "PutObject"));
        Assert.Empty(_fixture.Emulator.Requests.For("s3", "CreateMultipartUpload"));
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"));
    }

    [Fact]
    public async Task Should_send_the_expected_bucket_owner_on_every_call_to_the_default_bucket_only()
    {
        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "owner1"));
        Assert.Equal(RlabsRunStatus.Completed, run.Status);

        var calls = _fixture.Emulator.Requests.All.Where(r => r.Service == "s3" && r.Operation != "CreateBucket").ToList();
        Assert.NotEmpty(calls);
        Assert.All(calls, r => Assert.Equal("123456789012", r.Parameters?["ExpectedBucketOwner"]?.GetValue<string>()));

        _fixture.Emulator.Requests.Clear();
        _fixture.Emulator.S3.CreateForeignBucket("someone-elses-bucket", "999999999999");
        var named = new RunRequest { Pipeline = Pipeline("  - { name: prepare, job_suffix: P, code: step.py, output_path: data }\n"), JobId = "owner2", Cloud = new CloudRunOptions { Bucket = "someone-elses-bucket" } };
        await RunAsync(named);
        var namedCalls = _fixture.Emulator.Requests.All.Where(r => r.Service == "s3").ToList();
        Assert.NotEmpty(namedCalls);
        Assert.All(namedCalls, r => Assert.Null(r.Parameters?["ExpectedBucketOwner"]));
    }

    [Fact]
    public async Task Should_upload_a_content_addressed_object_again_when_its_checksum_does_not_match()
    {
        var pipeline = Pipeline(ThreeSteps);
        var first = await RunAsync(Plan(pipeline, "sum1"));
        var sourceKey = _fixture.Emulator.S3.ListKeys(Bucket, "rlabs/churn/artifacts/source/").Single();
        var original = _fixture.Emulator.S3.GetObjectBytes(Bucket, sourceKey)!;
        _fixture.Emulator.S3.ReplaceObjectBytes(Bucket, sourceKey, "PK planted by someone else"u8.ToArray());

        var second = await RunAsync(Plan(pipeline, "sum2"));

        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.Equal(original.Length, second.UploadedBytes);
        Assert.Equal(original, _fixture.Emulator.S3.GetObjectBytes(Bucket, sourceKey));
        Assert.True(first.UploadedBytes > second.UploadedBytes, "the artifacts whose checksum matched were reused");
    }

    [Fact]
    public void Should_compute_the_whole_and_the_composite_checksum_s3_reports()
    {
        var file = Path.Combine(_repo.Root, "big.bin");
        var bytes = new byte[(int)Rlabs.Pipelines.Aws.S3Storage.MultipartThreshold + 10];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(file, bytes);

        var sums = Rlabs.Pipelines.Aws.S3Storage.ExpectedChecksums(file);

        var part1 = System.Security.Cryptography.SHA256.HashData(bytes.AsSpan(0, (int)Rlabs.Pipelines.Aws.S3Storage.MultipartThreshold));
        var part2 = System.Security.Cryptography.SHA256.HashData(bytes.AsSpan((int)Rlabs.Pipelines.Aws.S3Storage.MultipartThreshold));
        Assert.Equal(Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(bytes)), sums[0]);
        Assert.Equal(Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData([.. part1, .. part2])) + "-2", sums[1]);
    }

    [Fact]
    public async Task Should_never_collide_when_a_job_id_is_run_again()
    {
        var pipeline = Pipeline(ThreeSteps);
        var first = await RunAsync(Plan(pipeline, "again"));
        var second = await RunAsync(Plan(pipeline, "again"));

        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.Empty(first.Steps.Select(s => s.JobName).Intersect(second.Steps.Select(s => s.JobName)));
    }

    [Fact]
    public async Task Should_stop_at_a_failed_job_with_its_reason_and_last_log_lines()
    {
        var run = await RunAsync(Plan(Pipeline("""
              - { name: prepare, job_suffix: P, code: step.py, output_path: data }
              - { name: train, job_suffix: T, code: step.py, output_path: data, params: { mode: fail } }
              - { name: score, job_suffix: S, code: step.py, output_path: data }
            """), "c6"));

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Failed, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Contains("exit code 4", run.Steps[1].FailureReason, StringComparison.Ordinal);
        Assert.Contains(run.Steps[1].LogTail, l => l.Contains("bad things happened", StringComparison.Ordinal));
        Assert.Null(Created("score"));
    }

    [Fact]
    public async Task Should_complete_despite_injected_throttling_and_server_errors()
    {
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Throttling", Count = 3 });
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "CreateProcessingJob", Kind = "ServerError", Count = 1 });
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "s3", Operation = "PutObject", Kind = "ServerError", Count = 1 });

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c7"));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Contains(_fixture.Emulator.Requests.For("sagemaker", "DescribeProcessingJob"), r => r.ErrorCode == "ThrottlingException");
        Assert.Equal(3, _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count(r => r.StatusCode == 200));
    }

    [Fact]
    public async Task Should_outlast_throttled_creates_and_describes_and_failing_describes()
    {
        // The fault test's exact mix: 5 throttled CreateProcessingJob, 20 throttled and 5 failed (5xx) Describe
        // answers. The session allows 3 attempts per call: only throttling budgets and observation keep it alive.
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "CreateProcessingJob", Kind = "Throttling", Count = 5 });
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "Throttling", Count = 20 });
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "ServerError", Count = 5 });
        var reporter = new RecordingReporter();

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c15"), reporter: reporter);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Equal(3, _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count(r => r.StatusCode == 200));
        Assert.Equal(5, _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count(r => r.ErrorCode == "ThrottlingException"));
        Assert.Equal(5, _fixture.Emulator.Requests.For("sagemaker", "DescribeProcessingJob").Count(r => r.StatusCode >= 500));
        Assert.Contains(reporter.Lines, l => l.Contains("CreateProcessingJob: ThrottlingException", StringComparison.Ordinal) && l.Contains("retrying in", StringComparison.Ordinal));
        Assert.Contains(reporter.Lines, l => l.Contains("DescribeProcessingJob failed", StringComparison.Ordinal) && l.Contains("the job is still watched", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_say_the_job_may_still_run_when_it_cannot_be_observed_within_the_budget()
    {
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "DescribeProcessingJob", Kind = "ServerError", Count = 100_000 });

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c16"), throttlingBudget: TimeSpan.FromSeconds(2));

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        var message = run.Steps[0].FailureReason ?? string.Empty;
        Assert.Contains("could not be observed", message, StringComparison.Ordinal);
        Assert.Contains("the job may still be running", message, StringComparison.Ordinal);
        Assert.Contains("Wait-RlabsPipelineRun -JobId c16 -ProjectName churn", message, StringComparison.Ordinal);
        Assert.Equal(RlabsRunStatus.Skipped, run.Steps[1].Status);
    }

    [Fact]
    public async Task Should_stop_the_running_job_when_cancelled()
    {
        using var cancellation = new CancellationTokenSource();
        var running = RunAsync(Plan(Pipeline("""
              - { name: slow, job_suffix: W, code: step.py, output_path: data, params: { mode: slow } }
              - { name: after, job_suffix: A, code: step.py, output_path: data }
            """), "c8"), cancellationToken: cancellation.Token);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Created("slow") is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the job never started");
            await Task.Delay(50);
        }

        cancellation.Cancel();
        var run = await running;

        Assert.Equal(RlabsRunStatus.Stopped, run.Status);
        var stop = Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob"));
        Assert.Equal(run.Steps[0].JobName, stop.Parameters!["ProcessingJobName"]!.GetValue<string>());
        Assert.Equal(RlabsRunStatus.Skipped, run.Steps[1].Status);
        Assert.Null(Created("after"));
    }

    [Fact]
    public async Task Should_resume_from_the_first_step_that_did_not_complete()
    {
        var failing = Pipeline("""
              - { name: prepare, job_suffix: P, code: step.py, output_path: data }
              - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data, params: { mode: fail } }
            """, outsideRepository: true);
        var first = await RunAsync(Plan(failing, "c9"));
        Assert.Equal(RlabsRunStatus.Failed, first.Status);
        var fixedPipeline = Pipeline("""
              - { name: prepare, job_suffix: P, code: step.py, output_path: data }
              - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data, params: { mode: ok } }
            """, outsideRepository: true);
        var before = _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count;

        var lines = new LineReporter();
        var resumed = await RunAsync(Plan(fixedPipeline, "c9", resume: true), reporter: lines);

        Assert.Equal(RlabsRunStatus.Completed, resumed.Status);
        Assert.True(first.Steps[0].JobName == resumed.Steps[0].JobName, string.Join(Environment.NewLine, lines.Lines));
        Assert.Contains(lines.Lines, l => l.Contains("-Resume: step 'prepare' already completed", StringComparison.Ordinal));
        var created = _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Skip(before).ToList();
        Assert.Equal("train", Assert.Single(created).Parameters!["Environment"]!["RLABS_STEP_NAME"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_start_only_the_first_step_with_no_wait_and_finish_with_wait()
    {
        var plan = Plan(Pipeline(ThreeSteps), "c10");
        var started = await RunAsync(plan, noWait: true);

        Assert.Equal(RlabsRunStatus.Running, started.Status);
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"));

        using var session = _fixture.Session();
        using var service = new CloudRunService(session);
        var found = await service.GetAsync(Bucket, "churn", "c10", CancellationToken.None);
        Assert.NotNull(found);
        var waited = await service.WaitAsync(found.Value.Manifest, found.Value.Run, NullRunReporter.Instance, CancellationToken.None);

        Assert.Equal(RlabsRunStatus.Completed, waited.Status);
        Assert.Equal(3, _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count);
        var again = await service.GetAsync(Bucket, "churn", "c10", CancellationToken.None);
        Assert.Equal(RlabsRunStatus.Completed, again!.Value.Run.Status);
        Assert.Null(await service.GetAsync(Bucket, "churn", "nope", CancellationToken.None));
    }

    [Fact]
    public async Task Should_stop_a_run_started_without_waiting()
    {
        var plan = Plan(Pipeline("""
              - { name: slow, job_suffix: W, code: step.py, output_path: data, params: { mode: slow } }
              - { name: after, job_suffix: A, code: step.py, output_path: data }
            """), "c11");
        await RunAsync(plan, noWait: true);
        using var session = _fixture.Session();
        using var service = new CloudRunService(session);
        var found = (await service.GetAsync(Bucket, "churn", "c11", CancellationToken.None))!.Value;

        await service.StopAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);
        var waited = await service.WaitAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);

        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob"));
        Assert.Equal(RlabsRunStatus.Stopped, waited.Status);
        Assert.Null(Created("after"));
    }

    [Fact]
    public async Task Should_hand_over_credentials_encrypted_without_aws_keys_and_never_as_job_environment()
    {
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "aws:\n  aws_access_key_id: AKIAQQQQ\n  aws_secret_access_key: SECRETQQQ\nwarehouse:\n  password: pwQQQ\n"));

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c12", credentials: credentials));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var create = Created("prepare")!.ToJsonString();
        Assert.DoesNotContain("pwQQQ", create, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETQQQ", create, StringComparison.Ordinal);
        Assert.Contains("/opt/ml/processing/input/credentials/credentials.yaml", create, StringComparison.Ordinal);
        var put = _fixture.Emulator.Requests.For("s3", "PutObject").Single(r => r.Parameters?.ToJsonString().Contains("credentials.yaml", StringComparison.Ordinal) == true);
        Assert.Contains("AES256", put.Parameters!.ToJsonString(), StringComparison.Ordinal);
        Assert.Empty(_fixture.Emulator.S3.ListKeys("sagemaker-eu-west-1-123456789012", "rlabs/churn/runs/c12/credentials/"));
        foreach (var key in _fixture.Emulator.S3.ListKeys("sagemaker-eu-west-1-123456789012", "rlabs/churn/artifacts/source/"))
        {
            using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(_fixture.Emulator.S3.GetObjectBytes("sagemaker-eu-west-1-123456789012", key)!));
            Assert.DoesNotContain(zip.Entries, e => e.Name == "credentials.yaml");
        }
    }

    [Fact]
    public async Task Should_have_s3_expire_the_credentials_of_a_run_nobody_waits_for_keeping_the_buckets_own_lifecycle_rules()
    {
        // The bucket already has a lifecycle rule of its owner's: it must survive.
        using (var session = _fixture.Session())
        using (var store = new S3Storage(session))
        {
            await store.EnsureBucketAsync(Bucket, null, CancellationToken.None);
            await store.EnsureTagExpiryRuleAsync(Bucket, "owners-own-rule", new("team", "scratch"), 30, CancellationToken.None);
        }
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "warehouse:\n  password: pwQQQ\n"));
        _fixture.Emulator.Requests.Clear();

        var started = await RunAsync(Plan(Pipeline(ThreeSteps), "c12nw", credentials: credentials), noWait: true);

        Assert.Equal(RlabsRunStatus.Running, started.Status);
        // Three steps of the default max_runtime (one day each): 3 days + 1 rounds up to the 7-day rule.
        var put = _fixture.Emulator.Requests.For("s3", "PutObject").Single(r => r.Parameters?["Key"]?.GetValue<string>() == "rlabs/churn/runs/c12nw/credentials/credentials.yaml");
        Assert.Equal("rlabs-expire=credentials-7d", put.Parameters!["Tagging"]!.GetValue<string>());
        Assert.Single(_fixture.Emulator.S3.ListKeys(Bucket, "rlabs/churn/runs/c12nw/credentials/"));
        var lifecycle = Assert.Single(_fixture.Emulator.Requests.For("s3", "PutBucketLifecycleConfiguration"));
        var rules = lifecycle.Parameters!["LifecycleConfiguration"]!["Rules"]!.AsArray();
        Assert.Equal(["owners-own-rule", "rlabs-expire-run-credentials-7d"], rules.Select(r => r!["ID"]!.GetValue<string>()));
        var ours = rules[1]!;
        Assert.Equal("Enabled", ours["Status"]!.GetValue<string>());
        Assert.Equal("7", ours["Expiration"]!["Days"]!.ToString());
        Assert.Equal("rlabs-expire", ours["Filter"]!["Tag"]!["Key"]!.GetValue<string>());
        Assert.Equal("credentials-7d", ours["Filter"]!["Tag"]!["Value"]!.GetValue<string>());
        Assert.Equal("30", rules[0]!["Expiration"]!["Days"]!.ToString());

        // A second run reads the configuration and writes nothing: the rule is there.
        _fixture.Emulator.Requests.Clear();
        await RunAsync(Plan(Pipeline(ThreeSteps), "c12nw2", credentials: credentials), noWait: true);
        Assert.Single(_fixture.Emulator.Requests.For("s3", "GetBucketLifecycleConfiguration"));
        Assert.Empty(_fixture.Emulator.Requests.For("s3", "PutBucketLifecycleConfiguration"));
    }

    [Fact]
    public async Task Should_warn_and_still_run_when_the_bucket_lifecycle_may_not_be_changed()
    {
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "s3", Operation = "PutBucketLifecycleConfiguration", Kind = "Error", ErrorCode = "AccessDenied", StatusCode = 403, Message = "Access Denied" });
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "warehouse:\n  password: pwQQQ\n"));
        var reporter = new LineReporter();

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "c12ad", credentials: credentials), reporter: reporter);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var warning = Assert.Single(reporter.Lines, l => l.Contains("lifecycle rule", StringComparison.Ordinal) && l.StartsWith("Could not", StringComparison.Ordinal));
        Assert.Contains("s3:PutLifecycleConfiguration", warning, StringComparison.Ordinal);
        Assert.Empty(_fixture.Emulator.S3.ListKeys(Bucket, "rlabs/churn/runs/c12ad/credentials/"));
    }

    [Fact]
    public async Task Should_send_scaling_network_and_encryption_settings_from_yaml_that_the_model_accepts()
    {
        var yaml = $$"""
            project: churn
            role_arn: {{RoleArn}}
            kms_key_id: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
            network_isolation: true
            vpc:
              subnets: [subnet-0abc1234]
              security_group_ids: [sg-0abc1234]
            tags: { team: data }
            environment: { STAGE: "prod-<job_id>" }
            pipeline:
              - name: prepare
                job_suffix: P
                code: step.py
                output_path: data
              - name: score
                job_suffix: S
                code: step.py
                input_data: "data/<job_id>"
                output_path: data
                instance_type: ml.m5.xlarge
                instance_count: 3
                input_distribution: ShardedByS3Key
                volume_size_gb: 100
                max_runtime: 2h
            """;
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));

        var run = await RunAsync(Plan(result.Pipeline!, "c13"));

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var score = Created("score")!;
        var cluster = score["ProcessingResources"]!["ClusterConfig"]!;
        Assert.Equal(3, cluster["InstanceCount"]!.GetValue<int>());
        Assert.Equal("ml.m5.xlarge", cluster["InstanceType"]!.GetValue<string>());
        Assert.Equal(100, cluster["VolumeSizeInGB"]!.GetValue<int>());
        Assert.StartsWith("arn:aws:kms:", cluster["VolumeKmsKeyId"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(7200, score["StoppingCondition"]!["MaxRuntimeInSeconds"]!.GetValue<int>());
        var data = score["ProcessingInputs"]!.AsArray().Single(i => i!["InputName"]!.GetValue<string>() == "data")!;
        Assert.Equal("ShardedByS3Key", data["S3Input"]!["S3DataDistributionType"]!.GetValue<string>());
        Assert.True(score["NetworkConfig"]!["EnableNetworkIsolation"]!.GetValue<bool>());
        Assert.Equal("subnet-0abc1234", score["NetworkConfig"]!["VpcConfig"]!["Subnets"]![0]!.GetValue<string>());
        Assert.Equal("prod-c13", score["Environment"]!["STAGE"]!.GetValue<string>());
        Assert.Contains(score["Tags"]!.AsArray(), t => t!["Key"]!.GetValue<string>() == "team");
        Assert.NotNull(score["ProcessingOutputConfig"]!["KmsKeyId"]);
    }

    [Fact]
    public void Should_keep_job_names_valid_and_distinct_for_long_projects_and_job_ids()
    {
        using var runtime = new SageMakerRuntime(_fixture.Session());
        RunEngine.Plan(Plan(Pipeline("""
              - { name: a, job_suffix: suffix-number-1, code: step.py, output_path: data }
              - { name: b, job_suffix: suffix-number-2, code: step.py, output_path: data }
            """, project: new string('p', 32)), new string('j', 40)), runtime);
        var plan = runtime.Bound;

        Assert.All(plan.Steps, s => Assert.Matches("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", s.JobName));
        Assert.NotEqual(plan.Steps[0].JobName, plan.Steps[1].JobName);
    }

    [Fact]
    public void Should_describe_every_call_without_knowing_the_account()
    {
        using var runtime = new SageMakerRuntime(_fixture.Session());
        var before = _fixture.Emulator.Requests.All.Count;

        var plan = RunEngine.Plan(Plan(Pipeline(ThreeSteps), "w1"), runtime);
        var lines = runtime.Describe(plan).ToList();

        Assert.Equal(before, _fixture.Emulator.Requests.All.Count);
        Assert.Contains(lines, l => l.StartsWith("sts:GetCallerIdentity", StringComparison.Ordinal));
        Assert.Equal(3, lines.Count(l => l.StartsWith("sagemaker:CreateProcessingJob", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.Contains("--input-data-path /opt/ml/processing/input/data", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_refuse_a_run_without_an_execution_role()
    {
        var result = PipelineConfigReader.Read(_repo.Write("norole.yaml", "pipeline:\n  - { name: a, job_suffix: A, code: step.py, output_path: data }\n"), _repo.Root);
        using var runtime = new SageMakerRuntime(_fixture.Session());

        var error = Assert.Throws<RlabsRunException>(() => RunEngine.Plan(Plan(result.Pipeline!, "r1"), runtime));

        Assert.Equal("CloudRunInvalid", error.ErrorId);
        Assert.Contains("-RoleArn", error.Message, StringComparison.Ordinal);
    }

    private const string FourSteps = """
          - { name: prepare, job_suffix: P, code: step.py, output_path: data }
          - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data, params: { mode: sleep, seconds: "4" } }
          - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
          - { name: report, job_suffix: R, code: step.py, input_data: "data/<job_id>", output_path: data }
        """;

    /// <summary>The emulator's processing jobs of run <paramref name="jobId"/>, oldest first.</summary>
    private List<JsonNode> Jobs(string jobId) => _fixture.Emulator.SageMaker.Snapshot()
        .Select(j => j!)
        .Where(j => j["environment"]?["RLABS_JOB_ID"]?.GetValue<string>() == jobId)
        .ToList();

    private static string StepOf(JsonNode job) => job["environment"]!["RLABS_STEP_NAME"]!.GetValue<string>();

    /// <summary>No step of the run ever had two jobs at once (each began after the one before it ended), and none is left running.</summary>
    private void AssertOneJobPerStepAtATime(string jobId)
    {
        foreach (var step in Jobs(jobId).GroupBy(StepOf))
        {
            var ordered = step.OrderBy(j => j["creationTime"]!.GetValue<double>()).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                var ended = ordered[i - 1]["processingEndTime"]?.GetValue<double>();
                Assert.True(ended is not null && ended <= ordered[i]["creationTime"]!.GetValue<double>(),
                    $"step '{step.Key}': {ordered[i]["processingJobName"]} was created while {ordered[i - 1]["processingJobName"]} still ran ({ordered[i - 1]["processingJobStatus"]})");
            }
        }
        Assert.All(Jobs(jobId), j => Assert.Contains(j["processingJobStatus"]!.GetValue<string>(), new[] { "Completed", "Failed", "Stopped" }));
    }

    private static async Task CrashAsync(Task<RlabsPipelineRun> run) => await Assert.ThrowsAsync<SimulatedCrash>(() => run);

    [Fact]
    public async Task Should_adopt_a_job_still_running_on_resume_instead_of_creating_a_second_one()
    {
        var pipeline = Pipeline(FourSteps);
        // The orchestrator dies while train's job runs: nothing stops the job, the manifest says it was started.
        await CrashAsync(RunAsync(Plan(pipeline, "adopt1"), reporter: new CrashingReporter(verbose: l => l.StartsWith("[train] step train saw", StringComparison.Ordinal))));
        var train = Created("train")!["ProcessingJobName"]!.GetValue<string>();
        Assert.Equal("InProgress", Jobs("adopt1").Single(j => StepOf(j) == "train")["processingJobStatus"]!.GetValue<string>());
        var before = _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count;

        var lines = new LineReporter();
        var resumed = await RunAsync(Plan(pipeline, "adopt1", resume: true), reporter: lines);

        Assert.Equal(RlabsRunStatus.Completed, resumed.Status);
        Assert.Equal(train, resumed.Steps[1].JobName);
        Assert.Contains(lines.Lines, l => l.Contains($"-Resume: step 'train' still runs as {train}", StringComparison.Ordinal));
        var created = _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Skip(before).Select(r => r.Parameters!["Environment"]!["RLABS_STEP_NAME"]!.GetValue<string>());
        Assert.Equal(["score", "report"], created);
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob"));
        Assert.Equal(["prepare.json", "score.json", "train.json"], Output("adopt1", "report")!["seen"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(4, Jobs("adopt1").Count);
        AssertOneJobPerStepAtATime("adopt1");
    }

    [Fact]
    public async Task Should_find_a_job_created_right_before_a_crash_that_the_manifest_does_not_show()
    {
        var pipeline = Pipeline(FourSteps);
        // Killed between CreateProcessingJob and the manifest write that records it.
        await CrashAsync(RunAsync(Plan(pipeline, "adopt2"), reporter: new CrashingReporter(verbose: l => l.StartsWith("[train] created processing job", StringComparison.Ordinal))));
        using (var session = _fixture.Session())
        using (var service = new CloudRunService(session))
        {
            var found = (await service.GetAsync(Bucket, "churn", "adopt2", CancellationToken.None))!.Value;
            Assert.False(found.Manifest.Steps[1].Started);
        }
        var train = Created("train")!["ProcessingJobName"]!.GetValue<string>();

        var resumed = await RunAsync(Plan(pipeline, "adopt2", resume: true));

        Assert.Equal(RlabsRunStatus.Completed, resumed.Status);
        Assert.Equal(train, resumed.Steps[1].JobName);
        Assert.Equal(1, Jobs("adopt2").Count(j => StepOf(j) == "train"));
        Assert.Equal(1, Jobs("adopt2").Count(j => StepOf(j) == "prepare"));
        AssertOneJobPerStepAtATime("adopt2");
    }

    [Fact]
    public async Task Should_stop_a_running_job_whose_inputs_changed_and_wait_until_it_stopped_before_replacing_it()
    {
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true, StopDurationMs = 1500 });
        var slow = Pipeline(FourSteps.Replace("seconds: \"4\"", "seconds: \"60\"", StringComparison.Ordinal), outsideRepository: true);
        await CrashAsync(RunAsync(Plan(slow, "adopt3"), reporter: new CrashingReporter(verbose: l => l.StartsWith("[train] step train saw", StringComparison.Ordinal))));
        var old = Created("train")!["ProcessingJobName"]!.GetValue<string>();
        var changed = Pipeline(FourSteps.Replace("seconds: \"4\"", "seconds: \"1\"", StringComparison.Ordinal), outsideRepository: true);

        var reporter = new RecordingReporter();
        var resumed = await RunAsync(Plan(changed, "adopt3", resume: true), reporter: reporter);

        Assert.Equal(RlabsRunStatus.Completed, resumed.Status);
        Assert.NotEqual(old, resumed.Steps[1].JobName);
        var warning = Assert.Single(reporter.Warnings, w => w.Contains(old, StringComparison.Ordinal));
        Assert.Contains("its inputs changed", warning, StringComparison.Ordinal);
        Assert.Equal(old, Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob")).Parameters!["ProcessingJobName"]!.GetValue<string>());
        Assert.Equal("Stopped", Jobs("adopt3").Single(j => j["processingJobName"]!.GetValue<string>() == old)["processingJobStatus"]!.GetValue<string>());
        Assert.Equal(1, Jobs("adopt3").Count(j => StepOf(j) == "prepare"));
        Assert.Equal(2, Jobs("adopt3").Count(j => StepOf(j) == "train"));
        AssertOneJobPerStepAtATime("adopt3");
    }

    [Fact]
    public async Task Should_stop_what_an_earlier_invocation_left_running_before_running_a_job_id_again()
    {
        var pipeline = Pipeline(FourSteps.Replace("seconds: \"4\"", "seconds: \"60\"", StringComparison.Ordinal));
        await CrashAsync(RunAsync(Plan(pipeline, "again2"), reporter: new CrashingReporter(verbose: l => l.StartsWith("[train] step train saw", StringComparison.Ordinal))));
        var fast = Pipeline(FourSteps);

        var reporter = new RecordingReporter();
        var second = await RunAsync(Plan(fast, "again2"), reporter: reporter);

        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.Contains(reporter.Warnings, w => w.Contains("without -Resume", StringComparison.Ordinal));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob"));
        AssertOneJobPerStepAtATime("again2");
    }

    [Fact]
    public async Task Should_follow_the_job_a_create_whose_answer_was_lost_made_instead_of_failing_or_creating_another()
    {
        // The call takes effect, its answer is a 500: the client retries with the same name and gets ResourceInUse.
        _fixture.Emulator.Faults.Add(new AwsEmulator.FaultRule { Service = "sagemaker", Operation = "CreateProcessingJob", Kind = "ServerError", Count = 1, AfterInvoke = true });
        var reporter = new RecordingReporter();

        var run = await RunAsync(Plan(Pipeline(ThreeSteps), "lost1"), reporter: reporter);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Contains(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"), r => r.ErrorCode == "ResourceInUse");
        Assert.Equal(3, Jobs("lost1").Count);
        Assert.Contains(reporter.Lines, l => l.Contains("an earlier try of this call created", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_stop_a_job_the_manifest_does_not_show_when_a_run_is_stopped()
    {
        var pipeline = Pipeline(FourSteps.Replace("seconds: \"4\"", "seconds: \"60\"", StringComparison.Ordinal));
        await CrashAsync(RunAsync(Plan(pipeline, "stop2"), reporter: new CrashingReporter(verbose: l => l.StartsWith("[train] created processing job", StringComparison.Ordinal))));
        var train = Created("train")!["ProcessingJobName"]!.GetValue<string>();
        using var session = _fixture.Session();
        using var service = new CloudRunService(session);
        var found = (await service.GetAsync(Bucket, "churn", "stop2", CancellationToken.None))!.Value;

        await service.StopAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);

        Assert.Equal(train, Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopProcessingJob")).Parameters!["ProcessingJobName"]!.GetValue<string>());
        Assert.Equal(RlabsRunStatus.Stopped, found.Run.Status);
        AssertOneJobPerStepAtATime("stop2");
    }

    /// <summary>The orchestrator dying at a chosen moment: the exception ends the run without stopping its job.</summary>
    private sealed class SimulatedCrash : Exception
    {
        public SimulatedCrash()
            : base("simulated crash")
        {
        }
    }

    private sealed class CrashingReporter(Func<string, bool>? verbose = null, Func<RunProgress, bool>? progress = null) : IRunReporter
    {
        public void Progress(RunProgress value)
        {
            if (progress?.Invoke(value) == true)
            {
                throw new SimulatedCrash();
            }
        }

        public void Verbose(string message)
        {
            if (verbose?.Invoke(message) == true)
            {
                throw new SimulatedCrash();
            }
        }

        public void Warning(string message)
        {
        }
    }

    private sealed class LineReporter : IRunReporter
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

        public void Progress(RunProgress progress)
        {
        }

        public void Verbose(string message) => Lines.Enqueue(message);

        public void Warning(string message) => Lines.Enqueue(message);
    }
}
