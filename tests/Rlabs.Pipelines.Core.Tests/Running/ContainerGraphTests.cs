using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>The step graph and retries of the one engine, with each step in a container of the test engine.</summary>
[Collection(ContainerEngineTests.Name)]
[Trait("Tier", "Container")]
public sealed class ContainerGraphTests : IDisposable
{
    private readonly TempRepository _repo = new();

    public ContainerGraphTests()
    {
        _repo.Write("probe.py", GraphProbe.Script);
    }

    public void Dispose() => _repo.Dispose();

    private RunRequest Request(string yaml)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", $"image: \"{TestEngine.Image}\"\n" + yaml), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return LocalRuns.Request(result.Pipeline!, "job", RlabsLocalRuntime.Container);
    }

    private static GraphProbe.Record Record(string dataRoot, string folder, string step) =>
        GraphProbe.Read(File.ReadAllBytes(Path.Combine(dataRoot, folder, "job", step + ".json")));

    [SkippableFact]
    public async Task Should_run_independent_steps_in_containers_at_the_same_time()
    {
        await TestEngine.RequireAsync();
        // Containers share no folder for a rendezvous: b and c each sleep long enough that, run side by side, they overlap.
        var (run, layout) = await LocalRuns.RunAsync(Request(GraphProbe.Diamond("sleep: \"4\"")), NullRunReporter.Instance);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var b = Record(layout.DataRoot, "mid", "b");
        var c = Record(layout.DataRoot, "mid", "c");
        var d = Record(layout.DataRoot, "d", "d");
        Assert.True(GraphProbe.Overlap(b, c), $"b ran {b.Start}-{b.End}, c ran {c.Start}-{c.End}: not at the same time");
        Assert.True(Math.Max(b.End, c.End) <= d.Start);
        Assert.Equal(["b.json", "c.json"], d.Inputs);
        Assert.All(run.Steps, s => Assert.Equal("Container", s.Runtime));
        // The input mounted read-only into b's container is staged as hard links, not copies.
        var staged = new FileInfo(Path.Combine(_repo.Root, ".rlabs", "runs", "job", "b", "input", "data", "a.json"));
        var original = new FileInfo(Path.Combine(layout.DataRoot, "a", "job", "a.json"));
        Assert.True(staged.Exists);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(Inode(original.FullName), Inode(staged.FullName));
        }
    }

    private static string Inode(string path)
    {
        var info = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return output;
    }

    [SkippableFact]
    public async Task Should_retry_a_container_step_that_asks_to_try_again()
    {
        await TestEngine.RequireAsync();
        var gate = Path.Combine(_repo.Root, ".rlabs", "data", "gate", "job");
        Directory.CreateDirectory(gate);
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
        var (run, layout) = await LocalRuns.RunAsync(Request(GraphProbe.TryAgain()), reporter);

        Assert.True(run.Status == RlabsRunStatus.Completed, GraphProbe.Describe(run));
        var attempts = run.Steps[0].Attempts;
        Assert.Equal(2, attempts.Count);
        Assert.Equal(75, attempts[0].ExitCode);
        Assert.Equal(RlabsRunStatus.Completed, attempts[1].Status);
        Assert.Equal(["ready"], Record(layout.DataRoot, "out", "wait").Inputs);
    }

    [SkippableFact]
    public async Task Should_reuse_a_cached_container_steps_output_without_starting_a_container()
    {
        await TestEngine.RequireAsync();
        const string Yaml = """
            cache: true
            pipeline:
              - { name: a, job_suffix: A, code: probe.py, output_path: a }
              - { name: b, job_suffix: B, code: probe.py, input_data: "a/<job_id>", output_path: b }
            """;
        var (first, layout) = await LocalRuns.RunAsync(Request(Yaml), NullRunReporter.Instance);
        Assert.True(first.Status == RlabsRunStatus.Completed, GraphProbe.Describe(first));
        var request = Request(Yaml);
        var reporter = new RecordingReporter();
        var (second, _) = await LocalRuns.RunAsync(new RunRequest { Pipeline = request.Pipeline, JobId = "job2", InstanceType = request.InstanceType, Local = request.Local }, reporter);

        Assert.True(second.Status == RlabsRunStatus.Completed, GraphProbe.Describe(second));
        Assert.Equal(["job", "job"], second.Steps.Select(s => s.CachedFrom));
        Assert.DoesNotContain(reporter.Lines, l => l.Contains("runtime Container", StringComparison.Ordinal));
        Assert.Equal(Record(layout.DataRoot, "b", "b").Start, GraphProbe.Read(File.ReadAllBytes(Path.Combine(layout.DataRoot, "b", "job2", "b.json"))).Start);
    }
}
