using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>-Resume of local runs and partial runs (-Step, -FromStep, -ToStep with -ReferenceJobId), on the process runtime.</summary>
public sealed class PartialRunTests : IDisposable
{
    private const string Steps = """
        pipeline:
          - { name: a, job_suffix: A, code: probe.py, output_path: a }
          - { name: b, job_suffix: B, code: probe.py, input_data: "a/<job_id>", output_path: b }
          - { name: c, job_suffix: C, code: probe.py, input_data: "b/<job_id>", output_path: c, params: { sleep: "0" } }
        """;

    private readonly TempRepository _repo = new();

    public PartialRunTests()
    {
        _repo.Write("probe.py", GraphProbe.Script);
    }

    public void Dispose() => _repo.Dispose();

    private RlabsPipeline Pipeline(string yaml = Steps)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return result.Pipeline!;
    }

    private static async Task<(RlabsPipelineRun Run, RecordingReporter Reporter)> RunAsync(RlabsPipeline pipeline, string jobId, bool resume = false, IReadOnlyList<string>? steps = null, string? reference = null)
    {
        var local = LocalRuns.Request(pipeline, jobId);
        var reporter = new RecordingReporter();
        var (run, _) = await LocalRuns.RunAsync(new RunRequest { Pipeline = pipeline, JobId = jobId, InstanceType = local.InstanceType, Local = local.Local, Resume = resume, Steps = steps, ReferenceJobId = reference }, reporter);
        return (run, reporter);
    }

    private double Start(string step, string jobId) =>
        GraphProbe.Read(File.ReadAllBytes(Path.Combine(_repo.Root, ".rlabs", "data", step, jobId, step + ".json"))).Start;

    [Fact]
    public async Task Should_keep_completed_steps_on_Resume_and_run_the_failed_one_and_after()
    {
        var failing = Pipeline(Steps.Replace("sleep: \"0\"", "fail: \"3\"", StringComparison.Ordinal));
        var (first, _) = await RunAsync(failing, "job");
        Assert.Equal([RlabsRunStatus.Completed, RlabsRunStatus.Completed, RlabsRunStatus.Failed], first.Steps.Select(s => s.Status));
        var a = Start("a", "job");
        var b = Start("b", "job");

        var (resumed, reporter) = await RunAsync(Pipeline(), "job", resume: true);

        Assert.True(resumed.Status == RlabsRunStatus.Completed, GraphProbe.Describe(resumed));
        Assert.Equal(a, Start("a", "job"));
        Assert.Equal(b, Start("b", "job"));
        Assert.Empty(resumed.Steps[0].Attempts); // kept, not run
        Assert.Single(resumed.Steps[2].Attempts);
        Assert.Contains(reporter.Lines, l => l.Contains("-Resume: step 'b' already completed", StringComparison.Ordinal));
        Assert.Contains(reporter.Lines, l => l.Contains("-Resume: step 'c' runs again: params changed since it completed", StringComparison.Ordinal)
            || l.Contains("-Resume: step 'c' runs again: it did not complete", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_run_a_kept_steps_descendants_again_when_an_earlier_step_changed()
    {
        await RunAsync(Pipeline(), "job");
        _repo.Write("probe.py", GraphProbe.Script + "\n# changed\n");
        var (resumed, reporter) = await RunAsync(Pipeline(), "job", resume: true);

        Assert.True(resumed.Status == RlabsRunStatus.Completed, GraphProbe.Describe(resumed));
        Assert.All(resumed.Steps, s => Assert.Single(s.Attempts));
        Assert.Contains(reporter.Lines, l => l.Contains("-Resume: step 'a' runs again: code, source changed since it completed", StringComparison.Ordinal));
        Assert.Contains(reporter.Lines, l => l.Contains("-Resume: step 'b' runs again: a step it depends on runs again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_run_only_the_selected_step_on_the_outputs_of_a_reference_run_linked_not_copied()
    {
        await RunAsync(Pipeline(), "ref");
        var (slice, _) = await RunAsync(Pipeline(), "try", steps: RunSlice.Select(Pipeline(), ["b"], null, null), reference: "ref");

        Assert.True(slice.Status == RlabsRunStatus.Completed, GraphProbe.Describe(slice));
        Assert.Equal(["ref", null, "ref"], slice.Steps.Select(s => s.CachedFrom));
        Assert.Empty(slice.Steps[0].Attempts);
        Assert.Single(slice.Steps[1].Attempts);
        var linked = Path.Combine(_repo.Root, ".rlabs", "data", "a", "try", "a.json");
        Assert.Equal(Start("a", "ref"), Start("a", "try"));
        Assert.False(Directory.Exists(Path.Combine(_repo.Root, ".rlabs", "data", "c", "try")), "c is after the slice: not run, nothing linked");
        if (OperatingSystem.IsLinux())
        {
            // A hard link: the same file, not a copy.
            var original = Path.Combine(_repo.Root, ".rlabs", "data", "a", "ref", "a.json");
            Assert.Equal(Inode(original), Inode(linked));
        }
    }

    [Fact]
    public void Should_select_ranges_along_the_graph_and_reject_unknown_names()
    {
        var pipeline = Pipeline();
        Assert.Equal(["b", "c"], RunSlice.Select(pipeline, null, "b", null));
        Assert.Equal(["a", "b"], RunSlice.Select(pipeline, null, null, "b"));
        Assert.Equal(["b"], RunSlice.Select(pipeline, null, "b", "b"));
        Assert.Null(RunSlice.Select(pipeline, null, null, null));
        var error = Assert.Throws<RlabsRunException>(() => RunSlice.Select(pipeline, ["x"], null, null));
        Assert.Equal("UnknownStep", error.ErrorId);
        Assert.Contains("a, b, c", error.Message, StringComparison.Ordinal);
    }

    private static string Inode(string path)
    {
        var info = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return output;
    }
}

/// <summary>The interpreter is resolved once per run, through a version manager's shim to the real executable.</summary>
public sealed class PythonShimTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public void Dispose() => _repo.Dispose();

    [SkippableFact]
    public void Should_resolve_a_shim_to_the_interpreter_it_runs_and_leave_other_paths_alone()
    {
        Skip.If(OperatingSystem.IsWindows(), "shims are shell scripts");
        var real = Rlabs.Pipelines.Local.PythonLocator.Resolve(null);
        var shim = _repo.Write("shims/python3", $"#!/bin/sh\nexec \"{real}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var resolved = Rlabs.Pipelines.Local.PythonLocator.RealExecutable(shim, _repo.Root);

        Assert.NotEqual(shim, resolved);
        Assert.True(File.Exists(resolved));
        var notShim = _repo.Write("bin/python3", $"#!/bin/sh\nexec \"{real}\" \"$@\"\n");
        Assert.Equal(notShim, Rlabs.Pipelines.Local.PythonLocator.RealExecutable(notShim, _repo.Root));
    }

    [SkippableFact]
    public void Should_ask_a_shim_once_while_what_it_reads_is_unchanged_and_again_after_a_version_file_changes()
    {
        Skip.If(OperatingSystem.IsWindows(), "shims are shell scripts");
        var real = Rlabs.Pipelines.Local.PythonLocator.Resolve(null);
        var asked = Path.Combine(_repo.Root, "asked.txt");
        var shim = _repo.Write("shims/python3", $"#!/bin/sh\necho asked >> \"{asked}\"\nexec \"{real}\" \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var project = Directory.CreateDirectory(Path.Combine(_repo.Root, "project")).FullName;

        var first = Rlabs.Pipelines.Local.PythonLocator.RealExecutable(shim, project);
        var second = Rlabs.Pipelines.Local.PythonLocator.RealExecutable(shim, project);
        Assert.Equal(first, second);
        Assert.Single(File.ReadAllLines(asked));

        _repo.Write("project/.python-version", "3.11\n");
        Rlabs.Pipelines.Local.PythonLocator.RealExecutable(shim, project);
        Assert.Equal(2, File.ReadAllLines(asked).Length);
    }
}
