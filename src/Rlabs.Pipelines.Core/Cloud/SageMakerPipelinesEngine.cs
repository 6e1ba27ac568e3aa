using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>
/// Runs that SageMaker Pipelines drives server-side: upsert the pipeline, start, read, follow, stop and retry an
/// execution. The run manifest (next to the data in S3) records the pipeline and the execution ARN, so any
/// process can read or follow the run after the one that started it is gone.
/// </summary>
public static partial class SageMakerPipelinesEngine
{
    /// <summary>The engine's name in run manifests and run objects.</summary>
    public const string Name = "SageMakerPipelines";

    /// <summary>What IAM must allow, said wherever a call fails for want of it.</summary>
    public const string RoleAdvice = "The role (role_arn or -RoleArn) must trust sagemaker.amazonaws.com and may create processing jobs, read and write the run's bucket and pass itself (iam:PassRole); see about_Rlabs_CloudEngines.";

    /// <summary>The ClientRequestToken of a job id's start: a retried start returns the execution it already started.</summary>
    public static string StartToken(string pipelineName, string jobId) => Token("start", pipelineName, jobId);

    /// <summary>Creates the pipeline, or updates it when its recorded definition hash (or role) differs; returns its ARN.</summary>
    public static async Task<string> UpsertAsync(SageMakerClient sageMaker, CompiledPipelineDefinition compiled, string roleArn, IReadOnlyList<AwsTag> tags, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sageMaker);
        ArgumentNullException.ThrowIfNull(compiled);
        ArgumentNullException.ThrowIfNull(reporter);
        try
        {
            var existing = await DescribeOrNullAsync(sageMaker, compiled.PipelineName, cancellationToken).ConfigureAwait(false);
            if (existing is null)
            {
                try
                {
                    var created = await sageMaker.CreatePipelineAsync(new CreatePipelineRequest
                    {
                        PipelineName = compiled.PipelineName,
                        PipelineDisplayName = compiled.PipelineName,
                        PipelineDefinition = compiled.Json,
                        PipelineDescription = compiled.Description,
                        RoleArn = roleArn,
                        Tags = tags,
                        // The same definition creates the pipeline once, however often the call is retried.
                        ClientRequestToken = Token("create", compiled.PipelineName, compiled.Hash),
                    }, cancellationToken).ConfigureAwait(false);
                    reporter.Verbose($"Created SageMaker pipeline {compiled.PipelineName} (definition sha256 {compiled.Hash[..12]}).");
                    return created.PipelineArn;
                }
                catch (AwsServiceException ex) when (ex.ErrorCode is "ResourceInUse" or "ConflictException" || (ex.Kind == AwsErrorKind.Validation && ex.AwsMessage.Contains("already exists", StringComparison.OrdinalIgnoreCase)))
                {
                    // Another run created it meanwhile: compare with what it wrote.
                    existing = await DescribeOrNullAsync(sageMaker, compiled.PipelineName, cancellationToken).ConfigureAwait(false);
                    if (existing is null)
                    {
                        throw;
                    }
                }
            }
            if (CompiledPipelineDefinition.HashOf(existing.PipelineDescription) == compiled.Hash && existing.RoleArn == roleArn)
            {
                reporter.Verbose($"SageMaker pipeline {compiled.PipelineName} is up to date (definition sha256 {compiled.Hash[..12]}); not updated.");
                return existing.PipelineArn;
            }
            var updated = await sageMaker.UpdatePipelineAsync(new UpdatePipelineRequest
            {
                PipelineName = compiled.PipelineName,
                PipelineDefinition = compiled.Json,
                PipelineDescription = compiled.Description,
                RoleArn = roleArn,
            }, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Updated SageMaker pipeline {compiled.PipelineName}: its definition changed (sha256 {compiled.Hash[..12]}).");
            return updated.PipelineArn;
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.AccessDenied || (ex.Kind == AwsErrorKind.Validation && ex.AwsMessage.Contains("role", StringComparison.OrdinalIgnoreCase)))
        {
            throw new RlabsRunException($"SageMaker refused the pipeline {compiled.PipelineName} with role {roleArn}: {ex.AwsMessage} {RoleAdvice}",
                "PipelineRoleRefused", RlabsRunErrorKind.InvalidArgument, roleArn, ex);
        }
    }

    /// <summary>
    /// Starts the run's execution (idempotent per job id and selection) and records its ARN in the manifest;
    /// <paramref name="selective"/> runs only its selected steps.
    /// </summary>
    public static async Task<string> StartAsync(CloudRunService service, CloudRunManifest manifest, SelectiveExecutionConfig? selective, IRunReporter reporter, CancellationToken cancellationToken) =>
        await StartAsync(service, manifest, selective, null, reporter, cancellationToken).ConfigureAwait(false);

    /// <summary>The ClientRequestToken of a -Resume's selective execution: the job id and the attempt, so a retried call starts it once.</summary>
    public static string ResumeToken(string pipelineName, string jobId, int attempt) => Token("resume", pipelineName, $"{jobId}\n{attempt.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>Starts the run's execution with the given ClientRequestToken (null: derived from the job id and selection).</summary>
    internal static async Task<string> StartAsync(CloudRunService service, CloudRunManifest manifest, SelectiveExecutionConfig? selective, string? clientRequestToken, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(reporter);
        var pipelineName = manifest.SageMakerPipelineName ?? throw new InvalidOperationException("The manifest names no SageMaker pipeline.");
        var started = await service.SageMaker.StartPipelineExecutionAsync(new StartPipelineExecutionRequest
        {
            PipelineName = pipelineName,
            PipelineExecutionDisplayName = manifest.JobId,
            PipelineExecutionDescription = $"Rlabs.Pipelines run {manifest.JobId} of {manifest.ProjectName}/{manifest.PipelineName}",
            PipelineParameters = [new PipelineParameter { Name = PipelineDefinitionCompiler.JobIdParameter, Value = manifest.JobId }],
            // A selective execution of a job id that already ran (a -Step rerun) is a new start: its token covers the
            // selection and the source, so retrying the call starts it once and a later rerun starts anew.
            ClientRequestToken = clientRequestToken ?? (selective is null
                ? StartToken(pipelineName, manifest.JobId)
                : Token("start", pipelineName, $"{manifest.JobId}\n{string.Join(',', selective.SelectedSteps.Select(s => s.StepName))}\n{selective.SourcePipelineExecutionArn}")),
            SelectiveExecutionConfig = selective,
        }, cancellationToken).ConfigureAwait(false);
        manifest.PipelineExecutionArn = started.PipelineExecutionArn;
        reporter.Verbose($"Started execution {started.PipelineExecutionArn} of SageMaker pipeline {pipelineName} (JobId={manifest.JobId}).");
        await service.SaveAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        return started.PipelineExecutionArn;
    }

    /// <summary>
    /// -Resume: retries a Failed or Stopped execution under its ARN (only its failed and stopped steps run again);
    /// false when the run has no execution (its start never happened).
    /// </summary>
    public static async Task<bool> RetryAsync(CloudRunService service, CloudRunManifest manifest, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(reporter);
        var arn = await ExecutionArnAsync(service, manifest, cancellationToken).ConfigureAwait(false);
        if (arn is null)
        {
            return false;
        }
        var execution = await service.SageMaker.DescribePipelineExecutionAsync(arn, cancellationToken).ConfigureAwait(false);
        if (execution.PipelineExecutionStatus is "Failed" or "Stopped")
        {
            // One token per failed state of the execution: a retried call retries once.
            var token = Token("retry", arn, execution.LastModifiedTime?.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) ?? "-");
            await service.SageMaker.RetryPipelineExecutionAsync(arn, token, null, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"-Resume: retrying execution {arn}; its failed and stopped steps run again, the others keep their results.");
        }
        else
        {
            reporter.Verbose($"-Resume: execution {arn} is {execution.PipelineExecutionStatus}; nothing to retry.");
        }
        return true;
    }

    /// <summary>
    /// The execution a -Resume of a changed definition starts from, and the steps that succeeded in it; throws
    /// ResumeSourceMissing when it cannot be the source of a selective execution (gone, or neither Succeeded nor
    /// Failed, as SageMaker requires).
    /// </summary>
    internal static async Task<(string Status, HashSet<string> Succeeded)> ResumeSourceAsync(CloudRunService service, CloudRunManifest manifest, string arn, CancellationToken cancellationToken)
    {
        DescribePipelineExecutionResponse execution;
        try
        {
            execution = await service.SageMaker.DescribePipelineExecutionAsync(arn, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            throw new RlabsRunException($"Run {manifest.JobId} cannot be resumed: its execution {arn} is gone, and a changed pipeline resumes as a selective execution from it. Start the run again under a new job id (or rerun its steps with -FromStep <step> -ReferenceJobId {manifest.JobId}).",
                "ResumeSourceMissing", RlabsRunErrorKind.NotFound, arn, ex);
        }
        var steps = await service.SageMaker.ListAllPipelineExecutionStepsAsync(arn, "Ascending", cancellationToken).ConfigureAwait(false);
        var succeeded = steps.Where(s => s.StepStatus == "Succeeded").Select(s => s.StepName).ToHashSet(StringComparer.Ordinal);
        return (execution.PipelineExecutionStatus ?? string.Empty, succeeded);
    }

    /// <summary>
    /// A client-driven -Resume of a run SageMaker Pipelines drove would run its steps again as new jobs (and
    /// overwrite its manifest): refused, naming the engine that resumes it.
    /// </summary>
    internal static async Task RefuseClientResumeAsync(CloudRunService service, CloudRunPlan plan, CancellationToken cancellationToken)
    {
        if (plan.BucketOwner is { } owner)
        {
            service.ExpectBucketOwner(plan.Bucket, owner);
        }
        var previous = await service.ReadManifestAsync(plan.Bucket, plan.Request.Pipeline.ProjectName, plan.Request.JobId, cancellationToken).ConfigureAwait(false);
        if (previous is { IsEngineRun: true })
        {
            throw new RlabsRunException($"Run {plan.Request.JobId} ran on SageMaker Pipelines; resume it with -Engine SageMakerPipelines -Resume (RetryPipelineExecution reruns only its failed and stopped steps).",
                "ResumeEngineMismatch", RlabsRunErrorKind.InvalidArgument, plan.Request.JobId);
        }
    }

    /// <summary>The run as SageMaker Pipelines sees it now; failed steps carry the reason and their log tail.</summary>
    public static async Task<RlabsPipelineRun> ReadAsync(CloudRunService service, CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        var run = NewRun(manifest);
        var state = await ObserveAsync(service, manifest, run, cancellationToken).ConfigureAwait(false);
        await EngineCacheRecorder.RecordAsync(service, manifest, run, NullRunReporter.Instance, cancellationToken).ConfigureAwait(false);
        if (state is not null)
        {
            foreach (var (stepRun, index) in run.Steps.Select((s, i) => (s, i)).Where(s => s.s.Status == RlabsRunStatus.Failed))
            {
                var log = new StepLog(null, stepRun.StepName, NullRunReporter.Instance);
                using (log)
                {
                    if (await ExactJobNameAsync(service, stepRun.JobName, cancellationToken).ConfigureAwait(false) is { } jobName)
                    {
                        await new JobLogStream(service.Logs, jobName, log).PumpAsync(cancellationToken).ConfigureAwait(false);
                    }
                    stepRun.LogTail = log.Tail;
                }
            }
        }
        return run;
    }

    /// <summary>Follows the execution to its end: progress per step, each step's log lines to -Verbose, statuses as they change.</summary>
    public static async Task<RlabsPipelineRun> FollowAsync(CloudRunService service, CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, bool stopOnCancel, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        var activity = $"Pipeline {run.PipelineName} (job {run.JobId}) on SageMaker Pipelines";
        var logs = new Dictionary<string, (StepLog Log, JobLogStream? Stream)>(StringComparer.Ordinal);
        var seen = run.Steps.ToDictionary(s => s, s => s.Status);
        var interval = service.JobPollInterval;
        var delay = SageMakerStepRunner.ExecutionPoll(null, interval);
        var lastObserved = TimeProvider.System.GetTimestamp();
        try
        {
            while (true)
            {
                DescribePipelineExecutionResponse? execution;
                try
                {
                    execution = await ObserveAsync(service, manifest, run, cancellationToken).ConfigureAwait(false);
                    lastObserved = TimeProvider.System.GetTimestamp();
                }
                catch (AwsServiceException ex) when (ex.IsRetryable)
                {
                    var unobserved = TimeProvider.System.GetElapsedTime(lastObserved);
                    if (unobserved >= service.ObservationBudget)
                    {
                        reporter.Warning(string.Create(CultureInfo.InvariantCulture,
                            $"The execution of run {run.JobId} could not be observed for {unobserved.TotalMinutes:0.#} min; it goes on server-side. Follow it with: Wait-RlabsPipelineRun -JobId {run.JobId} -ProjectName {run.ProjectName}"));
                        throw;
                    }
                    reporter.Verbose($"Reading the execution failed ({ex.ErrorCode}, {ex.StatusCodeText}); still following it.");
                    delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var step in run.Steps)
                {
                    if (step.Status is RlabsRunStatus.Running or RlabsRunStatus.Failed or RlabsRunStatus.Completed or RlabsRunStatus.Stopped && step.JobName.Length > 0)
                    {
                        if (!logs.TryGetValue(step.JobName, out var entry) || entry.Stream is null)
                        {
                            var log = entry.Log ?? new StepLog(null, step.StepName, reporter);
                            var exact = await ExactJobNameAsync(service, step.JobName, cancellationToken).ConfigureAwait(false);
                            entry = (log, exact is null ? null : new JobLogStream(service.Logs, exact, log));
                            logs[step.JobName] = entry;
                        }
                        if (entry.Stream is not null && (step.Status == RlabsRunStatus.Running || seen[step] != step.Status))
                        {
                            await entry.Stream.PumpAsync(cancellationToken).ConfigureAwait(false);
                        }
                        step.LogTail = step.Status == RlabsRunStatus.Failed ? entry.Log.Tail : [];
                    }
                    if (seen[step] != step.Status)
                    {
                        if (seen[step] is RlabsRunStatus.Pending && step.Status is not RlabsRunStatus.Pending)
                        {
                            reporter.StepStarted(step);
                        }
                        if (step.Status is RlabsRunStatus.Completed or RlabsRunStatus.Cached or RlabsRunStatus.Failed or RlabsRunStatus.Stopped or RlabsRunStatus.Skipped)
                        {
                            reporter.StepEnded(step);
                            reporter.Verbose($"[{step.StepName}] {step.Status}{(step.CacheSource is null ? string.Empty : " from " + step.CacheSource)}{(step.FailureReason is null ? string.Empty : ": " + step.FailureReason)}");
                        }
                        seen[step] = step.Status;
                    }
                }

                var done = run.Steps.Count(s => s.Status is RlabsRunStatus.Completed or RlabsRunStatus.Cached);
                var running = run.Steps.Where(s => s.Status == RlabsRunStatus.Running).Select(s => s.StepName).ToList();
                if ((execution is not null && execution.IsTerminal) || (execution is null && AllTaken(manifest)))
                {
                    reporter.Progress(new RunProgress(activity, run.Status.ToString(), 100, null, true));
                    break;
                }
                reporter.Progress(new RunProgress(activity, $"{done}/{run.Steps.Count} steps done{(running.Count == 0 ? string.Empty : "; running: " + string.Join(", ", running))} ({execution?.PipelineExecutionStatus ?? "starting"})",
                    (int)(100.0 * done / run.Steps.Count), manifest.PipelineExecutionArn, false));
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = SageMakerStepRunner.ExecutionPoll(delay, interval);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && stopOnCancel)
        {
            await StopExecutionAsync(service, manifest, reporter).ConfigureAwait(false);
            foreach (var step in run.Steps.Where(s => s.Status is RlabsRunStatus.Running or RlabsRunStatus.Pending))
            {
                step.FailureReason = step.Status == RlabsRunStatus.Running ? "Stopped by the user (StopPipelineExecution)." : "Not run because the run was stopped.";
                step.Status = step.Status == RlabsRunStatus.Running ? RlabsRunStatus.Stopped : RlabsRunStatus.Skipped;
            }
            run.Status = RlabsRunStatus.Stopped;
            run.EndTime = DateTimeOffset.Now;
        }
        finally
        {
            foreach (var (log, _) in logs.Values)
            {
                log.Dispose();
            }
        }
        await EngineCacheRecorder.RecordAsync(service, manifest, run, reporter, CancellationToken.None).ConfigureAwait(false);
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            await service.CleanupAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        }
        return run;
    }

    /// <summary>Stops the execution (SageMaker stops its running jobs; no later step starts).</summary>
    public static async Task StopAsync(CloudRunService service, CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            reporter.Verbose($"Run {run.JobId} already ended ({run.Status}); nothing to stop.");
            return;
        }
        await StopExecutionAsync(service, manifest, reporter).ConfigureAwait(false);
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Running))
        {
            step.Status = RlabsRunStatus.Stopped;
            step.FailureReason = "Stopped (StopPipelineExecution).";
        }
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Pending))
        {
            step.Status = RlabsRunStatus.Skipped;
            step.FailureReason = "Not run because the run was stopped.";
        }
        run.Status = RlabsRunStatus.Stopped;
        run.EndTime = DateTimeOffset.Now;
        await service.CleanupAsync(manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A run object for an engine manifest, every step Pending.</summary>
    internal static RlabsPipelineRun NewRun(CloudRunManifest manifest)
    {
        var run = CloudRunService.NewRun(manifest, null);
        run.Engine = Name;
        run.PipelineExecutionArn = manifest.PipelineExecutionArn;
        foreach (var step in run.Steps)
        {
            step.Runtime = Name;
            step.JobName = string.Empty; // SageMaker Pipelines names the job when the step starts
        }
        return run;
    }

    private static async Task StopExecutionAsync(CloudRunService service, CloudRunManifest manifest, IRunReporter reporter)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var arn = await ExecutionArnAsync(service, manifest, timeout.Token).ConfigureAwait(false);
        if (arn is null)
        {
            return;
        }
        try
        {
            await service.SageMaker.StopPipelineExecutionAsync(arn, Token("stop", arn, string.Empty), timeout.Token).ConfigureAwait(false);
            reporter.Verbose($"Sent StopPipelineExecution for {arn}; SageMaker stops its running jobs.");
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.Validation or AwsErrorKind.NotFound)
        {
            // Already ended: nothing left to stop.
        }
    }

    /// <summary>Reads the execution into <paramref name="run"/>; null when it was never started.</summary>
    private static async Task<DescribePipelineExecutionResponse?> ObserveAsync(CloudRunService service, CloudRunManifest manifest, RlabsPipelineRun run, CancellationToken cancellationToken)
    {
        var arn = await ExecutionArnAsync(service, manifest, cancellationToken).ConfigureAwait(false);
        if (arn is null)
        {
            // Every step reused an earlier output: the run completed without an execution.
            run.Status = AllTaken(manifest) ? RlabsRunStatus.Completed : RlabsRunStatus.Pending;
            for (var index = 0; index < manifest.Steps.Count; index++)
            {
                Taken(manifest.Steps[index], run.Steps[index]);
            }
            return null;
        }
        run.PipelineExecutionArn = arn;
        var execution = await service.SageMaker.DescribePipelineExecutionAsync(arn, cancellationToken).ConfigureAwait(false);
        var listed = await service.SageMaker.ListAllPipelineExecutionStepsAsync(arn, "Ascending", cancellationToken).ConfigureAwait(false);
        var latest = new Dictionary<string, PipelineExecutionStep>(StringComparer.Ordinal);
        foreach (var step in listed)
        {
            latest[step.StepName] = step; // ascending: a retried step's newest attempt wins
        }
        var terminal = execution.IsTerminal;
        string? blocker = null;
        for (var index = 0; index < manifest.Steps.Count; index++)
        {
            var stepRun = run.Steps[index];
            if (Taken(manifest.Steps[index], stepRun))
            {
                continue;
            }
            var definitionName = manifest.Steps[index].DefinitionStepName ?? manifest.Steps[index].Name;
            if (!latest.TryGetValue(definitionName, out var step))
            {
                stepRun.Status = terminal ? RlabsRunStatus.Skipped : RlabsRunStatus.Pending;
                continue;
            }
            stepRun.StartTime = step.StartTime;
            stepRun.EndTime = step.EndTime;
            stepRun.FailureReason = step.FailureReason;
            stepRun.CacheSource = step.CacheHitResult?.SourcePipelineExecutionArn;
            if (step.ProcessingJobArn is { } jobArn)
            {
                stepRun.JobName = jobArn[(jobArn.LastIndexOf('/') + 1)..];
            }
            stepRun.Status = step.StepStatus switch
            {
                "Succeeded" => step.IsCacheHit ? RlabsRunStatus.Cached : RlabsRunStatus.Completed,
                "Failed" => RlabsRunStatus.Failed,
                "Stopped" => RlabsRunStatus.Stopped,
                _ => RlabsRunStatus.Running,
            };
            if (stepRun.Status is RlabsRunStatus.Failed && step.FailureReason is { } reason && ExitCode().Match(reason) is { Success: true } code)
            {
                stepRun.ExitCode = int.Parse(code.Groups[1].Value, CultureInfo.InvariantCulture);
            }
            if (stepRun.Status is RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
            {
                blocker ??= stepRun.StepName;
            }
        }
        foreach (var skipped in run.Steps.Where(s => s.Status == RlabsRunStatus.Skipped))
        {
            skipped.FailureReason = blocker is null ? "Not run." : $"Not run because step '{blocker}' did not complete.";
        }
        run.StartTime = execution.CreationTime;
        run.Status = execution.PipelineExecutionStatus switch
        {
            "Succeeded" => RlabsRunStatus.Completed,
            "Failed" => RlabsRunStatus.Failed,
            "Stopped" => RlabsRunStatus.Stopped,
            _ => RlabsRunStatus.Running,
        };
        run.EndTime = terminal ? execution.LastModifiedTime : null;
        return execution;
    }

    /// <summary>
    /// The run as it stands right after its start: the steps the execution leaves out as Cached or Completed, the
    /// run Completed when that is every step (no execution was started), else Running.
    /// </summary>
    internal static void ApplyStart(CloudRunManifest manifest, RlabsPipelineRun run)
    {
        for (var index = 0; index < manifest.Steps.Count && index < run.Steps.Count; index++)
        {
            Taken(manifest.Steps[index], run.Steps[index]);
        }
        run.StartTime ??= DateTimeOffset.Now;
        run.Status = AllTaken(manifest) ? RlabsRunStatus.Completed : RlabsRunStatus.Running;
        run.EndTime = run.Status == RlabsRunStatus.Completed ? DateTimeOffset.Now : null;
    }

    /// <summary>Whether every step of the run reuses an earlier output (no execution runs).</summary>
    internal static bool AllTaken(CloudRunManifest manifest) => manifest.Steps.All(s => s.CachedFrom is not null);

    /// <summary>A step the execution does not run: Cached (a cache hit) or Completed (outside the slice), with the job its output came from.</summary>
    private static bool Taken(CloudManifestStep step, RlabsPipelineStepRun stepRun)
    {
        if (step.CachedFrom is not { } from)
        {
            return false;
        }
        stepRun.Status = step.CachedBecause == "cache" ? RlabsRunStatus.Cached : RlabsRunStatus.Completed;
        stepRun.CachedFrom = from;
        stepRun.CacheSource = $"job {from}";
        return true;
    }

    /// <summary>The execution's ARN: from the manifest, else (the starter died before recording it) the execution named after the job id.</summary>
    private static async Task<string?> ExecutionArnAsync(CloudRunService service, CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.PipelineExecutionArn is not null || manifest.SageMakerPipelineName is null || AllTaken(manifest))
        {
            return manifest.PipelineExecutionArn;
        }
        try
        {
            await foreach (var summary in service.SageMaker.ListAllPipelineExecutionsAsync(new ListPipelineExecutionsRequest { PipelineName = manifest.SageMakerPipelineName }, cancellationToken).ConfigureAwait(false))
            {
                if (summary.PipelineExecutionDisplayName == manifest.JobId)
                {
                    manifest.PipelineExecutionArn = summary.PipelineExecutionArn;
                    return summary.PipelineExecutionArn;
                }
            }
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            // The pipeline was never created: the run never started.
        }
        return null;
    }

    /// <summary>SageMaker lowercases job ARNs, but log streams carry the job's own name: find it by listing.</summary>
    private static async Task<string?> ExactJobNameAsync(CloudRunService service, string lowercaseName, CancellationToken cancellationToken)
    {
        if (lowercaseName.Length == 0)
        {
            return null;
        }
        await foreach (var summary in service.SageMaker.ListAllProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = lowercaseName }, cancellationToken).ConfigureAwait(false))
        {
            if (string.Equals(summary.ProcessingJobName, lowercaseName, StringComparison.OrdinalIgnoreCase))
            {
                return summary.ProcessingJobName;
            }
        }
        return null;
    }

    /// <summary>The pipeline, or null when there is none.</summary>
    internal static async Task<DescribePipelineResponse?> DescribeOrNullAsync(SageMakerClient sageMaker, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await sageMaker.DescribePipelineAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound)
        {
            return null;
        }
    }

    private static string Token(string purpose, string a, string b) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"rlabs\n{purpose}\n{a}\n{b}")))[..48];

    [GeneratedRegex(@"exit code (-?\d+)")]
    private static partial Regex ExitCode();
}
