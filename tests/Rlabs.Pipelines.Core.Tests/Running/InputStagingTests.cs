using System.Globalization;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>
/// A process step's input is staged as hard links to the data root's files (no bytes copied), kept read-only while
/// the step runs, and a step that writes through its link all the same (root ignores modes) fails with the files.
/// </summary>
public sealed class InputStagingTests : IDisposable
{
    // 'make' writes a data file; 'read' reports how its input file is linked and whether it may write it, and
    // with --spoil 1 appends to it.
    private const string Script = """
        import argparse, json, os, stat
        p = argparse.ArgumentParser()
        for a in ('--job-id', '--input-data-path', '--output-data-path', '--source-code-zip', '--requirements-path', '--role', '--spoil'):
            p.add_argument(a)
        args = p.parse_args()
        os.makedirs(args.output_data_path, exist_ok=True)
        if args.role == 'make':
            os.makedirs(os.path.join(args.output_data_path, 'nested'), exist_ok=True)
            open(os.path.join(args.output_data_path, 'nested', 'data.bin'), 'wb').write(b'x' * 100000)
        else:
            data = os.path.join(args.input_data_path, 'nested', 'data.bin')
            st = os.stat(data)
            seen = {'links': st.st_nlink, 'writable': bool(st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)), 'size': st.st_size}
            open(os.path.join(args.output_data_path, 'seen-' + args.role + '.json'), 'w').write(json.dumps(seen))
            if args.spoil == '1':
                with open(data, 'ab') as f:
                    f.write(b'spoiled')
        """;

    private readonly TempRepository _repo = new();

    public InputStagingTests()
    {
        _repo.Write("step.py", Script);
    }

    public void Dispose() => _repo.Dispose();

    private async Task<(RlabsPipelineRun Run, RecordingReporter Reporter)> RunAsync(string spoil)
    {
        var yaml = _repo.Write("pipeline.yaml", $$"""
            pipeline:
              - { name: make, job_suffix: Make, code: step.py, output_path: made, params: { role: make, spoil: "0" } }
              - { name: left, job_suffix: Left, code: step.py, input_data: "made/<job_id>", output_path: left, depends_on: [make], params: { role: left, spoil: "{{spoil}}" } }
              - { name: right, job_suffix: Right, code: step.py, input_data: "made/<job_id>", output_path: right, depends_on: [make], params: { role: right, spoil: "0" } }
            """);
        var result = PipelineConfigReader.Read(yaml, _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        var reporter = new RecordingReporter();
        var (run, _) = await LocalRuns.RunAsync(LocalRuns.Request(result.Pipeline!, "j1"), reporter);
        return (run, reporter);
    }

    private string Data => Path.Combine(_repo.Root, ".rlabs", "data", "made", "j1", "nested", "data.bin");

    [Fact]
    public async Task Should_link_the_input_and_keep_it_read_only_while_the_steps_run()
    {
        var (run, _) = await RunAsync(spoil: "0");
        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        foreach (var side in new[] { "left", "right" })
        {
            var seen = File.ReadAllText(Path.Combine(_repo.Root, ".rlabs", "data", side, "j1", $"seen-{side}.json"));
            Assert.Contains("\"writable\": false", seen, StringComparison.Ordinal);
            Assert.Contains("\"size\": 100000", seen, StringComparison.Ordinal);
            // The data root's file and the step's name for it, at least: one inode, no copy.
            var links = int.Parse(seen.Split("\"links\": ")[1].Split(',')[0], CultureInfo.InvariantCulture);
            Assert.True(links >= 2, seen);
        }
        if (!OperatingSystem.IsWindows())
        {
            // Given back its mode once the last step reading it was done.
            Assert.True((File.GetUnixFileMode(Data) & UnixFileMode.UserWrite) != 0);
        }
    }

    [Fact]
    public async Task Should_fail_a_step_that_wrote_into_its_input_and_name_the_file()
    {
        var (run, _) = await RunAsync(spoil: "1");
        var left = run.Steps.Single(s => s.StepName == "left");
        var right = run.Steps.Single(s => s.StepName == "right");
        Assert.Equal(RlabsRunStatus.Failed, run.Status);
        if (!OperatingSystem.IsWindows() && Environment.UserName == "root")
        {
            // The mode did not stop it: the change is found after the step.
            Assert.Contains("The input data of step 'left' changed while it ran", left.FailureReason, StringComparison.Ordinal);
            Assert.Contains(Data, left.FailureReason, StringComparison.Ordinal);
        }
        else
        {
            // The mode stopped it: the script failed on its write, the data root's file is as it was.
            Assert.Equal(100000, new FileInfo(Data).Length);
            Assert.Contains("exited with code", left.FailureReason, StringComparison.Ordinal);
        }
        // 'right' read the same file; it completed, or (when it ran while 'left' wrote) failed for its changed input.
        Assert.True(right.Status == RlabsRunStatus.Completed || right.FailureReason!.Contains("The input data of step 'right' changed", StringComparison.Ordinal), right.FailureReason);
        if (!OperatingSystem.IsWindows())
        {
            Assert.True((File.GetUnixFileMode(Data) & UnixFileMode.UserWrite) != 0);
        }
    }
}
