using System.Text;
using Rlabs.Pipelines.AwsEmulator.Services;
using Rlabs.Pipelines.Cloud;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Core.Tests.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;
using Rlabs.Pipelines.Tests.Running;

namespace Rlabs.Pipelines.Tests.Cloud;

/// <summary>The step graph and retries of the one engine, driving emulated SageMaker Processing jobs that run the probe.</summary>
[Trait("Tier", "Emulator")]
public sealed class SageMakerGraphTests : IClassFixture<EmulatorFixture>, IDisposable
{
    private const string Bucket = "sagemaker-eu-west-1-123456789012";
    private const string Header = "project: graph\nrole_arn: arn:aws:iam::123456789012:role/rlabs-sagemaker\n";
    private readonly EmulatorFixture _fixture;
    private readonly TempRepository _repo = new();

    public SageMakerGraphTests(EmulatorFixture fixture)
    {
        _fixture = fixture;
        _fixture.Emulator.Reset();
        _fixture.Emulator.SageMaker.SetBehaviour(null, new ProcessingJobBehaviour { Execute = true });
        _repo.Write("probe.py", GraphProbe.Script);
    }

    public void Dispose() => _repo.Dispose();

    private RunRequest Request(string yaml, bool noWait = false)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return new RunRequest { Pipeline = result.Pipeline!, JobId = "job", Cloud = new CloudRunOptions { NoWait = noWait } };
    }

    private async Task<RlabsPipelineRun> RunAsync(RunRequest request, IRunReporter reporter)
    {
        using var runtime = new SageMakerRuntime(_fixture.Session());
        return await RunEngine.RunAsync(RunEngine.Plan(request, runtime), runtime, reporter, CancellationToken.None);
    }

    private GraphProbe.Record Record(string folder, string step) =>
        GraphProbe.Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/graph/data/{folder}/job/{step}.json") ?? throw new InvalidOperationException($"{step} wrote nothing"));

    [Fact]
    public async Task Should_run_independent_jobs_at_the_same_time_and_hand_the_join_both_outputs()
    {
        var meet = Path.Combine(_repo.Root + "-meet").Replace('\\', '/');
        try
        {
            var run = await RunAsync(Request(GraphProbe.Diamond($"meet: \"{meet}\", meet_count: \"2\"", Header)), NullRunReporter.Instance);

            Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
            var b = Record("mid", "b");
            var c = Record("mid", "c");
            var d = Record("d", "d");
            Assert.True(GraphProbe.Overlap(b, c), $"b ran {b.Start}-{b.End}, c ran {c.Start}-{c.End}: not at the same time");
            Assert.True(Math.Max(b.End, c.End) <= d.Start);
            Assert.Equal(["b.json", "c.json"], d.Inputs);
        }
        finally
        {
            if (Directory.Exists(meet))
            {
                Directory.Delete(meet, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Should_drive_the_recorded_graph_when_waiting_for_a_run_started_without_waiting()
    {
        var meet = Path.Combine(_repo.Root + "-meet").Replace('\\', '/');
        try
        {
            var request = Request(GraphProbe.Diamond($"meet: \"{meet}\", meet_count: \"2\"", Header), noWait: true);
            var started = await RunAsync(request, NullRunReporter.Instance);
            Assert.Equal(RlabsRunStatus.Running, started.Status);

            using var session = _fixture.Session();
            using var service = new CloudRunService(session);
            var found = (await service.GetAsync(Bucket, "graph", "job", CancellationToken.None))!.Value;
            Assert.Equal(["b", "c"], found.Manifest.Steps[3].DependsOn);
            var run = await service.WaitAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);

            Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
            var b = Record("mid", "b");
            var c = Record("mid", "c");
            Assert.True(GraphProbe.Overlap(b, c), $"b ran {b.Start}-{b.End}, c ran {c.Start}-{c.End}: Wait ran them one after the other");
            Assert.True(Math.Max(b.End, c.End) <= Record("d", "d").Start);
        }
        finally
        {
            if (Directory.Exists(meet))
            {
                Directory.Delete(meet, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Should_start_every_ready_root_step_without_waiting_and_leave_the_join_to_Wait()
    {
        var request = Request(Header + """
            pipeline:
              - { name: left, job_suffix: L, code: probe.py, output_path: mid, depends_on: [] }
              - { name: right, job_suffix: R, code: probe.py, output_path: mid, depends_on: [] }
              - { name: join, job_suffix: J, code: probe.py, input_data: "mid/<job_id>", output_path: d, depends_on: [left, right] }
            """, noWait: true);
        var started = await RunAsync(request, NullRunReporter.Instance);

        Assert.Equal(RlabsRunStatus.Running, started.Status);
        Assert.Equal([RlabsRunStatus.Running, RlabsRunStatus.Running, RlabsRunStatus.Pending], started.Steps.Select(s => s.Status));
        var created = _fixture.Emulator.SageMaker.Snapshot().Select(j => (string)j!["processingJobName"]!).ToList();
        Assert.Equal(2, created.Count);
        Assert.Contains(created, n => n.StartsWith("graph-job-L-", StringComparison.Ordinal));
        Assert.Contains(created, n => n.StartsWith("graph-job-R-", StringComparison.Ordinal));

        using var session = _fixture.Session();
        using var service = new CloudRunService(session);
        var found = (await service.GetAsync(Bucket, "graph", "job", CancellationToken.None))!.Value;
        var run = await service.WaitAsync(found.Manifest, found.Run, NullRunReporter.Instance, CancellationToken.None);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        Assert.Equal(3, _fixture.Emulator.SageMaker.Snapshot().Count); // Wait started the join only: no root ran twice
        Assert.Equal(["left.json", "right.json"], Record("d", "join").Inputs);
    }

    [Fact]
    public async Task Should_start_no_more_root_steps_without_waiting_than_the_parallelism()
    {
        var request = Request(Header + """
            parallelism: 1
            pipeline:
              - { name: left, job_suffix: L, code: probe.py, output_path: mid, depends_on: [] }
              - { name: right, job_suffix: R, code: probe.py, output_path: mid, depends_on: [] }
            """, noWait: true);
        var started = await RunAsync(request, NullRunReporter.Instance);

        Assert.Equal([RlabsRunStatus.Running, RlabsRunStatus.Pending], started.Steps.Select(s => s.Status));
        Assert.Single(_fixture.Emulator.SageMaker.Snapshot());
    }

    [Fact]
    public async Task Should_retry_a_job_whose_script_asks_to_try_again_as_a_new_job()
    {
        _fixture.Emulator.S3.PutObjectBytes(Bucket, "rlabs/graph/data/gate/job/placeholder", Encoding.UTF8.GetBytes("x"));
        var reporter = new RecordingReporter
        {
            OnVerbose = line =>
            {
                if (line.Contains("attempt 2 of 3", StringComparison.Ordinal))
                {
                    _fixture.Emulator.S3.PutObjectBytes(Bucket, "rlabs/graph/data/gate/job/ready", Encoding.UTF8.GetBytes("go"));
                }
            },
        };
        var run = await RunAsync(Request(GraphProbe.TryAgain(Header)), reporter);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var attempts = run.Steps[0].Attempts;
        Assert.Equal(2, attempts.Count);
        Assert.Equal(75, attempts[0].ExitCode);
        Assert.Equal(RlabsFailureKind.Script, attempts[0].FailureKind);
        Assert.NotEqual(attempts[0].JobName, attempts[1].JobName);
        Assert.Equal(attempts[1].JobName, run.Steps[0].JobName);
        Assert.Equal(["placeholder", "ready"], Record("out", "wait").Inputs);
    }

    [Theory]
    [InlineData("CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type.", RlabsFailureKind.Capacity)]
    [InlineData("InternalServerError: We encountered an internal error. Please try again.", RlabsFailureKind.Internal)]
    public async Task Should_retry_a_job_that_failed_for_SageMaker_and_record_why(string reason, RlabsFailureKind kind)
    {
        _fixture.Emulator.SageMaker.SetBehaviourOnce("graph-job-A-", new ProcessingJobBehaviour { Outcome = "Failed", FailureReason = reason });
        var run = await RunAsync(Request(Header + """
            retry: { attempts: 2, backoff: "PT0S" }
            pipeline:
              - { name: a, job_suffix: A, code: probe.py, output_path: a }
            """), NullRunReporter.Instance);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var attempts = run.Steps[0].Attempts;
        Assert.Equal(2, attempts.Count);
        Assert.Equal(kind, attempts[0].FailureKind);
        Assert.Contains(reason, attempts[0].FailureReason, StringComparison.Ordinal);
        Assert.NotEqual(attempts[0].JobName, attempts[1].JobName);
        Assert.NotNull(_fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/graph/data/a/job/a.json"));
    }

    [Fact]
    public async Task Should_not_retry_a_job_that_failed_for_its_script()
    {
        var run = await RunAsync(Request(Header + """
            retry: { attempts: 3, backoff: "PT0S" }
            pipeline:
              - { name: a, job_suffix: A, code: probe.py, output_path: a, params: { fail: "4" } }
            """), NullRunReporter.Instance);

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        var attempt = Assert.Single(run.Steps[0].Attempts);
        Assert.Equal(RlabsFailureKind.Script, attempt.FailureKind);
        Assert.Equal(4, attempt.ExitCode);
    }

    [Fact]
    public async Task Should_create_no_job_the_second_time_and_copy_the_earlier_outputs_in_the_bucket()
    {
        const string Yaml = Header + """
            cache: { expire_after: "P7D" }
            pipeline:
              - { name: a, job_suffix: A, code: probe.py, output_path: a }
              - { name: b, job_suffix: B, code: probe.py, input_data: "a/<job_id>", output_path: b }
            """;
        var first = await RunAsync(Request(Yaml), NullRunReporter.Instance);
        Assert.True(first.Status == RlabsRunStatus.Completed, GraphProbe.Describe(first));
        var reporter = new RecordingReporter();
        var request = Request(Yaml);
        var second = await RunAsync(new RunRequest { Pipeline = request.Pipeline, JobId = "job2" }, reporter);

        Assert.True(second.Status == RlabsRunStatus.Completed, GraphProbe.Describe(second));
        Assert.Equal(["job", "job"], second.Steps.Select(s => s.CachedFrom));
        Assert.DoesNotContain(reporter.Lines, l => l.Contains("created processing job", StringComparison.Ordinal));
        Assert.Equal(0, second.UploadedBytes);
        foreach (var step in new[] { "a", "b" })
        {
            var before = GraphProbe.Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/graph/data/{step}/job/{step}.json")!);
            var after = GraphProbe.Read(_fixture.Emulator.S3.GetObjectBytes(Bucket, $"rlabs/graph/data/{step}/job2/{step}.json")!);
            Assert.Equal(before.Start, after.Start);
        }
        Assert.NotNull(_fixture.Emulator.S3.GetObjectBytes(Bucket, "rlabs/graph/cache/a/last.json"));
    }
}
