using System.Diagnostics;
using System.Globalization;
using System.Text;
using Rlabs.Pipelines.Planning;

namespace Rlabs.Pipelines.Running;

/// <summary>Runs each step's code script as a local Python process in a workspace laid out like the SageMaker container.</summary>
public sealed class LocalProcessRunner : IStepRunner
{
    private const int TailLines = 20;
    private readonly LocalRunPlan _plan;

    /// <summary>Creates a runner for a prepared plan (see <see cref="LocalRunPlanner.Prepare"/>).</summary>
    public LocalProcessRunner(LocalRunPlan plan)
    {
        _plan = plan;
    }

    /// <inheritdoc/>
    public string RuntimeName => "Process";

    /// <inheritdoc/>
    public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var step = _plan.Steps[index];
        if (StageWorkspace(step) is { } problem)
        {
            return new StepOutcome(RlabsRunStatus.Failed, problem, []);
        }
        var outcome = await RunProcessAsync(step, stepRun, reporter, cancellationToken).ConfigureAwait(false);
        if (outcome.Status == RlabsRunStatus.Completed)
        {
            var published = PublishOutput(step.Paths.OutputDataPath, step.OutputDestination);
            reporter.Verbose($"[{step.Step.Name}] output: {published} file(s) in {step.OutputDestination}");
        }
        return outcome;
    }

    /// <summary>Lays out input/code, input/requirements, input/data and output; null when ready, else why not.</summary>
    private string? StageWorkspace(LocalStepPlan step)
    {
        var repository = _plan.Request.Pipeline.RepositoryPath;
        if (Directory.Exists(step.StepDirectory))
        {
            Directory.Delete(step.StepDirectory, recursive: true); // a re-run of the same job id starts clean
        }
        var code = Path.Combine(repository, step.Step.Code);
        if (!File.Exists(code))
        {
            return $"The code script '{step.Step.Code}' does not exist in {repository}.";
        }
        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.CodeFile)!);
        File.Copy(code, step.Paths.CodeFile);

        Directory.CreateDirectory(Path.GetDirectoryName(step.Paths.RequirementsPath)!);
        var requirements = Path.Combine(repository, step.Step.Requirements ?? StepContract.RequirementsName);
        if (File.Exists(requirements))
        {
            File.Copy(requirements, step.Paths.RequirementsPath);
        }
        else if (step.Step.Requirements is not null)
        {
            return $"The requirements file '{step.Step.Requirements}' does not exist in {repository}.";
        }
        else
        {
            File.WriteAllText(step.Paths.RequirementsPath, string.Empty);
        }

        if (step.InputSource is { } input)
        {
            var dataFolder = Path.Combine(step.StepDirectory, StepContract.DataFolder);
            Directory.CreateDirectory(dataFolder);
            if (Directory.Exists(input))
            {
                CopyTree(input, dataFolder);
            }
            else if (File.Exists(input))
            {
                File.Copy(input, Path.Combine(dataFolder, Path.GetFileName(input)));
            }
            else
            {
                return $"The input data '{step.Step.InputData}' was not found at {input}. It is resolved against the data root ({_plan.DataRoot}): an earlier step must write it (output lands in <output_path>/<job_id>/), or place it there before the run.";
            }
        }
        Directory.CreateDirectory(step.Paths.OutputDataPath);
        return null;
    }

    private static async Task<StepOutcome> RunProcessAsync(LocalStepPlan step, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(step.Command[0])
        {
            WorkingDirectory = step.StepDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in step.Command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in step.Environment)
        {
            info.Environment[name] = value;
        }

        var tail = new Queue<string>(TailLines);
        using var log = new StreamWriter(step.LogPath, append: false, new UTF8Encoding(false)) { AutoFlush = true };
        var gate = new object();
        void Line(string line)
        {
            lock (gate)
            {
                log.WriteLine(line);
                if (tail.Count == TailLines)
                {
                    tail.Dequeue();
                }
                tail.Enqueue(line);
            }
            reporter.Verbose($"[{step.Step.Name}] {line}");
        }

        log.WriteLine($"# {DateTimeOffset.Now:O} {CommandLine.Format(step.Command)}");
        using var timeout = step.Step.MaxRuntime is { } limit ? new CancellationTokenSource(limit) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new StepOutcome(RlabsRunStatus.Failed, $"Could not start '{step.Command[0]}': {ex.Message}", []);
        }
        process.StandardInput.Close(); // a script waiting for input would otherwise hang the run
        var stdout = PumpAsync(process.StandardOutput, Line);
        var stderr = PumpAsync(process.StandardError, Line);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            string[] lines;
            lock (gate)
            {
                log.WriteLine(timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested ? "# killed: max_runtime exceeded" : "# killed: stopped by the user");
                lines = [.. tail];
            }
            stepRun.ExitCode = process.HasExited ? process.ExitCode : null;
            if (cancellationToken.IsCancellationRequested)
            {
                return new StepOutcome(RlabsRunStatus.Stopped, "Stopped by the user; the step's processes were killed.", lines);
            }
            return new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture, $"The step ran longer than its max_runtime ({step.Step.MaxRuntime}) and was killed."), lines);
        }
        stepRun.ExitCode = process.ExitCode;
        string[] last;
        lock (gate)
        {
            log.WriteLine($"# exit code {process.ExitCode}");
            last = [.. tail];
        }
        return process.ExitCode == 0
            ? StepOutcome.Completed
            : new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture, $"The code script exited with code {process.ExitCode}."), last);
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> onLine)
    {
        while (await reader.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
        {
            onLine(line);
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited on its own meanwhile.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exited on its own meanwhile, or a child is already gone.
        }
    }

    private static void CopyTree(string source, string destination)
    {
        foreach (var directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        }
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(destination, Path.GetRelativePath(source, file)), overwrite: true);
        }
    }

    /// <summary>Moves the step's output into the data root, merging with what earlier steps wrote there.</summary>
    private static int PublishOutput(string output, string destination)
    {
        Directory.CreateDirectory(destination);
        var count = 0;
        foreach (var file in Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(output, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(file, target, overwrite: true);
            count++;
        }
        return count;
    }
}
