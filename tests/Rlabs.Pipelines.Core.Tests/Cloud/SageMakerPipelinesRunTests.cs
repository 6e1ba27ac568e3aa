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

/// <summary>
/// Runs that SageMaker Pipelines drives, on the emulator (whose executions really run the code scripts):
/// started and left, read back by a new service, followed, failed, stopped, resumed, started twice.
/// </summary>
[Trait("Tier", "Emulator")]
public sealed class SageMakerPipelinesRunTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string RoleArn = "arn:aws:iam::123456789012:role/rlabs-sagemaker";
    private const string Bucket = "sagemaker-eu-west-1-123456789012";

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
            json.dump({'seen': seen, 'job': args.job_id, 'env_job': os.environ['RLABS_JOB_ID']}, f)
        print('step', name, 'of job', args.job_id, flush=True)
        if params.get('mode') == 'fail':
            print('bad things happened', flush=True)
            sys.exit(4)
        if params.get('mode') == 'slow':
            time.sleep(60)
        if params.get('mode') == 'nap':
            time.sleep(1.5)
        """;

    private const string FourSteps = """
          - { name: extract, job_suffix: X, code: step.py, output_path: data }
          - { name: prepare, job_suffix: P, code: step.py, input_data: "data/<job_id>", output_path: data }
          - { name: train, job_suffix: T, code: step.py, input_data: "data/<job_id>", output_path: data }
          - { name: score, job_suffix: S, code: step.py, input_data: "data/<job_id>", output_path: data }
        """;

    private readonly EmulatorFixture _fixture;
    private readonly TempRepository _repo = new();

    public SageMakerPipelinesRunTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
        _repo.Write("step.py", StepScript);
        _repo.Write("requirements.txt", "# none\n");
    }

    /// <summary>Every definition a test sent (CreatePipeline, UpdatePipeline) must validate, whatever else it checks.</summary>
    public void Dispose()
    {
        _repo.Dispose();
        var definitions = Definitions();
        if (definitions.Length > 0)
        {
            PipelineDefinitionValidation.AssertValid(definitions);
        }
    }

    private RlabsPipeline Pipeline(string steps, string project = "churn", string extra = "", string file = "pipeline.yaml")
    {
        var path = _repo.Write(file, $"project: {project}\nrole_arn: {RoleArn}\n{extra}pipeline:\n{steps}");
        var result = PipelineConfigReader.Read(path, _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static RunRequest Request(RlabsPipeline pipeline, string jobId, bool resume = false) => new()
    {
        Pipeline = pipeline,
        JobId = jobId,
        Cloud = new CloudRunOptions { NoWait = true, Resume = resume, Engine = CloudEngine.SageMakerPipelines },
    };

    /// <summary>Starts the run as Invoke-RlabsPipeline -NoWait does, then drops the runtime (the process that started it is gone).</summary>
    private async Task<RlabsPipelineRun> StartAsync(RunRequest request, IRunReporter? reporter = null)
    {
        using var runtime = new SageMakerPipelinesRuntime(_fixture.Session());
        var plan = RunEngine.Plan(request, runtime);
        return await RunEngine.RunAsync(plan, runtime, reporter ?? NullRunReporter.Instance, CancellationToken.None);
    }

    /// <summary>Reads the run as Get-RlabsPipelineRun does, from a fresh session.</summary>
    private async Task<RlabsPipelineRun> GetAsync(string jobId, string project = "churn")
    {
        using var service = new CloudRunService(_fixture.Session());
        var found = await service.GetAsync(Bucket, project, jobId, CancellationToken.None);
        Assert.NotNull(found);
        return found.Value.Run;
    }

    private async Task<RlabsPipelineRun> WaitAsync(string jobId, IRunReporter? reporter = null)
    {
        using var service = new CloudRunService(_fixture.Session());
        var found = (await service.GetAsync(Bucket, "churn", jobId, CancellationToken.None))!.Value;
        return await service.WaitAsync(found.Manifest, found.Run, reporter ?? NullRunReporter.Instance, CancellationToken.None);
    }

    private JsonNode? Output(string jobId, string step)
    {
        var bytes = _fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/churn/data/data/{jobId}/{step}.json");
        return bytes is null ? null : JsonNode.Parse(bytes);
    }

    private string[] Definitions() => _fixture.Emulator.Requests.For("sagemaker", "CreatePipeline").Concat(_fixture.Emulator.Requests.For("sagemaker", "UpdatePipeline"))
        .Select(r => (string)r.Parameters!["PipelineDefinition"]!).ToArray();

    private int JobsOf(string step) => _fixture.Emulator.Requests.All.Count(r => r.Operation == "CreateProcessingJob") + _fixture.Emulator.SageMaker.Pipelines.Snapshot()
        .SelectMany(e => e!["steps"]!.AsArray()).Where(s => (string?)s!["name"] == step).Sum(s => s!["jobNames"]!.AsArray().Count);

    [SkippableFact]
    public async Task A_run_started_without_waiting_completes_server_side_and_a_new_session_reads_it_Completed()
    {
        var run = await StartAsync(Request(Pipeline(FourSteps), "e1"));

        Assert.Equal(RlabsRunStatus.Running, run.Status);
        Assert.Equal("SageMakerPipelines", run.Engine);
        Assert.StartsWith("arn:aws:sagemaker:eu-west-1:123456789012:pipeline/", run.PipelineExecutionArn, StringComparison.Ordinal);
        var waited = await WaitAsync("e1");
        var read = await GetAsync("e1");

        Assert.Equal(RlabsRunStatus.Completed, waited.Status);
        Assert.Equal(RlabsRunStatus.Completed, read.Status);
        Assert.All(read.Steps, s => Assert.Equal(RlabsRunStatus.Completed, s.Status));
        Assert.All(read.Steps, s => Assert.StartsWith("pipelines-", s.JobName, StringComparison.Ordinal));
        Assert.Equal(["extract.json", "prepare.json", "train.json"], Output("e1", "score")!["seen"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("e1", (string)Output("e1", "score")!["job"]!);
        Assert.Equal("e1", (string)Output("e1", "extract")!["env_job"]!);
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution"));
        Assert.DoesNotContain(_fixture.Emulator.Requests.All, r => r.StatusCode >= 400 && r.Operation is not ("HeadBucket" or "HeadObject" or "DescribePipeline" or "GetObject"));
        PipelineDefinitionValidation.AssertValid(Definitions());
    }

    [SkippableFact]
    public async Task A_second_job_id_reuses_the_unchanged_pipeline_and_writes_under_its_own_job_id()
    {
        var pipeline = Pipeline(FourSteps);
        await StartAsync(Request(pipeline, "e2a"));
        await StartAsync(Request(pipeline, "e2b"));
        await WaitAsync("e2a");
        await WaitAsync("e2b");

        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "CreatePipeline"));
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "UpdatePipeline"));
        Assert.Equal("e2a", (string)Output("e2a", "train")!["job"]!);
        Assert.Equal("e2b", (string)Output("e2b", "train")!["job"]!);

        await StartAsync(Request(Pipeline(FourSteps.Replace("output_path: data }\n", "output_path: data, params: { extra: \"1\" } }\n", StringComparison.Ordinal)), "e2c"));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "UpdatePipeline"));
        Assert.Equal(RlabsRunStatus.Completed, (await WaitAsync("e2c")).Status);
        PipelineDefinitionValidation.AssertValid(Definitions());
    }

    [SkippableFact]
    public async Task Following_reports_each_step_and_its_log_lines()
    {
        var reporter = new RecordingReporter();
        await StartAsync(Request(Pipeline(FourSteps), "e3"));
        var run = await WaitAsync("e3", reporter);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Contains(reporter.Lines, l => l.Contains("step train of job e3", StringComparison.Ordinal));
        Assert.Contains(reporter.Lines, l => l.StartsWith("[score] Completed", StringComparison.Ordinal));
        Assert.Contains(reporter.ProgressRecords, p => !p.Completed && p.Status.Contains("steps done; running: ", StringComparison.Ordinal));
        Assert.True(reporter.ProgressRecords[^1].Completed);
    }

    [SkippableFact]
    public async Task A_failed_step_fails_the_execution_with_the_exit_code_and_the_log_tail()
    {
        await StartAsync(Request(Pipeline(FourSteps.Replace("output_path: data }\n  - { name: train", "output_path: data, params: { mode: fail } }\n  - { name: train", StringComparison.Ordinal)), "e4"));
        var waited = await WaitAsync("e4");
        var read = await GetAsync("e4");

        foreach (var run in new[] { waited, read })
        {
            Assert.Equal(RlabsRunStatus.Failed, run.Status);
            Assert.Equal(RlabsRunStatus.Completed, run.Steps[0].Status);
            var failed = run.Steps[1];
            Assert.Equal(RlabsRunStatus.Failed, failed.Status);
            Assert.Equal(4, failed.ExitCode);
            Assert.Contains("exit code 4", failed.FailureReason, StringComparison.Ordinal);
            Assert.Contains(failed.LogTail, l => l.Contains("bad things happened", StringComparison.Ordinal));
            Assert.All(run.Steps.Skip(2), s => Assert.Equal(RlabsRunStatus.Skipped, s.Status));
        }
    }

    [SkippableFact]
    public async Task Stop_stops_the_running_job_and_no_later_step_starts()
    {
        await StartAsync(Request(Pipeline(FourSteps.Replace("output_path: data }\n  - { name: train", "output_path: data, params: { mode: slow } }\n  - { name: train", StringComparison.Ordinal)), "e5"));
        using var service = new CloudRunService(_fixture.Session());
        (CloudRunManifest Manifest, RlabsPipelineRun Run) found;
        do
        {
            await Task.Delay(100);
            found = (await service.GetAsync(Bucket, "churn", "e5", CancellationToken.None))!.Value;
        }
        while (found.Run.Steps[1].Status != RlabsRunStatus.Running);

        await service.StopAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);
        var run = await WaitAsync("e5");

        Assert.Equal(RlabsRunStatus.Stopped, run.Status);
        Assert.Equal(RlabsRunStatus.Stopped, run.Steps[1].Status);
        Assert.All(run.Steps.Skip(2), s => Assert.Equal(RlabsRunStatus.Skipped, s.Status));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopPipelineExecution"));
        Assert.Null(Output("e5", "train"));
    }

    [SkippableFact]
    public async Task Resume_retries_the_execution_and_reruns_only_the_failed_step_and_those_after_it()
    {
        var pipeline = Pipeline(FourSteps);
        _fixture.Emulator.SageMaker.Pipelines.SetStepBehaviour(new PipelineStepBehaviour
        {
            StepName = "train",
            Attempts = [new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = "AlgorithmError: out of memory (exit code 137)" }, new ProcessingJobBehaviour { Execute = true }],
        });
        await StartAsync(Request(pipeline, "e6"));
        Assert.Equal(RlabsRunStatus.Failed, (await WaitAsync("e6")).Status);

        var resumed = await StartAsync(Request(pipeline, "e6", resume: true));
        var run = await WaitAsync("e6");

        Assert.Equal(resumed.PipelineExecutionArn, run.PipelineExecutionArn);
        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution"));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "RetryPipelineExecution"));
        Assert.Equal(1, JobsOf("extract"));
        Assert.Equal(1, JobsOf("prepare"));
        Assert.Equal(2, JobsOf("train"));
        Assert.Equal(1, JobsOf("score"));
    }

    /// <summary>FourSteps whose second step (prepare) exits 4.</summary>
    private static readonly string FailingPrepare = FourSteps.Replace("output_path: data }\n  - { name: train", "output_path: data, params: { mode: fail } }\n  - { name: train", StringComparison.Ordinal);

    [SkippableFact]
    public async Task Resume_of_a_changed_pipeline_starts_one_selective_execution_from_the_failed_one_of_the_failed_step_and_those_after_it()
    {
        await StartAsync(Request(Pipeline(FailingPrepare), "e9"));
        Assert.Equal(RlabsRunStatus.Failed, (await WaitAsync("e9")).Status);
        var failed = (await GetAsync("e9")).PipelineExecutionArn;
        var fixedPipeline = Pipeline(FourSteps);
        // The resume's start is answered too late once: the retried call must not start a second execution.
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "StartPipelineExecution", Kind = "AnswerLost", Count = 1 });

        var reporter = new RecordingReporter();
        var resumed = await StartAsync(Request(fixedPipeline, "e9", resume: true), reporter);
        var run = await WaitAsync("e9");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "RetryPipelineExecution"));
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "UpdatePipeline"));
        Assert.Equal(2, _fixture.Emulator.SageMaker.Pipelines.Snapshot().Count);
        var starts = Starts();
        Assert.Equal(3, starts.Length);
        Assert.Equal((string?)starts[1]["ClientRequestToken"], (string?)starts[2]["ClientRequestToken"]);
        var selective = starts[^1]["SelectiveExecutionConfig"]!;
        Assert.Equal(["prepare", "train", "score"], selective["SelectedSteps"]!.AsArray().Select(s => (string)s!["StepName"]!));
        Assert.Equal(failed, (string?)selective["SourcePipelineExecutionArn"]);
        Assert.Equal(resumed.PipelineExecutionArn, run.PipelineExecutionArn);
        Assert.NotEqual(failed, run.PipelineExecutionArn);
        Assert.Equal([1, 2, 1, 1], new[] { "extract", "prepare", "train", "score" }.Select(JobsOf));
        Assert.Equal([(RlabsRunStatus.Completed, "e9"), (RlabsRunStatus.Completed, null), (RlabsRunStatus.Completed, null), (RlabsRunStatus.Completed, null)], run.Steps.Select(s => (s.Status, s.CachedFrom)));
        Assert.Equal(["extract.json", "prepare.json", "train.json"], Output("e9", "score")!["seen"]!.AsArray().Select(n => (string)n!));
        Assert.Contains(reporter.Warnings, w => w.Contains("the pipeline changed since execution", StringComparison.Ordinal));

        // Resumed again once it succeeded: nothing to do, nothing started.
        await StartAsync(Request(Pipeline(FourSteps.Replace("code: step.py, output_path: data }\n  - { name: prepare", "code: step.py, output_path: data, params: { v: \"2\" } }\n  - { name: prepare", StringComparison.Ordinal)), "e9", resume: true));
        Assert.Equal(3, Starts().Length);
        PipelineDefinitionValidation.AssertValid(Definitions());
    }

    [SkippableFact]
    public async Task Resume_of_a_changed_pipeline_whose_file_moved_is_refused_before_anything_is_written()
    {
        await StartAsync(Request(Pipeline(FailingPrepare), "e10"));
        Assert.Equal(RlabsRunStatus.Failed, (await WaitAsync("e10")).Status);
        var manifest = _fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/churn/runs/e10/run.json");

        var error = await Assert.ThrowsAsync<RlabsRunException>(() => StartAsync(Request(Pipeline(FourSteps, file: "moved.yaml"), "e10", resume: true)));

        Assert.Equal("ResumePipelineMoved", error.ErrorId);
        Assert.Contains("moved or was renamed", error.Message, StringComparison.Ordinal);
        Assert.Single(Starts());
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "CreatePipeline"));
        Assert.Equal(manifest, _fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/churn/runs/e10/run.json"));
    }

    [SkippableFact]
    public async Task Resume_of_a_changed_pipeline_whose_execution_cannot_be_the_source_is_refused()
    {
        await StartAsync(Request(Pipeline(FourSteps.Replace("output_path: data }\n  - { name: train", "output_path: data, params: { mode: slow } }\n  - { name: train", StringComparison.Ordinal)), "e11"));
        using (var service = new CloudRunService(_fixture.Session()))
        {
            (CloudRunManifest Manifest, RlabsPipelineRun Run) found;
            do
            {
                await Task.Delay(100);
                found = (await service.GetAsync(Bucket, "churn", "e11", CancellationToken.None))!.Value;
            }
            while (found.Run.Steps[1].Status != RlabsRunStatus.Running);
            await service.StopAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);
        }
        Assert.Equal(RlabsRunStatus.Stopped, (await WaitAsync("e11")).Status);

        // Stopped is no source SageMaker takes for a selective execution, and prepare needs extract's result from it.
        var error = await Assert.ThrowsAsync<RlabsRunException>(() => StartAsync(Request(Pipeline(FourSteps), "e11", resume: true)));

        Assert.Equal("ResumeSourceMissing", error.ErrorId);
        Assert.Contains("-FromStep prepare -ReferenceJobId e11", error.Message, StringComparison.Ordinal);
        Assert.Single(Starts());
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "RetryPipelineExecution"));
        Assert.Equal(RlabsRunStatus.Stopped, (await GetAsync("e11")).Status);
    }

    [SkippableFact]
    public async Task A_start_whose_answer_was_lost_is_retried_without_a_second_execution()
    {
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "StartPipelineExecution", Kind = "AnswerLost", Count = 1 });
        var pipeline = Pipeline(FourSteps);
        var run = await StartAsync(Request(pipeline, "e7"));
        // Started again from another process with the same job id: the same execution, not a second one.
        var again = await StartAsync(Request(pipeline, "e7"));
        await WaitAsync("e7");

        Assert.Equal(3, _fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution").Count);
        Assert.Equal(run.PipelineExecutionArn, again.PipelineExecutionArn);
        Assert.Single(_fixture.Emulator.SageMaker.Pipelines.Snapshot());
        Assert.Equal(1, JobsOf("train"));
    }

    [SkippableFact]
    public async Task A_role_SageMaker_refuses_stops_the_run_naming_the_trust_it_needs_and_leaves_no_credentials()
    {
        _fixture.Emulator.Faults.Add(new FaultRule { Service = "sagemaker", Operation = "CreatePipeline", Kind = "Error", ErrorCode = "ValidationException", StatusCode = 400, Message = "Could not assume role arn:aws:iam::123456789012:role/rlabs-sagemaker." });
        var credentials = CredentialsFile.Load(_repo.Write("credentials.yaml", "db:\n  password: x\n"));
        var request = Request(Pipeline(FourSteps), "e8");

        var error = await Assert.ThrowsAsync<RlabsRunException>(() => StartAsync(new RunRequest { Pipeline = request.Pipeline, JobId = "e8", Credentials = credentials, Cloud = request.Cloud }));

        Assert.Equal("PipelineRoleRefused", error.ErrorId);
        Assert.Contains("sagemaker.amazonaws.com", error.Message, StringComparison.Ordinal);
        Assert.Contains(RoleArn, error.Message, StringComparison.Ordinal);
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution"));
        Assert.Null(_fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/churn/runs/e8/credentials/credentials.yaml"));
        Assert.Single(_fixture.Emulator.Requests.For("s3", "DeleteObjects"));
    }

    [SkippableFact]
    public async Task A_client_driven_resume_of_an_engine_run_is_refused_before_any_job_or_manifest_write()
    {
        var pipeline = Pipeline(FourSteps);
        await StartAsync(Request(pipeline, "e9"));
        await WaitAsync("e9");
        var manifestBefore = _fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/churn/runs/e9/run.json");

        using var runtime = new SageMakerRuntime(_fixture.Session());
        var plan = RunEngine.Plan(new RunRequest { Pipeline = pipeline, JobId = "e9", Cloud = new CloudRunOptions { Resume = true } }, runtime);
        var error = await Assert.ThrowsAsync<RlabsRunException>(() => RunEngine.RunAsync(plan, runtime, NullRunReporter.Instance, CancellationToken.None));

        Assert.Equal("ResumeEngineMismatch", error.ErrorId);
        Assert.Contains("-Engine SageMakerPipelines", error.Message, StringComparison.Ordinal);
        Assert.Empty(_fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob"));
        Assert.Equal(manifestBefore, _fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/churn/runs/e9/run.json"));
    }

    [SkippableFact]
    public async Task A_diamond_runs_its_two_branches_at_once_and_joins_them()
    {
        await StartAsync(Request(Pipeline("""
              - { name: a, job_suffix: A, code: step.py, output_path: a }
              - { name: b, job_suffix: B, code: step.py, input_data: "a/<job_id>", output_path: b, depends_on: [a], params: { mode: nap } }
              - { name: c, job_suffix: C, code: step.py, input_data: "a/<job_id>", output_path: c, depends_on: [a], params: { mode: nap } }
              - { name: d, job_suffix: D, code: step.py, input_data: "b/<job_id>", output_path: d, depends_on: [b, c] }
            """), "e10"));
        var run = await WaitAsync("e10");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        var (a, b, c, d) = (run.Steps[0], run.Steps[1], run.Steps[2], run.Steps[3]);
        Assert.True(b.StartTime < c.EndTime && c.StartTime < b.EndTime, $"b ran {b.StartTime:O}..{b.EndTime:O}, c {c.StartTime:O}..{c.EndTime:O}: one after the other");
        Assert.True(a.EndTime <= b.StartTime && a.EndTime <= c.StartTime && b.EndTime <= d.StartTime && c.EndTime <= d.StartTime);
    }

    [SkippableFact]
    public async Task Ctrl_C_while_following_an_attached_run_stops_the_execution()
    {
        await StartAsync(Request(Pipeline(FourSteps.Replace("output_path: data }\n  - { name: train", "output_path: data, params: { mode: slow } }\n  - { name: train", StringComparison.Ordinal)), "e11"));
        using var service = new CloudRunService(_fixture.Session());
        var found = (await service.GetAsync(Bucket, "churn", "e11", CancellationToken.None))!.Value;
        using var cancel = new CancellationTokenSource();

        var run = await SageMakerPipelinesEngine.FollowAsync(service, found.Manifest, found.Run, new CancelWhenRunning(cancel, "prepare"), stopOnCancel: true, cancel.Token);

        Assert.Equal(RlabsRunStatus.Stopped, run.Status);
        Assert.Equal(RlabsRunStatus.Stopped, run.Steps[1].Status);
        Assert.Single(_fixture.Emulator.Requests.For("sagemaker", "StopPipelineExecution"));
        Assert.Equal(RlabsRunStatus.Stopped, (await WaitAsync("e11")).Status);
    }

    /// <summary>A chain whose steps write their own folders, every step cached.</summary>
    private const string CachedChain = """
          - { name: extract, job_suffix: X, code: step.py, output_path: x }
          - { name: prepare, job_suffix: P, code: step.py, input_data: "x/<job_id>", output_path: p }
          - { name: train, job_suffix: T, code: step.py, input_data: "p/<job_id>", output_path: t }
          - { name: score, job_suffix: S, code: step.py, input_data: "t/<job_id>", output_path: s }
        """;

    /// <summary>Runs as Invoke-RlabsPipeline -Engine SageMakerPipelines does without -NoWait: starts, follows to the end, records the keys.</summary>
    private async Task<RlabsPipelineRun> RunAttachedAsync(RunRequest request)
    {
        using var runtime = new SageMakerPipelinesRuntime(_fixture.Session());
        var plan = RunEngine.Plan(request, runtime);
        var started = await RunEngine.RunAsync(plan, runtime, NullRunReporter.Instance, CancellationToken.None);
        return await runtime.FollowAsync(plan, started, NullRunReporter.Instance, CancellationToken.None);
    }

    private JsonNode? OutputAt(string folder, string jobId, string step)
    {
        var bytes = _fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/churn/data/{folder}/{jobId}/{step}.json");
        return bytes is null ? null : JsonNode.Parse(bytes);
    }

    /// <summary>Every processing job the emulator ran: those created directly and those its executions created.</summary>
    private int JobsRun() => _fixture.Emulator.Requests.For("sagemaker", "CreateProcessingJob").Count + _fixture.Emulator.SageMaker.Pipelines.Snapshot()
        .SelectMany(e => e!["steps"]!.AsArray()).Sum(s => s!["jobNames"]!.AsArray().Count);

    private JsonObject[] Starts() => _fixture.Emulator.Requests.For("sagemaker", "StartPipelineExecution").Select(r => (JsonObject)r.Parameters!).ToArray();

    [SkippableFact]
    public async Task A_second_execution_of_an_unchanged_cached_pipeline_runs_no_processing_job()
    {
        var pipeline = Pipeline(CachedChain, extra: "cache: true\n");
        var first = await RunAttachedAsync(Request(pipeline, "c1"));
        Assert.Equal(RlabsRunStatus.Completed, first.Status);
        Assert.Equal(4, JobsRun());

        var second = await RunAttachedAsync(Request(pipeline, "c2"));
        var read = await GetAsync("c2");

        Assert.Equal(4, JobsRun());
        Assert.Single(Starts());
        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.Equal(RlabsRunStatus.Completed, read.Status);
        Assert.All(read.Steps, s => Assert.Equal((RlabsRunStatus.Cached, "c1"), (s.Status, s.CachedFrom)));
        Assert.Null(read.PipelineExecutionArn);
        // The outputs are this job id's: the next step of a later run reads them under c2.
        Assert.Equal("c1", (string)OutputAt("s", "c2", "score")!["job"]!);
        Assert.Equal(["train.json"], OutputAt("s", "c2", "score")!["seen"]!.AsArray().Select(n => (string)n!));

        async Task<IReadOnlyList<string>> WhatIf(RlabsPipeline p, bool noCache = false)
        {
            using var whatIf = new SageMakerPipelinesRuntime(_fixture.Session());
            return await RunEngine.DescribeAsync(RunEngine.Plan(new RunRequest { Pipeline = p, JobId = "c9", NoCache = noCache, Cloud = new CloudRunOptions { NoWait = true, Engine = CloudEngine.SageMakerPipelines, Bucket = Bucket } }, whatIf), whatIf, CancellationToken.None);
        }

        var described = await WhatIf(pipeline);
        Assert.Contains("Step 'extract' cached (certain): reuses the output of job c1; the execution does not run it", described);
        Assert.Contains("Step 'prepare' depends on upstream results: its key is decided at the start, once the output of step 'extract' is copied under this job id; everything but its input is as in job c1", described);
        Assert.Contains("Step 'score' depends on upstream results: cached only if step 'train' is and its key matches then, else it runs; everything but its input is as in job c1", described);
        var edited = await WhatIf(Pipeline(CachedChain.Replace("output_path: x }", "output_path: x, params: { rows: 5 } }", StringComparison.Ordinal), extra: "cache: true\n"));
        Assert.Contains("Step 'extract' runs (certain): cache miss: params changed since job c1", edited);
        Assert.Contains("Step 'prepare' runs (certain): step 'extract', which it depends on, runs", edited);
        Assert.Contains("Step 'score' runs (certain): step 'train', which it depends on, runs", edited);
        Assert.Contains("Step 'train' runs (certain): -NoCache", await WhatIf(pipeline, noCache: true));
        pipeline = Pipeline(CachedChain, extra: "cache: true\n");
        Assert.Equal(4, JobsRun());

        var uncached = await RunAttachedAsync(new RunRequest { Pipeline = pipeline, JobId = "c3", NoCache = true, Cloud = Request(pipeline, "c3").Cloud });

        Assert.Equal(RlabsRunStatus.Completed, uncached.Status);
        Assert.Equal(8, JobsRun());
        Assert.Null(Starts()[^1]["SelectiveExecutionConfig"]);
    }

    [SkippableFact]
    public async Task Editing_one_steps_params_reruns_only_that_step_and_those_after_it_in_a_selective_execution()
    {
        await RunAttachedAsync(Request(Pipeline(CachedChain, extra: "cache: true\n"), "d1"));
        var firstExecution = (await GetAsync("d1")).PipelineExecutionArn;
        var edited = Pipeline(CachedChain.Replace("output_path: t }", "output_path: t, params: { depth: 3 } }", StringComparison.Ordinal), extra: "cache: true\n");

        var run = await RunAttachedAsync(Request(edited, "d2"));
        var read = await GetAsync("d2");

        Assert.Equal(RlabsRunStatus.Completed, read.Status);
        Assert.Equal([RlabsRunStatus.Cached, RlabsRunStatus.Cached, RlabsRunStatus.Completed, RlabsRunStatus.Completed], read.Steps.Select(s => s.Status));
        Assert.Equal(["d1", "d1", null, null], read.Steps.Select(s => s.CachedFrom));
        Assert.Equal(6, JobsRun());
        var selective = Starts()[^1]["SelectiveExecutionConfig"]!;
        Assert.Equal(["train", "score"], selective["SelectedSteps"]!.AsArray().Select(s => (string)s!["StepName"]!));
        Assert.Equal(firstExecution, (string?)selective["SourcePipelineExecutionArn"]);
        Assert.Equal("d2", (string)OutputAt("t", "d2", "train")!["job"]!);
        Assert.Equal(["prepare.json"], OutputAt("t", "d2", "train")!["seen"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(RlabsRunStatus.Completed, run.Status);

        // The rerun recorded its keys: the same edited pipeline again runs nothing.
        await RunAttachedAsync(Request(edited, "d3"));
        Assert.Equal(6, JobsRun());
        Assert.All((await GetAsync("d3")).Steps, s => Assert.Equal(RlabsRunStatus.Cached, s.Status));
    }

    [SkippableFact]
    public async Task Without_waiting_the_keys_are_recorded_by_whoever_sees_the_steps_succeed_and_an_all_hit_run_is_Completed_at_once()
    {
        var pipeline = Pipeline(CachedChain, extra: "cache: true\n");
        Assert.Equal(RlabsRunStatus.Running, (await StartAsync(Request(pipeline, "n1"))).Status);
        RlabsPipelineRun read;
        do
        {
            await Task.Delay(100);
            read = await GetAsync("n1"); // Get-RlabsPipelineRun sees the success and records the keys
        }
        while (read.Status == RlabsRunStatus.Running);
        Assert.Equal(RlabsRunStatus.Completed, read.Status);

        var second = await StartAsync(Request(pipeline, "n2"));

        Assert.Equal(4, JobsRun());
        Assert.Single(Starts());
        Assert.Equal(RlabsRunStatus.Completed, second.Status);
        Assert.All(second.Steps, s => Assert.Equal((RlabsRunStatus.Cached, "n1"), (s.Status, s.CachedFrom)));
        Assert.Equal(RlabsRunStatus.Completed, (await GetAsync("n2")).Status);

        // A partial hit without waiting: Wait-RlabsPipelineRun records the keys of the steps the execution ran.
        var edited = Pipeline(CachedChain.Replace("output_path: t }", "output_path: t, params: { depth: 3 } }", StringComparison.Ordinal), extra: "cache: true\n");
        var partial = await StartAsync(Request(edited, "n3"));
        Assert.Equal(RlabsRunStatus.Running, partial.Status);
        Assert.Equal([RlabsRunStatus.Cached, RlabsRunStatus.Cached, RlabsRunStatus.Pending, RlabsRunStatus.Pending], partial.Steps.Select(s => s.Status));
        Assert.Equal(RlabsRunStatus.Completed, (await WaitAsync("n3")).Status);
        Assert.Equal(6, JobsRun());

        var third = await StartAsync(Request(edited, "n4"));

        Assert.Equal(6, JobsRun());
        Assert.Equal(RlabsRunStatus.Completed, third.Status);
        Assert.Equal(["n1", "n1", "n3", "n3"], third.Steps.Select(s => s.CachedFrom));
    }

    [SkippableFact]
    public async Task A_partial_run_runs_only_the_selected_step_and_takes_the_others_from_the_reference_run()
    {
        var pipeline = Pipeline(CachedChain);
        await RunAttachedAsync(Request(pipeline, "r1"));
        var reference = (await GetAsync("r1")).PipelineExecutionArn;

        var run = await RunAttachedAsync(new RunRequest { Pipeline = pipeline, JobId = "r2", Steps = ["train"], ReferenceJobId = "r1", Cloud = Request(pipeline, "r2").Cloud });
        var read = await GetAsync("r2");

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Equal(5, JobsRun());
        var selective = Starts()[^1]["SelectiveExecutionConfig"]!;
        Assert.Equal(["train"], selective["SelectedSteps"]!.AsArray().Select(s => (string)s!["StepName"]!));
        Assert.Equal(reference, (string?)selective["SourcePipelineExecutionArn"]);
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Completed, RlabsRunStatus.Completed, RlabsRunStatus.Completed], read.Steps.Select(s => s.Status));
        Assert.Equal(["r1", "r1", null, "r1"], read.Steps.Select(s => s.CachedFrom));
        Assert.Equal("r2", (string)OutputAt("t", "r2", "train")!["job"]!);
        Assert.Equal("r1", (string)OutputAt("p", "r2", "prepare")!["job"]!);
        Assert.Null(OutputAt("s", "r2", "score"));
        var steps = await new SageMakerClient(_fixture.Session()).ListAllPipelineExecutionStepsAsync(read.PipelineExecutionArn!, "Ascending", CancellationToken.None);
        Assert.Equal([("prepare", reference), ("train", null)], steps.Select(s => (s.StepName, s.SelectiveExecutionResult?.SourcePipelineExecutionArn)));
    }

    [SkippableFact]
    public async Task The_emulator_refuses_a_selective_execution_SageMaker_refuses()
    {
        var pipeline = Pipeline(CachedChain);
        await RunAttachedAsync(Request(pipeline, "v1"));
        var own = (await GetAsync("v1")).PipelineExecutionArn!;
        var other = Pipeline(CachedChain, project: "other");
        await RunAttachedAsync(Request(other, "v2"));
        var foreign = (await GetAsync("v2", "other")).PipelineExecutionArn!;
        var name = PipelineDefinitionCompiler.PipelineName(pipeline);
        var client = new SageMakerClient(_fixture.Session());

        Task Start(string? source, params string[] steps) => client.StartPipelineExecutionAsync(new StartPipelineExecutionRequest
        {
            PipelineName = name,
            PipelineParameters = [new PipelineParameter { Name = "JobId", Value = "v9" }],
            SelectiveExecutionConfig = new SelectiveExecutionConfig { SourcePipelineExecutionArn = source, SelectedSteps = steps.Select(s => new SelectedStep { StepName = s }).ToList() },
        }, CancellationToken.None);

        Assert.Contains("must be selected too", (await Assert.ThrowsAsync<AwsServiceException>(() => Start(own, "prepare", "score"))).AwsMessage, StringComparison.Ordinal);
        Assert.Contains("not an execution of pipeline", (await Assert.ThrowsAsync<AwsServiceException>(() => Start(foreign, "train"))).AwsMessage, StringComparison.Ordinal);
        Assert.Contains("SourcePipelineExecutionArn is required", (await Assert.ThrowsAsync<AwsServiceException>(() => Start(null, "train"))).AwsMessage, StringComparison.Ordinal);
        Assert.Contains("is not a step of pipeline", (await Assert.ThrowsAsync<AwsServiceException>(() => Start(own, "nope"))).AwsMessage, StringComparison.Ordinal);
        Assert.Equal(8, JobsRun());
    }

    /// <summary>Presses Ctrl-C (cancels) once the named step is running.</summary>
    private sealed class CancelWhenRunning(CancellationTokenSource cancel, string step) : IRunReporter
    {
        public void Progress(RunProgress progress)
        {
            if (progress.Status.Contains("running: " + step, StringComparison.Ordinal))
            {
                cancel.Cancel();
            }
        }

        public void Verbose(string message)
        {
        }

        public void Warning(string message)
        {
        }
    }
}

