using System.Diagnostics;
using System.Globalization;
using System.Text;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Local;

/// <summary>Runs each step's code script as a local Python process in a workspace laid out like the SageMaker container.</summary>
internal sealed class LocalProcessRunner : IStepRunner
{
    private readonly LocalRunLayout _plan;

    /// <summary>Creates a runner for a prepared run (see <see cref="LocalRunLayout.Prepare"/>).</summary>
    public LocalProcessRunner(LocalRunLayout plan)
    {
        _plan = plan;
    }

    /// <inheritdoc/>
    public string RuntimeName => "Process";

    /// <inheritdoc/>
    public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var step = _plan.Steps[index];
        stepRun.Runtime = RuntimeName;
        stepRun.Command = step.Command;
        if (_plan.PythonProblem is { } noPython)
        {
            return new StepOutcome(RlabsRunStatus.Failed, noPython, []);
        }
        reporter.Verbose($"[{step.Step.Name}] runtime Process: {_plan.Python}");
        var linkedInput = new List<string>();
        if (LocalWorkspace.Stage(_plan, step, linkedInput) is { } problem)
        {
            return new StepOutcome(RlabsRunStatus.Failed, problem, []);
        }
        StepOutcome outcome;
        using (var guard = LocalWorkspace.ReadOnlyWhileRunning(linkedInput))
        {
            outcome = await RunProcessAsync(step, stepRun, reporter, cancellationToken).ConfigureAwait(false);
            if (guard.Written() is [_, ..] written)
            {
                return new StepOutcome(
                    RlabsRunStatus.Failed,
                    $"The input data of step '{step.Step.Name}' changed while it ran: {string.Join(", ", written.Take(5))}{(written.Count > 5 ? ", …" : string.Empty)} in the data root. A step's input is linked, not copied, and read-only: a step that writes into its input changes the data root. Write new files to the output instead, then run the step that produced the input again.",
                    outcome.LogTail);
            }
        }
        if (outcome.Status == RlabsRunStatus.Completed)
        {
            if (LocalWorkspace.PublishOutput(step.Step.Name, step.Paths.OutputDataPath, step.OutputDestination, out var published) is { } refused)
            {
                return new StepOutcome(RlabsRunStatus.Failed, refused, outcome.LogTail);
            }
            reporter.Verbose($"[{step.Step.Name}] output: {published} file(s) in {step.OutputDestination}");
        }
        return outcome;
    }

    private static async Task<StepOutcome> RunProcessAsync(LocalStepLayout step, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        // Through the guard: the step (and whatever it starts) dies with this process, however this one ends.
        // The interpreter is the one resolved once per run (a pyenv shim's real python), the rest as planned.
        IReadOnlyList<string> command = [step.Interpreter, .. step.Command.Skip(1)];
        var info = StepProcessGuard.StartInfo(command);
        info.WorkingDirectory = step.StepDirectory;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.StandardOutputEncoding = Encoding.UTF8;
        info.StandardErrorEncoding = Encoding.UTF8;
        foreach (var (name, value) in step.Environment)
        {
            info.Environment[name] = value;
        }

        using var log = new StepLog(step.LogPath, step.Step.Name, reporter);
        log.Note($"# {DateTimeOffset.Now:O} {CommandLine.Format(step.Command)}");
        using var timeout = new CancellationTokenSource(step.MaxRuntime);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var process = new Process { StartInfo = info };
        StepProcessGuard guard;
        try
        {
            guard = StepProcessGuard.Start(process, command);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new StepOutcome(RlabsRunStatus.Failed, $"Could not start '{step.Command[0]}': {ex.Message}", []) { Kind = RlabsFailureKind.Internal };
        }
        using var _ = guard;
        var stdout = PumpAsync(process.StandardOutput, log.Line);
        var stderr = PumpAsync(process.StandardError, log.Line);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            guard.Release();
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            log.Note(timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested ? "# killed: max_runtime exceeded" : "# killed: stopped by the user");
            var lines = log.Tail;
            stepRun.ExitCode = process.HasExited ? process.ExitCode : null;
            if (cancellationToken.IsCancellationRequested)
            {
                return new StepOutcome(RlabsRunStatus.Stopped, "Stopped by the user; the step's processes were killed.", lines);
            }
            return new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture, $"The step ran longer than its max_runtime ({step.MaxRuntime}) and was killed."), lines) { Kind = RlabsFailureKind.Timeout };
        }
        stepRun.ExitCode = process.ExitCode;
        log.Note($"# exit code {process.ExitCode}");
        var last = log.Tail;
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
}
