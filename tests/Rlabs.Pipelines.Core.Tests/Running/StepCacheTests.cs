using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>The content-keyed step cache of the one engine, on the process runtime.</summary>
public sealed class StepCacheTests : IDisposable
{
    private const string Steps = """
        cache: true
        pipeline:
          - { name: a, job_suffix: A, code: probe.py, output_path: a }
          - { name: b, job_suffix: B, code: probe.py, input_data: "a/<job_id>", output_path: b }
          - { name: c, job_suffix: C, code: probe.py, input_data: "b/<job_id>", output_path: c, params: { sleep: "0" } }
          - { name: d, job_suffix: D, code: probe.py, input_data: "c/<job_id>", output_path: d }
        """;

    private readonly TempRepository _repo = new();

    public StepCacheTests()
    {
        _repo.Write("probe.py", GraphProbe.Script);
        _repo.Write("lib/helpers.py", "X = 1\n");
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string yaml)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipelines/pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static async Task<(RlabsPipelineRun Run, RecordingReporter Reporter)> RunAsync(RlabsPipeline pipeline, string jobId, bool noCache = false)
    {
        var request = LocalRuns.Request(pipeline, jobId);
        var reporter = new RecordingReporter();
        var (run, _) = await LocalRuns.RunAsync(new RunRequest { Pipeline = pipeline, JobId = jobId, InstanceType = request.InstanceType, Local = request.Local, NoCache = noCache }, reporter);
        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        return (run, reporter);
    }

    private GraphProbe.Record Record(string step, string jobId) =>
        GraphProbe.Read(File.ReadAllBytes(Path.Combine(_repo.Root, ".rlabs", "data", step, jobId, step + ".json")));

    [Fact]
    public async Task Should_run_nothing_the_second_time_and_hand_each_step_the_earlier_output_for_this_job_id()
    {
        var pipeline = Pipeline(Steps);
        var (first, _) = await RunAsync(pipeline, "one");
        var (second, reporter) = await RunAsync(pipeline, "two");

        Assert.All(first.Steps, s => Assert.Null(s.CachedFrom));
        Assert.All(second.Steps, s => Assert.Equal("one", s.CachedFrom));
        Assert.All(second.Steps, s => Assert.Equal(0, s.ExitCode ?? 0));
        Assert.DoesNotContain(reporter.Lines, l => l.Contains("runtime Process", StringComparison.Ordinal)); // no process started
        foreach (var step in new[] { "a", "b", "c", "d" })
        {
            // The same bytes under this job id: the step wrote them once, in job one.
            Assert.Equal((Record(step, "one").Start, Record(step, "one").End), (Record(step, "two").Start, Record(step, "two").End));
        }
        Assert.Contains(reporter.Lines, l => l.StartsWith("[a] Cached: the output of job one", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_keep_earlier_steps_cached_when_only_a_later_steps_params_change_in_the_pipeline_file()
    {
        await RunAsync(Pipeline(Steps), "one");
        var (second, reporter) = await RunAsync(Pipeline(Steps.Replace("sleep: \"0\"", "sleep: \"0.01\"", StringComparison.Ordinal)), "two");

        Assert.Equal(["one", "one", null, null], second.Steps.Select(s => s.CachedFrom));
        Assert.Contains(reporter.Lines, l => l.StartsWith("[c] cache miss", StringComparison.Ordinal) && l.Contains("params changed since job one", StringComparison.Ordinal));
        // d's code and params did not change, but its input (c's new output) did: the key chains.
        Assert.Contains(reporter.Lines, l => l.StartsWith("[d] cache miss", StringComparison.Ordinal) && l.Contains("input changed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_miss_when_a_source_file_changes_and_say_so()
    {
        await RunAsync(Pipeline(Steps), "one");
        _repo.Write("lib/helpers.py", "X = 2\n");
        var (second, reporter) = await RunAsync(Pipeline(Steps), "two");

        Assert.All(second.Steps, s => Assert.Null(s.CachedFrom));
        Assert.Contains(reporter.Lines, l => l.StartsWith("[a] cache miss", StringComparison.Ordinal) && l.Contains("source changed since job one", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_hit_when_a_source_file_is_touched_but_unchanged_or_only_an_ignored_file_changes()
    {
        _repo.Write(".gitignore", "*.tmp\n");
        await RunAsync(Pipeline(Steps), "one");
        var helpers = Path.Combine(_repo.Root, "lib", "helpers.py");
        File.SetLastWriteTimeUtc(helpers, File.GetLastWriteTimeUtc(helpers).AddSeconds(10));
        _repo.Write("scratch.tmp", "ignored");
        var (second, _) = await RunAsync(Pipeline(Steps), "two");

        // The tree's stamp changed (the touch), so the source part was hashed again: to the same content hash.
        Assert.All(second.Steps, s => Assert.Equal("one", s.CachedFrom));

        _repo.Write("lib/extra.py", "Y = 1\n");
        var (third, reporter) = await RunAsync(Pipeline(Steps), "three");
        Assert.All(third.Steps, s => Assert.Null(s.CachedFrom));
        Assert.Contains(reporter.Lines, l => l.StartsWith("[a] cache miss", StringComparison.Ordinal) && l.Contains("source changed since job", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_run_every_step_with_NoCache_and_leave_the_cache_alone()
    {
        var pipeline = Pipeline(Steps);
        await RunAsync(pipeline, "one");
        var (second, _) = await RunAsync(pipeline, "two", noCache: true);
        var (third, _) = await RunAsync(pipeline, "three");

        Assert.All(second.Steps, s => Assert.Null(s.CachedFrom));
        Assert.NotEqual(Record("a", "one").Start, Record("a", "two").Start);
        Assert.All(third.Steps, s => Assert.Equal("one", s.CachedFrom));
    }

    [Fact]
    public async Task Should_not_cache_a_step_that_turns_it_off_nor_a_pipeline_without_cache()
    {
        var pipeline = Pipeline(Steps.Replace("output_path: b }", "output_path: b, cache: false }", StringComparison.Ordinal));
        await RunAsync(pipeline, "one");
        var (second, _) = await RunAsync(pipeline, "two");

        // b runs again and writes new bytes, so c's and d's inputs changed: they run too.
        Assert.Equal(["one", null, null, null], second.Steps.Select(s => s.CachedFrom));
        var (plain, _) = await RunAsync(Pipeline(Steps.Replace("cache: true\n", string.Empty, StringComparison.Ordinal)), "three");
        Assert.All(plain.Steps, s => Assert.Null(s.CachedFrom));
    }

    [Fact]
    public async Task Should_say_in_WhatIf_per_step_whether_it_hits_and_what_changed()
    {
        await RunAsync(Pipeline(Steps), "one");
        _repo.Write("probe.py", GraphProbe.Script + "\n# changed\n");
        var request = LocalRuns.Request(Pipeline(Steps), "two");
        var (runtime, plan) = LocalRuns.Plan(request);
        using (runtime)
        {
            var lines = await RunEngine.DescribeAsync(plan, runtime, CancellationToken.None);
            Assert.True(lines.Count(l => l.Contains("cache", StringComparison.Ordinal)) == 4, string.Join(Environment.NewLine, lines));
            Assert.Contains(lines, l => l.StartsWith("Step 'a' cache miss: code, source changed since job one", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("Step 'b' cache: decided once step 'a' has written its input", StringComparison.Ordinal) && l.Contains("code", StringComparison.Ordinal));
        }
    }
}
