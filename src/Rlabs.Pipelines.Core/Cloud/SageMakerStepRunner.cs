using System.Globalization;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>Runs a step as a SageMaker Processing job: create, poll at the session's job poll interval, stream its logs.</summary>
internal sealed partial class SageMakerStepRunner : IStepRunner
{
    internal const string LogGroup = "/aws/sagemaker/ProcessingJobs";
    private readonly CloudRunService _service;
    private readonly CloudRunManifest _manifest;
    private readonly bool _stopOnCancel;

    public SageMakerStepRunner(CloudRunService service, CloudRunManifest manifest, bool stopOnCancel)
    {
        _service = service;
        _manifest = manifest;
        _stopOnCancel = stopOnCancel;
    }

    public string RuntimeName => "SageMaker";

    /// <summary>
    /// The wait before the first DescribeProcessingJob of a job: none for a job this run did not just create (it
    /// may have ended already), two intervals for one it just created. A processing job provisions its instance
    /// for minutes before its script starts; a job that lasts longer than one interval is still noticed to end
    /// within one interval, and the calls never outnumber the intervals of the job's life: at the default 5 s,
    /// noticed within 5 s at no more than 12 calls per job-minute (a growing interval capped at 30 s noticed a
    /// long job's end ~15 s late on average; one that started at 1 s made 15 calls in a 60 s job).
    /// </summary>
    internal static TimeSpan FirstPollDelay(TimeSpan interval, bool justCreated) => justCreated ? interval * 2 : TimeSpan.Zero;

    /// <summary>
    /// The wait before the next DescribePipelineExecution (<paramref name="previous"/> null: the first): 1 s, growing
    /// by half to <paramref name="interval"/>. An execution's first steps may be cached, or fail, at once.
    /// </summary>
    internal static TimeSpan ExecutionPoll(TimeSpan? previous, TimeSpan interval) =>
        previous is { } last ? TimeSpan.FromTicks(Math.Min(interval.Ticks, (long)(last.Ticks * 1.5))) : interval < TimeSpan.FromSeconds(1) ? interval : TimeSpan.FromSeconds(1);

    /// <summary>
    /// What a failed job's FailureReason says about the failure: capacity, throttling or an internal error of
    /// SageMaker (worth another attempt), else the script's own (AlgorithmError, ClientError), with the exit
    /// code when the reason gives one ("exit code 75").
    /// </summary>
    internal static (RlabsFailureKind Kind, int? ExitCode) Classify(string? failureReason)
    {
        var reason = failureReason ?? string.Empty;
        int? exitCode = ExitCodeRegex().Match(reason) is { Success: true } match && int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : null;
        bool Has(string word) => reason.Contains(word, StringComparison.OrdinalIgnoreCase);
        var kind = Has("CapacityError") || Has("InsufficientInstanceCapacity") || Has("ResourceLimitExceeded") || Has("capacity")
            ? RlabsFailureKind.Capacity
            : Has("Throttl") || Has("Rate exceeded")
                ? RlabsFailureKind.Throttling
                : Has("InternalServerError") || Has("InternalFailure") || Has("ServiceUnavailable") || Has("InternalError")
                    ? RlabsFailureKind.Internal
                    : RlabsFailureKind.Script;
        return (kind, exitCode);
    }

    private static StepOutcome Failed(DescribeProcessingJobResponse job, RlabsPipelineStepRun stepRun, IReadOnlyList<string> tail)
    {
        var reason = job.FailureReason ?? job.ExitMessage;
        var (kind, exitCode) = Classify(reason);
        stepRun.ExitCode = exitCode;
        return new StepOutcome(RlabsRunStatus.Failed, $"The processing job {job.ProcessingJobName} failed: {reason ?? "no reason given"}", tail) { Kind = kind };
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"exit code:?\s*(\d{1,3})\b", System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex ExitCodeRegex();

    public async Task<StepOutcome> RunStepAsync(int index, RlabsPipelineStepRun stepRun, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var step = _manifest.Steps[index];
        if (_manifest.Stopped || (!step.Started && await _service.WasStoppedAsync(_manifest, cancellationToken).ConfigureAwait(false)))
        {
            _manifest.Stopped = true;
            return new StepOutcome(RlabsRunStatus.Stopped, "The run was stopped (Stop-RlabsPipelineRun).", []);
        }
        var jobName = step.Request.ProcessingJobName;
        // Not disposed here: a completed job's last lines are drained while the next step starts (no file behind it).
        var log = new StepLog(null, step.Name, reporter);
        var logs = new JobLogStream(_service.Logs, _service.LogsPace, jobName, log);
        var interval = _service.JobPollInterval;
        var delay = interval;
        try
        {
            var justCreated = !step.Started;
            if (justCreated)
            {
                // Inside the try: a Ctrl-C while CreateProcessingJob is in flight may still have created the job.
                await _service.StartStepAsync(_manifest, index, reporter, cancellationToken).ConfigureAwait(false);
            }
            await Task.Delay(FirstPollDelay(interval, justCreated), cancellationToken).ConfigureAwait(false);
            var lastObserved = TimeProvider.System.GetTimestamp();
            while (true)
            {
                DescribeProcessingJobResponse job;
                try
                {
                    job = await _service.SageMaker.DescribeProcessingJobAsync(jobName, cancellationToken).ConfigureAwait(false);
                    lastObserved = TimeProvider.System.GetTimestamp();
                    delay = interval;
                }
                catch (AwsServiceException ex) when (ex.IsRetryable)
                {
                    // Only the job's own status decides the step: a throttled or failing Describe says nothing about
                    // the job, so keep watching (backing off harder) until the observation budget is spent.
                    var unobserved = TimeProvider.System.GetElapsedTime(lastObserved);
                    if (unobserved >= _service.ObservationBudget)
                    {
                        return new StepOutcome(RlabsRunStatus.Failed, string.Create(CultureInfo.InvariantCulture,
                            $"The processing job {jobName} could not be observed for {unobserved.TotalMinutes:0.#} min (last error: {ex.ErrorCode}, {ex.StatusCodeText}); the job may still be running. Follow it with: Wait-RlabsPipelineRun -JobId {_manifest.JobId} -ProjectName {_manifest.ProjectName}"), log.Tail);
                    }
                    delay = TimeSpan.FromSeconds(Math.Min(60, delay.TotalSeconds * 2));
                    reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"[{step.Name}] DescribeProcessingJob failed ({ex.ErrorCode}, {ex.StatusCodeText}); the job is still watched, polling again in {delay.TotalSeconds:0} s."));
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                stepRun.StartTime = job.ProcessingStartTime ?? stepRun.StartTime;
                if (job.IsTerminal)
                {
                    stepRun.EndTime = job.ProcessingEndTime;
                    if (job.ProcessingJobStatus == "Completed")
                    {
                        // The next step's job is created meanwhile: its lines are the user's view, not the outcome.
                        _service.DrainLater(() => logs.PumpAsync(CancellationToken.None));
                        return StepOutcome.Completed;
                    }
                    await logs.PumpAsync(cancellationToken).ConfigureAwait(false); // a failure's message needs its last lines
                    return job.ProcessingJobStatus == "Stopped"
                        ? new StepOutcome(RlabsRunStatus.Stopped, job.ExitMessage ?? "The processing job was stopped.", log.Tail)
                        : Failed(job, stepRun, log.Tail);
                }
                await logs.PumpAsync(cancellationToken).ConfigureAwait(false);
                reporter.Progress(new RunProgress($"Pipeline {_manifest.PipelineName} (job {_manifest.JobId})", $"Step {index + 1}/{_manifest.Steps.Count}: {step.Name} ({job.ProcessingJobStatus})", (int)(100.0 * index / _manifest.Steps.Count), jobName, false));
                await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && _stopOnCancel)
        {
            await _service.StopJobAsync(jobName, reporter).ConfigureAwait(false);
            return new StepOutcome(RlabsRunStatus.Stopped, string.Create(CultureInfo.InvariantCulture, $"Stopped by the user; StopProcessingJob was sent for {jobName}."), log.Tail);
        }
    }
}

/// <summary>Follows a job's CloudWatch log streams, within the Logs API's request rate.</summary>
internal sealed class JobLogStream
{
    private readonly CloudWatchLogsClient _logs;
    private readonly LogCallPace _pace;
    private readonly string _jobName;
    private readonly StepLog _log;
    private readonly Dictionary<string, string?> _tokens = new(StringComparer.Ordinal);
    private bool _warned;

    /// <summary>A stream with its own pace (one job followed at a time).</summary>
    public JobLogStream(CloudWatchLogsClient logs, string jobName, StepLog log)
        : this(logs, new LogCallPace(TimeSpan.FromMilliseconds(200)), jobName, log)
    {
    }

    /// <summary>A stream paced with the run's other streams.</summary>
    public JobLogStream(CloudWatchLogsClient logs, LogCallPace pace, string jobName, StepLog log)
    {
        _logs = logs;
        _pace = pace;
        _jobName = jobName;
        _log = log;
    }

    public async Task PumpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _pace.WaitAsync(cancellationToken).ConfigureAwait(false);
            var streams = await _logs.DescribeLogStreamsAsync(new DescribeLogStreamsRequest { LogGroupName = SageMakerStepRunner.LogGroup, LogStreamNamePrefix = _jobName + "/" }, cancellationToken).ConfigureAwait(false);
            foreach (var stream in streams.LogStreams)
            {
                _tokens.TryAdd(stream.LogStreamName, null);
            }
            foreach (var name in _tokens.Keys.ToList())
            {
                for (var page = 0; page < 20; page++)
                {
                    await _pace.WaitAsync(cancellationToken).ConfigureAwait(false);
                    var token = _tokens[name];
                    var events = await _logs.GetLogEventsAsync(new GetLogEventsRequest { LogGroupName = SageMakerStepRunner.LogGroup, LogStreamName = name, StartFromHead = true, NextToken = token }, cancellationToken).ConfigureAwait(false);
                    foreach (var e in events.Events)
                    {
                        Line(e.Message);
                    }
                    _tokens[name] = events.NextForwardToken ?? token;
                    if (events.Events.Count == 0 || events.NextForwardToken == token)
                    {
                        break;
                    }
                }
            }
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.NotFound || ex.IsRetryable)
        {
            // The log group or stream appears only once the job's container has started; a throttled or failing
            // logs call is tried again at the next poll. Neither says anything about the job.
        }
        catch (AwsServiceException ex) when (!_warned)
        {
            // Logs are a view of the job, never its outcome (e.g. no logs:GetLogEvents permission): say it once.
            _warned = true;
            _log.Warning($"The job's CloudWatch logs cannot be read ({ex.ErrorCode}); the step goes on without them.");
        }
        catch (AwsServiceException)
        {
            // Already said once.
        }
    }

    private void Line(string message)
    {
        foreach (var line in message.TrimEnd('\n').Split('\n'))
        {
            _log.Line(line);
        }
    }
}

/// <summary>Spaces calls at least a gap apart, across every caller that shares it (each caller gets the next free slot).</summary>
internal sealed class LogCallPace
{
    private readonly TimeSpan _gap;
    private readonly object _lock = new();
    private long _next;

    public LogCallPace(TimeSpan gap)
    {
        _gap = gap;
    }

    /// <summary>Returns when the next call may go.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        long slot;
        lock (_lock)
        {
            slot = Math.Max(now, _next);
            _next = slot + (long)(_gap.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        }
        var wait = TimeSpan.FromSeconds((slot - now) / (double)System.Diagnostics.Stopwatch.Frequency);
        return wait > TimeSpan.Zero ? Task.Delay(wait, cancellationToken) : Task.CompletedTask;
    }
}
