using System.Globalization;
using System.Management.Automation;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;

namespace Rlabs.Pipelines;

/// <summary>
/// What Invoke- and Wait-RlabsPipelineRun report after a run, the same for both: one short error per failed
/// step (its log tail as readable lines before it), the CI host's annotations and summary, and JUnit XML.
/// </summary>
internal static partial class RunReport
{
    /// <summary>Reports a finished (or -NoWait started) run. Call after writing the run object.</summary>
    public static void Write(PSCmdlet cmdlet, RlabsPipelineRun run, string? junitPath)
    {
        var ci = CiHost.Current;
        if (ci is not null && run.Status is not RlabsRunStatus.Pending and not RlabsRunStatus.Running)
        {
            foreach (var line in ci.PublishSummary(MarkdownSummary(run), run.JobId))
            {
                WriteHost(cmdlet, line);
            }
        }
        if (junitPath is not null)
        {
            WriteJUnit(cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(junitPath), run);
        }
        foreach (var failed in run.Steps.Where(s => s.Status == RlabsRunStatus.Failed))
        {
            var message = ErrorMessage(run, failed);
            if (ci is not null)
            {
                WriteHost(cmdlet, ci.Error(message, $"Step '{failed.StepName}' failed"));
            }
            else if (failed.LogTail.Count > 0 && ErrorsAreShown(cmdlet))
            {
                // The error view flattens a multi-line message into one paragraph; a traceback stays readable
                // only as lines of its own, written before the error that refers to them.
                WriteHost(cmdlet, $"Last log lines of step '{failed.StepName}'{(failed.LogPath is null ? string.Empty : $" ({failed.LogPath})")}:");
                foreach (var line in failed.LogTail)
                {
                    WriteHost(cmdlet, "  " + line);
                }
            }
            var onSageMaker = failed.Runtime is "SageMaker" or "SageMakerPipelines";
            var errorId = onSageMaker ? "ProcessingJobFailed" : "StepFailed";
            var action = new StringBuilder("Fix the step's code script");
            action.Append(failed.Runtime == "SageMakerPipelines"
                ? $" and start a new job id, or retry this execution's failed steps as they are with -JobId {run.JobId} -Engine SageMakerPipelines -Resume."
                : onSageMaker ? $" and run again (add -JobId {run.JobId} -Resume to skip the completed steps)." : " and run again.");
            action.Append(failed.LogTail.Count > 0 ? " The last log lines are above and in the error's TargetObject.LogTail" : string.Empty);
            action.Append(failed.LogPath is null ? "." : $"; the full log is {failed.LogPath}.");
            cmdlet.WriteError(ErrorMapping.Record(new InvalidOperationException(message), errorId, ErrorCategory.InvalidResult, failed, action.ToString()));
        }
    }

    /// <summary>In CI, one annotation per diagnostic of a pipeline file, at its file, line and column.</summary>
    public static void Annotate(Cmdlet cmdlet, IEnumerable<RlabsPipelineDiagnostic> diagnostics)
    {
        if (CiHost.Current is not { } ci)
        {
            return;
        }
        foreach (var d in diagnostics)
        {
            var message = string.IsNullOrEmpty(d.Hint) ? d.Message : $"{d.Message} {d.Hint}";
            WriteHost(cmdlet, d.Severity == RlabsDiagnosticSeverity.Error
                ? ci.Error(message, d.RuleName, d.File, d.Line, d.Column)
                : ci.Warning(message, d.RuleName, d.File, d.Line, d.Column));
        }
    }

    /// <summary>One line: the step, the exit code, the traceback's last line (or the failure reason), the log.</summary>
    internal static string ErrorMessage(RlabsPipelineRun run, RlabsPipelineStepRun failed)
    {
        var message = new StringBuilder($"Step '{failed.StepName}' of pipeline '{run.PipelineName}' (job {run.JobId}) failed");
        // Exit code 0 with a failure is not the script's doing (its output could not be published): not named.
        message.Append(failed.ExitCode is { } code and not 0 ? $" with exit code {code}" : string.Empty).Append(": ");
        // The traceback's last line: stdout and stderr interleave (Python flushes a piped stdout only at exit),
        // so the last line that names an error wins over the last line printed.
        var lastLine = (failed.LogTail.LastOrDefault(l => ErrorLine().IsMatch(l)) ?? failed.LogTail.LastOrDefault(l => !string.IsNullOrWhiteSpace(l)))?.Trim();
        var reason = failed.FailureReason?.Trim();
        var generic = reason is null || ExitCodeReason().IsMatch(reason);
        if (generic && lastLine is not null)
        {
            message.Append(lastLine);
        }
        else
        {
            message.Append(reason ?? "no reason was reported");
            if (lastLine is not null && !reason!.Contains(lastLine, StringComparison.Ordinal))
            {
                message.Append(" Last log line: ").Append(lastLine);
            }
        }
        if (failed.LogPath is not null)
        {
            message.Append(" (log: ").Append(failed.LogPath).Append(')');
        }
        return message.ToString();
    }

    /// <summary>A Markdown table of the run's steps, for a CI host's job summary.</summary>
    internal static string MarkdownSummary(RlabsPipelineRun run)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"### Pipeline {Cell(run.PipelineName)}, job {Cell(run.JobId)}: {run.Status}").Append('\n').Append('\n');
        text.Append("| Step | Status | Duration | Job | Log |\n| --- | --- | --- | --- | --- |\n");
        foreach (var step in run.Steps)
        {
            var job = step.Runtime == "SageMaker" && run.Region is { } region
                ? $"[{Cell(step.JobName)}](https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/processing-jobs/{Uri.EscapeDataString(step.JobName)})"
                : Cell(step.JobName);
            var log = step.Runtime == "SageMaker" && run.Region is { } logRegion
                ? $"[CloudWatch](https://{logRegion}.console.aws.amazon.com/cloudwatch/home?region={logRegion}#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FProcessingJobs$3FlogStreamNameFilter$3D{Uri.EscapeDataString(step.JobName)})"
                : step.LogPath is null ? string.Empty : $"`{Cell(step.LogPath)}`";
            text.Append(CultureInfo.InvariantCulture, $"| {Cell(step.StepName)} | {step.Status} | {Duration(step.Duration)} | {job} | {log} |\n");
        }
        return text.Append('\n').ToString();
    }

    /// <summary>JUnit XML of a run, one test case per step, for the CI hosts' test tabs.</summary>
    internal static void WriteJUnit(string path, RlabsPipelineRun run)
    {
        var folder = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }
        // Written aside and renamed, so a test tab never reads half a file.
        var temporary = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using (var writer = XmlWriter.Create(temporary, new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) }))
        {
            var tests = run.Steps.Count.ToString(CultureInfo.InvariantCulture);
            var failures = run.Steps.Count(s => s.Status == RlabsRunStatus.Failed).ToString(CultureInfo.InvariantCulture);
            var errors = run.Steps.Count(s => s.Status == RlabsRunStatus.Stopped).ToString(CultureInfo.InvariantCulture);
            var skipped = run.Steps.Count(s => s.Status is RlabsRunStatus.Skipped or RlabsRunStatus.Pending or RlabsRunStatus.Running).ToString(CultureInfo.InvariantCulture);
            var time = Seconds(run.Duration);
            writer.WriteStartElement("testsuites");
            writer.WriteAttributeString("name", "Rlabs.Pipelines");
            writer.WriteAttributeString("tests", tests);
            writer.WriteAttributeString("failures", failures);
            writer.WriteAttributeString("errors", errors);
            writer.WriteAttributeString("skipped", skipped);
            writer.WriteAttributeString("time", time);
            writer.WriteStartElement("testsuite");
            writer.WriteAttributeString("name", $"{run.PipelineName} (job {run.JobId})");
            writer.WriteAttributeString("tests", tests);
            writer.WriteAttributeString("failures", failures);
            writer.WriteAttributeString("errors", errors);
            writer.WriteAttributeString("skipped", skipped);
            writer.WriteAttributeString("time", time);
            if (run.StartTime is { } start)
            {
                writer.WriteAttributeString("timestamp", start.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture));
            }
            foreach (var step in run.Steps)
            {
                writer.WriteStartElement("testcase");
                writer.WriteAttributeString("classname", run.PipelineName);
                writer.WriteAttributeString("name", step.StepName);
                writer.WriteAttributeString("time", Seconds(step.Duration));
                var outcome = step.Status switch
                {
                    RlabsRunStatus.Failed => "failure",
                    RlabsRunStatus.Stopped => "error",
                    RlabsRunStatus.Completed or RlabsRunStatus.Cached => null,
                    _ => "skipped",
                };
                if (outcome is not null)
                {
                    writer.WriteStartElement(outcome);
                    writer.WriteAttributeString("message", step.FailureReason ?? step.Status.ToString());
                    if (outcome != "skipped")
                    {
                        writer.WriteAttributeString("type", step.Runtime == "SageMaker" ? "ProcessingJobFailed" : "StepFailed");
                        writer.WriteString(string.Join('\n', step.LogTail));
                    }
                    writer.WriteEndElement();
                }
                if (step.LogPath is not null || step.JobName.Length > 0)
                {
                    writer.WriteElementString("system-out", $"job: {step.JobName}{(step.LogPath is null ? string.Empty : "\nlog: " + step.LogPath)}");
                }
                writer.WriteEndElement();
            }
            writer.WriteEndElement();
            writer.WriteEndElement();
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>A line for the host (Write-Host's stream): visible by default, never part of the output.</summary>
    internal static void WriteHost(Cmdlet cmdlet, string line) =>
        cmdlet.WriteInformation(new HostInformationMessage { Message = line }, ["PSHOST"]);

    // -ErrorAction SilentlyContinue/Ignore asks for quiet: no tail then either.
    private static bool ErrorsAreShown(PSCmdlet cmdlet)
    {
        var preference = cmdlet.MyInvocation.BoundParameters.TryGetValue("ErrorAction", out var bound) ? bound : cmdlet.GetVariableValue("ErrorActionPreference");
        return !(preference is ActionPreference.SilentlyContinue or ActionPreference.Ignore
            || string.Equals(preference?.ToString(), nameof(ActionPreference.SilentlyContinue), StringComparison.OrdinalIgnoreCase)
            || string.Equals(preference?.ToString(), nameof(ActionPreference.Ignore), StringComparison.OrdinalIgnoreCase));
    }

    private static string Cell(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string Duration(TimeSpan? duration) => duration is { } d
        ? d.TotalSeconds < 60 ? d.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s" : $"{(int)d.TotalMinutes}m{d.Seconds:00}s"
        : string.Empty;

    private static string Seconds(TimeSpan? duration) => (duration?.TotalSeconds ?? 0).ToString("0.000", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^The code script exited with code -?\d+\.?$")]
    private static partial Regex ExitCodeReason();

    // "ValueError: …", "pkg.CustomError: …", "[runner] ERROR: …", "SystemExit: 2", "KeyboardInterrupt".
    [GeneratedRegex(@"^\s*(\[[^\]]+\]\s+)?(ERROR\b|[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b)")]
    private static partial Regex ErrorLine();
}
