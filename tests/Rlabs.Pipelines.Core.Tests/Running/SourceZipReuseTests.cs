using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>A local run reuses the source zip of an earlier run while the repository's files are unchanged.</summary>
public sealed class SourceZipReuseTests : IDisposable
{
    private const string Script = """
        import argparse, os, zipfile
        p = argparse.ArgumentParser()
        for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path', '--spoil_flag'):
            p.add_argument(a)
        args = p.parse_args()
        with zipfile.ZipFile(args.source_code_zip) as z:
            text = z.read('lib.txt').decode()
        os.makedirs(args.output_data_path, exist_ok=True)
        open(os.path.join(args.output_data_path, os.environ['RLABS_STEP_NAME'] + '.txt'), 'w').write(text)
        if os.path.exists(args.spoil_flag):
            with open(args.source_code_zip, 'r+b') as f:
                f.truncate(10)
        """;

    private readonly TempRepository _repo = new();
    private readonly string _flag;

    public SourceZipReuseTests()
    {
        _repo.Write("step.py", Script);
        _repo.Write("lib.txt", "v1");
        _flag = _repo.Root + "-spoil";
        _repo.Write("pipeline.yaml", $$"""
            pipeline:
              - { name: s1, job_suffix: S1, code: step.py, output_path: out, params: { spoil_flag: "{{_flag.Replace('\\', '/')}}" } }
              - { name: s2, job_suffix: S2, code: step.py, output_path: out, params: { spoil_flag: "{{_flag.Replace('\\', '/')}}-never" } }
            """);
    }

    public void Dispose()
    {
        File.Delete(_flag);
        _repo.Dispose();
    }

    private async Task<(RlabsPipelineRun Run, RecordingReporter Reporter)> RunAsync(string jobId)
    {
        var result = PipelineConfigReader.Read(Path.Combine(_repo.Root, "pipeline.yaml"), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        var reporter = new RecordingReporter();
        var (run, _) = await LocalRuns.RunAsync(LocalRuns.Request(result.Pipeline!, jobId), reporter);
        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        return (run, reporter);
    }

    private string Read(string jobId, string step) => File.ReadAllText(Path.Combine(_repo.Root, ".rlabs", "data", "out", jobId, step + ".txt"));

    private static bool Reused(RecordingReporter reporter) => reporter.Lines.Any(l => l.Contains("Reused the source zip", StringComparison.Ordinal));

    private static bool Packed(RecordingReporter reporter) => reporter.Lines.Any(l => l.StartsWith("Packed ", StringComparison.Ordinal));

    [Fact]
    public async Task Should_reuse_the_zip_of_an_unchanged_tree_and_pack_again_after_a_file_changed()
    {
        var (_, first) = await RunAsync("j1");
        Assert.True(Packed(first));

        var (_, second) = await RunAsync("j2");
        Assert.True(Reused(second), string.Join(Environment.NewLine, second.Lines));
        Assert.False(Packed(second));
        Assert.Equal("v1", Read("j2", "s2"));

        _repo.Write("lib.txt", "v2 changed");
        var (_, third) = await RunAsync("j3");
        Assert.True(Packed(third));
        Assert.Equal("v2 changed", Read("j3", "s1"));
    }

    [Fact]
    public async Task Should_never_hand_a_later_step_or_run_a_zip_that_a_step_wrote_into()
    {
        await RunAsync("j1");
        File.WriteAllText(_flag, "spoil");
        var (_, spoiled) = await RunAsync("j2");

        // s1 truncated its zip, a link to the run's: s2 still read the repository's files from a zip packed again.
        Assert.Equal("v1", Read("j2", "s2"));
        Assert.True(Packed(spoiled));

        File.Delete(_flag);
        var (_, after) = await RunAsync("j3");
        Assert.True(Reused(after)); // the zip packed again in j2, not the one s1 spoiled
        Assert.Equal("v1", Read("j3", "s1"));
        Assert.Equal("v1", Read("j3", "s2"));
    }

    [Fact]
    public async Task Should_keep_the_zip_while_only_ignored_files_change_and_pack_again_for_an_added_or_removed_file()
    {
        _repo.Write(".gitignore", "*.tmp\n");
        await RunAsync("j1");
        _repo.Write("scratch.tmp", "ignored");
        var (_, ignored) = await RunAsync("j2");
        Assert.True(Reused(ignored), string.Join(Environment.NewLine, ignored.Lines));

        var added = _repo.Write("extra.py", "x = 1");
        var (_, withAdded) = await RunAsync("j3");
        Assert.True(Packed(withAdded));

        File.Delete(added);
        var (_, withRemoved) = await RunAsync("j4");
        Assert.True(Packed(withRemoved));
        var (_, again) = await RunAsync("j5");
        Assert.True(Reused(again));
    }
}
