using System.Diagnostics;
using Rlabs.Pipelines.Config;
using Rlabs.Pipelines.Local;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>
/// Publishing a local step's output into the data root: atomic (a full disk never leaves a truncated file) and,
/// when it fails, reported as a publishing failure of a script that succeeded. A real small tmpfs where this
/// test runs as root on Linux, the move seam everywhere.
/// </summary>
public sealed class PublishTests : IDisposable
{
    // Writes a small file and a big one (more than the 64 KiB data root holds), then succeeds.
    private const string StepScript = """
        import argparse, os
        p = argparse.ArgumentParser()
        p.add_argument('-j', '--job-id', required=True)
        p.add_argument('-ip', '--input-data-path')
        p.add_argument('-o', '--output-data-path', required=True)
        p.add_argument('-s', '--source-code-zip', required=True)
        p.add_argument('-r', '--requirements-path', required=True)
        args, _ = p.parse_known_args()
        os.makedirs(os.path.join(args.output_data_path, 'sub'), exist_ok=True)
        with open(os.path.join(args.output_data_path, 'a-small.txt'), 'w') as f:
            f.write('small')
        with open(os.path.join(args.output_data_path, 'sub', 'z-big.bin'), 'wb') as f:
            f.write(os.urandom(200000))
        print('wrote the output', flush=True)
        """;

    private readonly TempRepository _repo = new();
    private readonly List<string> _mounts = [];

    public PublishTests()
    {
        _repo.Write("step.py", StepScript);
    }

    public void Dispose()
    {
        foreach (var mount in _mounts)
        {
            Run("umount", mount);
        }
        _repo.Dispose();
    }

    private RunRequest Request(string jobId, string dataRoot)
    {
        var result = PipelineConfigReader.Read(_repo.Write("pipeline.yaml", "pipeline:\n  - { name: write, job_suffix: W, code: step.py, output_path: out }\n"), _repo.Root);
        Assert.False(result.HasErrors, string.Join(Environment.NewLine, result.Diagnostics));
        return new RunRequest
        {
            Pipeline = result.Pipeline!,
            JobId = jobId,
            InstanceType = InstanceTypes.Local,
            Local = new LocalRunOptions { Runtime = RlabsLocalRuntime.Process, DataRoot = dataRoot },
        };
    }

    /// <summary>A tmpfs of <paramref name="options"/> at a new folder, or null (and why) where none can be mounted.</summary>
    private string? Mount(string options, out string? problem)
    {
        problem = !OperatingSystem.IsLinux() ? "not Linux" : Environment.UserName != "root" ? "not root" : null;
        if (problem is not null)
        {
            return null;
        }
        var folder = Path.Combine(_repo.Root + "-mnt-" + _mounts.Count);
        Directory.CreateDirectory(folder);
        var (code, output) = Run("mount", "-t", "tmpfs", "-o", options, "tmpfs", folder);
        if (code != 0)
        {
            problem = "mount failed: " + output;
            return null;
        }
        _mounts.Add(folder);
        return folder;
    }

    private static (int Code, string Output) Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    // The data files under a folder; the engine's own run index (.rlabs-index/, what -Resume reads) is not data.
    private static List<string> FilesUnder(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f))
                .Where(f => !f.StartsWith(".rlabs-index" + Path.DirectorySeparatorChar, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()
            : [];

    [SkippableFact]
    public async Task Should_publish_nothing_partial_to_a_full_disk_and_say_that_publishing_failed()
    {
        var dataRoot = Mount("size=64k", out var problem);
        Skip.If(dataRoot is null, $"no small tmpfs for the data root: {problem}; the seam test covers the same path");

        var (run, layout) = await LocalRuns.RunAsync(Request("full1", dataRoot!), NullRunReporter.Instance);

        var step = run.Steps[0];
        Assert.Equal(RlabsRunStatus.Failed, step.Status);
        Assert.Equal(0, step.ExitCode);
        Assert.Contains("its code script succeeded, but publishing its output to", step.FailureReason, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(dataRoot!, "out", "full1"), step.FailureReason, StringComparison.Ordinal);
        Assert.Contains("Nothing of it was published", step.FailureReason, StringComparison.Ordinal);
        Assert.Empty(FilesUnder(dataRoot!)); // not the small file, not 64 KiB of the big one, no temporary file
        var output = Path.Combine(layout.RunDirectory, "write", "output");
        Assert.Equal(["a-small.txt", Path.Combine("sub", "z-big.bin")], FilesUnder(output));
        Assert.Equal(200000, new FileInfo(Path.Combine(output, "sub", "z-big.bin")).Length);
    }

    [Fact]
    public async Task Should_leave_no_truncated_file_when_a_move_fails_part_way()
    {
        var dataRoot = Path.Combine(_repo.Root, "data-root");
        // The seam fails as a copy to a full disk does: part of the file written, then ENOSPC.
        LocalWorkspace.MoveOverride.Value = static (from, to) =>
        {
            if (from.EndsWith("z-big.bin", StringComparison.Ordinal))
            {
                using (var partial = File.Create(to))
                {
                    partial.Write(new byte[4096]);
                }
                throw new IOException("No space left on device : '" + to + "'");
            }
            File.Move(from, to, overwrite: true);
        };
        try
        {
            var (run, layout) = await LocalRuns.RunAsync(Request("full2", dataRoot), NullRunReporter.Instance);

            var step = run.Steps[0];
            Assert.Equal(RlabsRunStatus.Failed, step.Status);
            Assert.StartsWith("Step 'write': its code script succeeded, but publishing its output to " + Path.Combine(dataRoot, "out", "full2") + " failed: No space left on device", step.FailureReason, StringComparison.Ordinal);
            Assert.Empty(FilesUnder(dataRoot));
            Assert.Equal(["a-small.txt", Path.Combine("sub", "z-big.bin")], FilesUnder(Path.Combine(layout.RunDirectory, "write", "output")));
        }
        finally
        {
            LocalWorkspace.MoveOverride.Value = null;
        }
    }

    [Fact]
    public async Task Should_publish_every_file_under_its_own_name_and_leave_no_temporary_file()
    {
        var dataRoot = Path.Combine(_repo.Root, "data-root");
        Directory.CreateDirectory(Path.Combine(dataRoot, "out", "ok1", "sub"));
        File.WriteAllText(Path.Combine(dataRoot, "out", "ok1", "sub", "z-big.bin"), "older");

        var (run, _) = await LocalRuns.RunAsync(Request("ok1", dataRoot), NullRunReporter.Instance);

        Assert.Equal(RlabsRunStatus.Completed, run.Status);
        Assert.Equal([Path.Combine("out", "ok1", "a-small.txt"), Path.Combine("out", "ok1", "sub", "z-big.bin")], FilesUnder(dataRoot));
        Assert.Equal(200000, new FileInfo(Path.Combine(dataRoot, "out", "ok1", "sub", "z-big.bin")).Length);
    }

    [SkippableFact]
    public async Task Should_fail_with_a_clear_error_when_the_data_root_is_read_only()
    {
        string dataRoot;
        if (Mount("ro,size=64k", out var problem) is { } readOnly)
        {
            dataRoot = readOnly;
        }
        else if (!OperatingSystem.IsWindows() && Environment.UserName != "root")
        {
            dataRoot = Path.Combine(_repo.Root, "read-only");
            Directory.CreateDirectory(dataRoot);
            File.SetUnixFileMode(dataRoot, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }
        else
        {
            throw new SkipException($"no read-only data root can be made here: {problem}");
        }

        var (run, _) = await LocalRuns.RunAsync(Request("ro1", dataRoot), NullRunReporter.Instance);

        var step = run.Steps[0];
        Assert.Equal(RlabsRunStatus.Failed, step.Status);
        Assert.Contains($"publishing its output to {Path.Combine(dataRoot, "out", "ro1")} failed", step.FailureReason, StringComparison.Ordinal);
        Assert.Matches("Read-only file system|Access to the path .* is denied", step.FailureReason);
        Assert.Empty(FilesUnder(dataRoot));
    }
}
