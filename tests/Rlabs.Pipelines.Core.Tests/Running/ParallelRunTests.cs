using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>The step graph, the throttle and retries of the one engine, on the process runtime.</summary>
public sealed class ParallelRunTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public ParallelRunTests()
    {
        _repo.Write("probe.py", GraphProbe.Script);
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string yaml)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private string Meet() => $"meet: \"{Path.Combine(_repo.Root, "meet").Replace('\\', '/')}\", meet_count: \"2\"";

    private static GraphProbe.Record Record(string dataRoot, string folder, string step) =>
        GraphProbe.Read(File.ReadAllBytes(Path.Combine(dataRoot, folder, "job", step + ".json")));

    [Fact]
    public async Task Should_run_independent_steps_at_the_same_time_and_hand_the_join_both_outputs()
    {
        var reporter = new RecordingReporter();
        var (run, layout) = await LocalRuns.RunAsync(LocalRuns.Request(Pipeline(GraphProbe.Diamond(Meet())), "job"), reporter);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var a = Record(layout.DataRoot, "a", "a");
        var b = Record(layout.DataRoot, "mid", "b");
        var c = Record(layout.DataRoot, "mid", "c");
        var d = Record(layout.DataRoot, "d", "d");
        Assert.True(GraphProbe.Overlap(b, c), $"b ran {b.Start}-{b.End}, c ran {c.Start}-{c.End}: not at the same time");
        Assert.True(a.End <= Math.Min(b.Start, c.Start), "a must end before b and c start");
        Assert.True(Math.Max(b.End, c.End) <= d.Start, "d must start after b and c end");
        Assert.Equal(["b.json", "c.json"], d.Inputs);
        Assert.Equal(["b", "c"], run.Steps[3].DependsOn);
        Assert.Equal(["a"], run.Steps[1].DependsOn);
        Assert.All(run.Steps, s => Assert.Single(s.Attempts));
        // Progress names every step that runs; at some point both b and c.
        Assert.Contains(reporter.ProgressRecords, p => p.Status.Contains("b (Process)", StringComparison.Ordinal) && p.Status.Contains("c (Process)", StringComparison.Ordinal));
        Assert.Contains(reporter.Lines, l => l.StartsWith("[b] ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_run_one_step_at_a_time_with_a_throttle_limit_of_one()
    {
        var request = LocalRuns.Request(Pipeline(GraphProbe.Diamond("sleep: \"0.3\"")), "job");
        var (run, layout) = await LocalRuns.RunAsync(new Rlabs.Pipelines.Planning.RunRequest { Pipeline = request.Pipeline, JobId = request.JobId, InstanceType = request.InstanceType, Local = request.Local, ThrottleLimit = 1 }, NullRunReporter.Instance);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var b = Record(layout.DataRoot, "mid", "b");
        var c = Record(layout.DataRoot, "mid", "c");
        Assert.False(GraphProbe.Overlap(b, c), $"b ran {b.Start}-{b.End}, c ran {c.Start}-{c.End}: at the same time despite ThrottleLimit 1");
    }

    [Fact]
    public async Task Should_take_parallelism_from_the_file_when_no_throttle_limit_is_given()
    {
        var (run, layout) = await LocalRuns.RunAsync(LocalRuns.Request(Pipeline(GraphProbe.Diamond("sleep: \"0.3\"", header: "parallelism: 1\n")), "job"), NullRunReporter.Instance);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        Assert.False(GraphProbe.Overlap(Record(layout.DataRoot, "mid", "b"), Record(layout.DataRoot, "mid", "c")));
    }

    [Fact]
    public async Task Should_skip_the_descendants_of_a_failed_step_and_let_its_sibling_finish()
    {
        var (run, layout) = await LocalRuns.RunAsync(LocalRuns.Request(Pipeline(GraphProbe.Diamond(Meet(), bParams: ", fail: \"3\"")), "job"), NullRunReporter.Instance);

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Failed, RlabsRunStatus.Completed, RlabsRunStatus.Skipped], run.Steps.Select(s => s.Status));
        Assert.Equal(3, run.Steps[1].ExitCode);
        Assert.Contains("step 'b' failed", run.Steps[3].FailureReason, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(layout.DataRoot, "mid", "job", "c.json")), "the sibling c must finish and publish");
        Assert.Single(run.Steps[1].Attempts); // a script's own failure is not retried
    }

    [Fact]
    public async Task Should_retry_a_script_that_asks_to_try_again_with_its_exit_code()
    {
        var gate = Path.Combine(_repo.Root, ".rlabs", "data", "gate", "job");
        Directory.CreateDirectory(gate);
        // The world changes between the attempts: the test opens the gate when the engine announces attempt 2.
        var reporter = new RecordingReporter
        {
            OnVerbose = line =>
            {
                if (line.Contains("attempt 2 of 3", StringComparison.Ordinal))
                {
                    File.WriteAllText(Path.Combine(gate, "ready"), "go");
                }
            },
        };
        var (run, layout) = await LocalRuns.RunAsync(LocalRuns.Request(Pipeline(GraphProbe.TryAgain()), "job"), reporter);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var attempts = run.Steps[0].Attempts;
        Assert.Equal(2, attempts.Count);
        Assert.Equal(RlabsRunStatus.Failed, attempts[0].Status);
        Assert.Equal(75, attempts[0].ExitCode);
        Assert.Equal(RlabsFailureKind.Script, attempts[0].FailureKind);
        Assert.Equal(RlabsRunStatus.Completed, attempts[1].Status);
        Assert.Null(attempts[1].FailureKind);
        Assert.True(attempts[0].EndTime <= attempts[1].StartTime);
        Assert.Equal(["ready"], GraphProbe.Read(File.ReadAllBytes(Path.Combine(layout.DataRoot, "out", "job", "wait.json"))).Inputs);
    }

    [Fact]
    public async Task Should_give_up_after_the_last_attempt()
    {
        Directory.CreateDirectory(Path.Combine(_repo.Root, ".rlabs", "data", "gate", "job"));
        var (run, _) = await LocalRuns.RunAsync(LocalRuns.Request(Pipeline(GraphProbe.TryAgain()), "job"), NullRunReporter.Instance);

        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        Assert.Equal(3, run.Steps[0].Attempts.Count);
        Assert.All(run.Steps[0].Attempts, a => Assert.Equal(75, a.ExitCode));
        Assert.Contains("exited with code 75", run.Steps[0].FailureReason, StringComparison.Ordinal);
    }
}
