using System.Diagnostics;
using System.Globalization;
using Rlabs.Pipelines.Aws;
using Rlabs.Pipelines.Planning;
using Rlabs.Pipelines.Running;

namespace Rlabs.Pipelines.Cloud;

/// <summary>Cloud runs end to end: upload, start, wait, look up, stop. One instance per AWS session.</summary>
public sealed class CloudRunService : IDisposable
{
    private readonly AwsSession _session;
    private readonly S3Storage _store;
    private readonly SemaphoreSlim _saving = new(1, 1);
    private readonly List<Task> _drains = [];
    private long _manifestKnownAt;

    /// <summary>Creates the service over a resolved session.</summary>
    public CloudRunService(AwsSession session)
    {
        _session = session;
        _store = new S3Storage(session);
        SageMaker = new SageMakerClient(session);
        Logs = new CloudWatchLogsClient(session);
    }

    internal SageMakerClient SageMaker { get; }

    internal CloudWatchLogsClient Logs { get; }

    /// <summary>One pace for every log call of the run, whichever job it follows (the Logs API's request rate is per account).</summary>
    internal LogCallPace LogsPace { get; } = new(TimeSpan.FromMilliseconds(200));

    /// <summary>
    /// How long a manifest this service just wrote or read is taken as the bucket's, no read-back within it: 1 s,
    /// or one poll interval when that is shorter (a stop asked for meanwhile is seen at the next step either way).
    /// </summary>
    internal TimeSpan ManifestFreshness => JobPollInterval < TimeSpan.FromSeconds(1) ? JobPollInterval : TimeSpan.FromSeconds(1);

    /// <summary>
    /// Lets a completed job's last log lines be read while the next step's job is created: the drain is awaited by
    /// <see cref="DrainLogsAsync"/> before the run returns, never dropped.
    /// </summary>
    internal void DrainLater(Func<Task> drain)
    {
        lock (_drains)
        {
            _drains.RemoveAll(t => t.IsCompleted);
            _drains.Add(Task.Run(drain));
        }
    }

    /// <summary>Waits for the log drains still going (see <see cref="DrainLater"/>).</summary>
    internal async Task DrainLogsAsync()
    {
        Task[] pending;
        lock (_drains)
        {
            pending = [.. _drains];
            _drains.Clear();
        }
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    /// <summary>
    /// How long a job may go unobserved (every Describe failing with throttling, 5xx or timeouts) before the run
    /// gives up on watching it: the session's throttling budget, 15 minutes by default.
    /// </summary>
    internal TimeSpan ObservationBudget => _session.Options.ThrottlingBudget;

    /// <summary>How often a running job or execution is asked about.</summary>
    internal TimeSpan JobPollInterval => _session.JobPollInterval;

    /// <summary>Bytes of artifacts uploaded by this service so far (run files such as the manifest not counted).</summary>
    public long UploadedBytes { get; private set; }

    /// <inheritdoc/>
    public void Dispose()
    {
        _store.Dispose();
        _saving.Dispose();
    }

    /// <summary>Marks the default bucket (chosen by the module for <paramref name="accountId"/>) before reading a run from it.</summary>
    public void ExpectBucketOwner(string bucket, string accountId) => _store.ExpectOwner(bucket, accountId);

    /// <summary>The run's S3 storage, for the engine's cache recorder.</summary>
    internal S3Storage Storage => _store;

    /// <summary>The caller's account (STS), needed for the default bucket name.</summary>
    public async Task<string> GetAccountAsync(CancellationToken cancellationToken) =>
        (await _session.GetCallerIdentityAsync(cancellationToken).ConfigureAwait(false)).Account;

    /// <summary>Whether a step's input exists: the object itself for a zip, else anything under the folder.</summary>
    public async Task<bool> DataExistsAsync(string bucket, string key, bool isFile, CancellationToken cancellationToken) =>
        isFile
            ? await _store.ObjectExistsAsync(bucket, key, cancellationToken).ConfigureAwait(false)
            : await _store.AnyObjectAsync(bucket, key.TrimEnd('/') + "/", cancellationToken).ConfigureAwait(false);

    /// <summary>Bucket, artifacts (each uploaded once), credentials and manifest: everything before the first job.</summary>
    public async Task<CloudRunManifest> PrepareAsync(CloudRunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var kms = plan.Request.Pipeline.Defaults.KmsKeyId;
        await UploadArtifactsAsync(plan, reporter, cancellationToken).ConfigureAwait(false);
        if (plan.CredentialsKey is not null)
        {
            // A run nobody waits for (-NoWait, a closed laptop) must not keep its credentials copy for ever: S3
            // deletes objects with this tag once the run cannot need them any more.
            var days = plan.CredentialsExpiryDays;
            var tag = new KeyValuePair<string, string>(CloudRunPlan.CredentialsExpiryTagKey, CloudRunPlan.CredentialsExpiryTagValue(days));
            try
            {
                if (await _store.EnsureTagExpiryRuleAsync(plan.Bucket, CloudRunPlan.CredentialsExpiryRuleId(days), tag, days, cancellationToken).ConfigureAwait(false))
                {
                    reporter.Verbose($"Added the lifecycle rule '{CloudRunPlan.CredentialsExpiryRuleId(days)}' to bucket {plan.Bucket}: objects tagged {tag.Key}={tag.Value} expire after {days} days (the bucket's other rules kept).");
                }
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.AccessDenied or AwsErrorKind.Validation
                || ex.StatusCode is System.Net.HttpStatusCode.NotImplemented or System.Net.HttpStatusCode.MethodNotAllowed)
            {
                reporter.Warning($"Could not add the lifecycle rule that expires run credentials to bucket {plan.Bucket} ({ex.ErrorCode}: {ex.Message}). The credentials copy of this run is deleted when the run is waited for or stopped (Wait-RlabsPipelineRun, Stop-RlabsPipelineRun); grant s3:GetLifecycleConfiguration and s3:PutLifecycleConfiguration on the bucket to have S3 delete it otherwise.");
            }
            await _store.PutTextAsync(plan.Bucket, plan.CredentialsKey, plan.Request.Credentials!.StrippedYaml, kms, tag, cancellationToken).ConfigureAwait(false);
            reporter.Verbose($"Credentials without AWS keys stored encrypted at s3://{plan.Bucket}/{plan.CredentialsKey}");
        }
        // Every name an earlier invocation with this job id planned is carried forward, so the jobs it may have
        // created can always be found again (-Resume adopts or stops them); a new name never repeats one of them.
        var previous = await ReadManifestAsync(plan.Bucket, plan.Request.Pipeline.ProjectName, plan.Request.JobId, cancellationToken).ConfigureAwait(false);
        var manifest = new CloudRunManifest
        {
            JobId = plan.Request.JobId,
            ProjectName = plan.Request.Pipeline.ProjectName,
            PipelineName = plan.Request.Pipeline.Name,
            PipelinePath = plan.Request.Pipeline.Path,
            RepositoryPath = plan.Request.Pipeline.RepositoryPath,
            Bucket = plan.Bucket,
            BucketOwner = plan.BucketOwner,
            KmsKeyId = kms,
            Region = plan.Region,
            CredentialsKey = plan.CredentialsKey,
            InstanceType = plan.Request.InstanceType ?? plan.Steps[0].Request.ProcessingResources.ClusterConfig.InstanceType,
            Steps = plan.Steps.Select(s => NewManifestStep(plan, s, previous)).ToList(),
            Parallelism = plan.Run.Parallelism,
        };
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>
    /// The bucket (created when missing, public access blocked, encrypted) and the content-addressed artifacts,
    /// each uploaded only when S3 does not already hold those bytes. Returns how many were uploaded.
    /// </summary>
    public async Task<int> UploadArtifactsAsync(CloudRunPlan plan, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(reporter);
        var kms = plan.Request.Pipeline.Defaults.KmsKeyId;
        var uploaded = 0;
        foreach (var secret in plan.Source.SkippedSecrets)
        {
            reporter.Warning($"Left '{secret}' out of the source zip: it looks like a key or credentials file (list it under 'package_secrets:' to pack it).");
        }
        foreach (var link in plan.Source.SkippedLinks)
        {
            reporter.Warning($"Left the link '{link}' out of the source zip: it points outside the repository (or nowhere).");
        }
        if (plan.BucketOwner is { } owner)
        {
            _store.ExpectOwner(plan.Bucket, owner);
        }
        if (await _store.EnsureBucketAsync(plan.Bucket, kms, cancellationToken).ConfigureAwait(false))
        {
            reporter.Verbose($"Created bucket {plan.Bucket} (public access blocked, default encryption on).");
        }
        foreach (var artifact in plan.Artifacts)
        {
            // Keys carry the content hash, but anyone who can write the bucket can put other bytes there: an
            // existing object is reused only when the checksum S3 keeps for it matches the local file.
            var matches = await _store.ObjectMatchesAsync(plan.Bucket, artifact.Key, artifact.LocalPath, cancellationToken).ConfigureAwait(false);
            if (matches == true)
            {
                reporter.Verbose($"Unchanged, not uploaded: s3://{plan.Bucket}/{artifact.Key}");
                continue;
            }
            if (matches == false)
            {
                reporter.Verbose($"s3://{plan.Bucket}/{artifact.Key} exists but its SHA-256 checksum does not match the local file (or it has none): uploading it again.");
            }
            await _store.UploadFileAsync(plan.Bucket, artifact.Key, artifact.LocalPath, kms, cancellationToken).ConfigureAwait(false);
            var sent = new FileInfo(artifact.LocalPath).Length;
            UploadedBytes += sent;
            uploaded++;
            reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"Uploaded {sent:N0} bytes to s3://{plan.Bucket}/{artifact.Key}"));
        }
        return uploaded;
    }

    /// <summary>
    /// Keeps <paramref name="file"/> at a fixed key, encrypted at rest (SSE-KMS with the pipeline's kms_key_id,
    /// else SSE-S3), uploading only when S3 holds other bytes; true when it wrote.
    /// </summary>
    public async Task<bool> KeepFileAsync(string bucket, string key, string file, string? kmsKeyId, CancellationToken cancellationToken)
    {
        if (await _store.ObjectMatchesAsync(bucket, key, file, cancellationToken).ConfigureAwait(false) == true)
        {
            return false;
        }
        await _store.UploadFileAsync(bucket, key, file, kmsKeyId, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Deletes one object; true when it was there.</summary>
    public async Task<bool> DeleteObjectAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        if (!await _store.ObjectExistsAsync(bucket, key, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        await _store.DeleteObjectsAsync(bucket, [key], cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static CloudManifestStep NewManifestStep(CloudRunPlan run, CloudStepPlan plan, CloudRunManifest? previous)
    {
        var earlier = new List<string>();
        if (previous?.Steps.FirstOrDefault(s => s.Name == plan.Step.Name) is { } before)
        {
            earlier.AddRange(before.EarlierJobNames);
            earlier.Add(before.Request.ProcessingJobName);
        }
        earlier = earlier.Distinct(StringComparer.Ordinal).ToList();
        var request = plan.Request;
        while (earlier.Contains(request.ProcessingJobName, StringComparer.Ordinal))
        {
            request = WithName(request, ProjectNaming.JobName(run.Request.Pipeline.ProjectName, run.Request.JobId, plan.Step.JobSuffix, ProjectNaming.NewAttempt()));
        }
        return new CloudManifestStep { Name = plan.Step.Name, Request = request, InputUri = plan.InputUri, OutputUri = plan.OutputUri, EarlierJobNames = earlier, DependsOn = [.. plan.Plan.DependsOn] };
    }

    /// <summary>Drives a started run (e.g. after -NoWait) to its end: waits for running jobs, starts the rest.</summary>
    public async Task<RlabsPipelineRun> WaitAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.IsEngineRun)
        {
            // SageMaker Pipelines drives it: waiting only follows, and Ctrl-C leaves it running.
            return await SageMakerPipelinesEngine.FollowAsync(this, manifest, run, reporter, stopOnCancel: false, cancellationToken).ConfigureAwait(false);
        }
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Running))
        {
            step.Status = RlabsRunStatus.Pending; // the runner re-attaches to the started job instead of creating it
        }
        if (run.Status is not (RlabsRunStatus.Failed or RlabsRunStatus.Stopped or RlabsRunStatus.Completed))
        {
            try
            {
                await PipelineExecutor.RunAsync(run, StepRunner(manifest, stopOnCancel: false), reporter, manifest.Schedule(), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await DrainLogsAsync().ConfigureAwait(false);
            }
        }
        // Ctrl-C here only stops waiting: the job goes on and may still need the credentials.
        if (!cancellationToken.IsCancellationRequested && run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            await CleanupAsync(manifest, CancellationToken.None).ConfigureAwait(false);
        }
        return run;
    }

    /// <summary>
    /// Before this invocation creates any job: finds the jobs earlier invocations with this job id created
    /// (<see cref="FindJobsAsync"/>) and settles them. With -Resume, a step whose job completed with the same inputs
    /// hash is kept (up to the first step that has none), and the job of that next step is adopted when it still
    /// runs with the same inputs: the run waits for it instead of creating another. Every other job still running
    /// (other inputs, a later step, or any job of the run without -Resume) is stopped, and this returns only once
    /// each has stopped: one step never has two jobs at once. A new job id calls nothing.
    /// </summary>
    public async Task ReconcileAsync(CloudRunManifest manifest, RlabsPipelineRun run, bool resume, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reporter);
        if (!resume && manifest.Steps.All(s => s.EarlierJobNames.Count == 0))
        {
            return; // no earlier invocation planned a job: none can exist
        }
        IReadOnlyList<RunJob> jobs;
        try
        {
            jobs = await FindJobsAsync(manifest, includePlanned: false, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (!resume && ex.Kind == AwsErrorKind.AccessDenied)
        {
            reporter.Warning($"Could not look for jobs an earlier run with the job id {manifest.JobId} left running ({ex.Operation}: {ex.ErrorCode}); a new job id avoids the question.");
            return;
        }
        var adopted = new HashSet<string>(StringComparer.Ordinal);
        if (resume)
        {
            for (var index = 0; index < manifest.Steps.Count; index++)
            {
                var step = manifest.Steps[index];
                var hash = step.Request.Environment![CloudNaming.InputsHashVariable];
                var mine = jobs.Where(j => j.StepName == step.Name && j.InputsHash == hash).ToList(); // newest first
                var stepRun = run.Steps[index];
                if (mine.FirstOrDefault(j => j.Job.ProcessingJobStatus == "Completed") is { } done)
                {
                    step.Request = WithName(step.Request, done.Name);
                    step.Started = true;
                    stepRun.JobName = done.Name;
                    stepRun.Status = RlabsRunStatus.Completed;
                    stepRun.StartTime = done.Job.ProcessingStartTime;
                    stepRun.EndTime = done.Job.ProcessingEndTime;
                    stepRun.FailureReason = null;
                    reporter.Verbose($"-Resume: step '{step.Name}' already completed as {done.Name} with the same inputs; skipped.");
                    continue;
                }
                if (mine.FirstOrDefault(j => j.Job.ProcessingJobStatus == "InProgress") is { } running)
                {
                    step.Request = WithName(step.Request, running.Name);
                    step.Started = true;
                    stepRun.JobName = running.Name;
                    stepRun.StartTime = running.Job.ProcessingStartTime ?? running.Job.CreationTime;
                    adopted.Add(running.Name);
                    reporter.Verbose($"-Resume: step '{step.Name}' still runs as {running.Name} with the same inputs; waiting for that job instead of starting another.");
                }
                else
                {
                    reporter.Verbose($"-Resume: step '{step.Name}' and the steps after it run again (no completed or running job with the same inputs).");
                }
                break;
            }
        }
        var stop = jobs.Where(j => !j.Job.IsTerminal && !adopted.Contains(j.Name)).ToList();
        foreach (var job in stop)
        {
            var planned = manifest.Steps.FirstOrDefault(s => s.Name == job.StepName)?.Request.Environment?.GetValueOrDefault(CloudNaming.InputsHashVariable);
            var why = !resume ? "this run starts every step again (without -Resume)"
                : planned != job.InputsHash ? "its inputs changed since (code, params, image, resources or data location)"
                : "-Resume runs the step again (an earlier step runs again, or a newer job of the step is used)";
            if (job.Job.ProcessingJobStatus == "Stopping")
            {
                reporter.Verbose($"Step '{job.StepName}': its job {job.Name} from an earlier invocation of run {manifest.JobId} is stopping; waiting until it stopped before a new job of the step starts.");
            }
            else
            {
                reporter.Warning($"Step '{job.StepName}': its job {job.Name} from an earlier invocation of run {manifest.JobId} is still running, and {why}; stopping it before a new job of the step starts.");
            }
        }
        await StopAndWaitAsync(stop, reporter, cancellationToken).ConfigureAwait(false);
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A processing job of this run, as SageMaker describes it.</summary>
    internal sealed record RunJob(string StepName, string InputsHash, DescribeProcessingJobResponse Job)
    {
        public string Name => Job.ProcessingJobName;
    }

    /// <summary>
    /// Every job of the run that exists in SageMaker, newest first, found without trusting the manifest's Started
    /// flags: ListProcessingJobs by the run's name prefix, plus a Describe of every name the manifest ever planned
    /// (a job created just before a crash, which a lagging list may not show yet). A job belongs to the run when its
    /// environment names the run's job id and pipeline (ids such as 'c1' and 'c10' share a prefix).
    /// </summary>
    internal async Task<IReadOnlyList<RunJob>> FindJobsAsync(CloudRunManifest manifest, bool includePlanned, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        await foreach (var summary in SageMaker.ListAllProcessingJobsAsync(new ListProcessingJobsRequest { NameContains = ProjectNaming.JobNamePrefix(manifest.ProjectName, manifest.JobId), SortBy = "CreationTime", SortOrder = "Descending", MaxResults = 100 }, cancellationToken).ConfigureAwait(false))
        {
            names.Add(summary.ProcessingJobName);
        }
        foreach (var step in manifest.Steps)
        {
            names.AddRange(step.EarlierJobNames);
            if (includePlanned || step.Started)
            {
                names.Add(step.Request.ProcessingJobName);
            }
        }
        var jobs = new List<RunJob>();
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            DescribeProcessingJobResponse job;
            try
            {
                job = await SageMaker.DescribeProcessingJobAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.Validation or AwsErrorKind.NotFound)
            {
                continue; // planned, never created
            }
            if (job.Environment is { } env && env.GetValueOrDefault(StepContract.JobIdVariable) == manifest.JobId
                && env.GetValueOrDefault(StepContract.PipelineVariable) == manifest.PipelineName
                && env.TryGetValue(StepContract.StepVariable, out var step)
                && env.TryGetValue(CloudNaming.InputsHashVariable, out var hash))
            {
                jobs.Add(new RunJob(step, hash, job));
            }
        }
        return jobs.OrderByDescending(j => j.Job.CreationTime ?? DateTimeOffset.MinValue).ToList();
    }

    /// <summary>Stops the jobs still running and waits until none of them is running or stopping.</summary>
    private async Task StopAndWaitAsync(IReadOnlyList<RunJob> jobs, IRunReporter reporter, CancellationToken cancellationToken)
    {
        foreach (var job in jobs.Where(j => j.Job.ProcessingJobStatus == "InProgress"))
        {
            await StopJobAsync(job.Name, reporter).ConfigureAwait(false);
        }
        var waiting = jobs.Select(j => j.Name).ToList();
        var started = TimeProvider.System.GetTimestamp();
        var delay = TimeSpan.FromSeconds(1);
        while (waiting.Count > 0)
        {
            foreach (var name in waiting.ToList())
            {
                var job = await SageMaker.DescribeProcessingJobAsync(name, cancellationToken).ConfigureAwait(false);
                if (job.IsTerminal)
                {
                    waiting.Remove(name);
                    reporter.Verbose($"{name} is {job.ProcessingJobStatus}.");
                }
            }
            if (waiting.Count == 0)
            {
                break;
            }
            var waited = TimeProvider.System.GetElapsedTime(started);
            if (waited >= ObservationBudget)
            {
                throw new RlabsRunException(
                    string.Create(CultureInfo.InvariantCulture, $"The processing job(s) {string.Join(", ", waiting)} did not stop within {waited.TotalMinutes:0.#} min. A new job of the same step starts only once the earlier one stopped (both would write the same output); run the command again later."),
                    "EarlierJobStillRunning", RlabsRunErrorKind.InvalidData, waiting[0]);
            }
            reporter.Verbose(string.Create(CultureInfo.InvariantCulture, $"Waiting for {string.Join(", ", waiting)} to stop; asking again in {delay.TotalSeconds:0} s."));
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromSeconds(Math.Min(15, delay.TotalSeconds * 1.5));
        }
    }

    /// <summary>A run object for a manifest, every step Pending.</summary>
    public static RlabsPipelineRun NewRun(CloudRunManifest manifest, RlabsPipeline? pipeline)
    {
        var steps = manifest.Steps.Select(s => new RlabsPipelineStepRun(manifest.JobId, s.Name, s.Request.ProcessingJobName, "SageMaker")
        {
            InputLocation = s.InputUri,
            OutputLocation = s.OutputUri,
            Command = (s.Request.AppSpecification.ContainerEntrypoint ?? []).Concat(s.Request.AppSpecification.ContainerArguments ?? []).ToList(),
        }).ToList();
        return new RlabsPipelineRun(manifest.JobId, manifest.PipelineName, manifest.PipelinePath, manifest.RepositoryPath, manifest.ProjectName, manifest.InstanceType, manifest.DataRoot, steps)
        {
            Bucket = manifest.Bucket,
            Region = manifest.Region,
        };
    }

    /// <summary>The step runner that drives jobs; Ctrl-C stops the running job when <paramref name="stopOnCancel"/>.</summary>
    public IStepRunner StepRunner(CloudRunManifest manifest, bool stopOnCancel) => new SageMakerStepRunner(this, manifest, stopOnCancel);

    /// <summary>
    /// -NoWait: starts every step that is ready (each step it depends on completed, as the manifest records the
    /// graph), up to the run's parallelism, and returns; Wait-RlabsPipelineRun drives the rest from the manifest.
    /// </summary>
    public async Task StartNextAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(run);
        if (run.Steps.All(s => s.Status != RlabsRunStatus.Pending))
        {
            run.Status = RlabsRunStatus.Completed;
            return;
        }
        var schedule = manifest.Schedule();
        var running = run.Steps.Count(s => s.Status == RlabsRunStatus.Running);
        var ready = Enumerable.Range(0, run.Steps.Count)
            .Where(i => run.Steps[i].Status == RlabsRunStatus.Pending && schedule.Dependencies![i].All(d => run.Steps[d].Status == RlabsRunStatus.Completed))
            .Take(Math.Max(1, schedule.Parallelism - running))
            .ToList();
        foreach (var index in ready)
        {
            if (!manifest.Steps[index].Started)
            {
                await StartStepAsync(manifest, index, reporter, cancellationToken).ConfigureAwait(false); // else -Resume adopted its running job
            }
            run.Steps[index].Status = RlabsRunStatus.Running;
            run.Steps[index].StartTime = DateTimeOffset.Now;
        }
        run.Status = RlabsRunStatus.Running;
        run.StartTime ??= DateTimeOffset.Now;
    }

    internal async Task StartStepAsync(CloudRunManifest manifest, int index, IRunReporter reporter, CancellationToken cancellationToken)
    {
        var step = manifest.Steps[index];
        try
        {
            await SageMaker.CreateProcessingJobAsync(step.Request, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.Conflict)
        {
            // A retried CreateProcessingJob whose first answer was lost: the first call created the job. Each
            // attempt of a step has its own name, so the name taken by this step's job means this very job.
            if (!await IsOwnJobAsync(step, cancellationToken).ConfigureAwait(false))
            {
                throw;
            }
            reporter.Verbose($"[{step.Name}] CreateProcessingJob answered {ex.ErrorCode}: an earlier try of this call created {step.Request.ProcessingJobName}; following that job.");
        }
        step.Started = true;
        reporter.Verbose($"[{step.Name}] created processing job {step.Request.ProcessingJobName}");
        await SaveAsync(manifest, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Whether the job named in the step's request exists and is this step's, with the same inputs hash.</summary>
    private async Task<bool> IsOwnJobAsync(CloudManifestStep step, CancellationToken cancellationToken)
    {
        var job = await SageMaker.DescribeProcessingJobAsync(step.Request.ProcessingJobName, cancellationToken).ConfigureAwait(false);
        var wanted = step.Request.Environment!;
        return job.Environment is { } env
            && env.GetValueOrDefault(StepContract.JobIdVariable) == wanted.GetValueOrDefault(StepContract.JobIdVariable)
            && env.GetValueOrDefault(StepContract.StepVariable) == step.Name
            && env.GetValueOrDefault(CloudNaming.InputsHashVariable) == wanted.GetValueOrDefault(CloudNaming.InputsHashVariable);
    }

    /// <summary>Sends StopProcessingJob, even when the caller's token is already cancelled (that is when it matters).</summary>
    internal async Task StopJobAsync(string jobName, IRunReporter reporter)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await SageMaker.StopProcessingJobAsync(jobName, timeout.Token).ConfigureAwait(false);
            reporter.Verbose($"Sent StopProcessingJob for {jobName}.");
        }
        catch (AwsServiceException ex) when (ex.Kind is AwsErrorKind.Validation or AwsErrorKind.NotFound)
        {
            // Already finished, or never created: nothing left to stop.
        }
    }

    /// <summary>The manifest an earlier invocation with this job id wrote, or null (asked with HeadObject first: a new job id is the rule).</summary>
    internal async Task<CloudRunManifest?> ReadManifestAsync(string bucket, string projectName, string jobId, CancellationToken cancellationToken)
    {
        var key = CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(projectName), jobId);
        if (!await _store.ObjectExistsAsync(bucket, key, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        var json = await _store.TryGetTextAsync(bucket, key, cancellationToken).ConfigureAwait(false);
        return json is null ? null : CloudRunManifest.FromJson(json);
    }

    /// <summary>Reads a run back: its manifest, then the state of each started job.</summary>
    public async Task<(CloudRunManifest Manifest, RlabsPipelineRun Run)?> GetAsync(string bucket, string projectName, string jobId, CancellationToken cancellationToken)
    {
        var json = await _store.TryGetTextAsync(bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(projectName), jobId), cancellationToken).ConfigureAwait(false);
        if (json is null)
        {
            return null;
        }
        var manifest = CloudRunManifest.FromJson(json);
        if (manifest.BucketOwner is { } owner && manifest.Bucket == bucket)
        {
            _store.ExpectOwner(bucket, owner);
        }
        if (manifest.IsEngineRun)
        {
            return (manifest, await SageMakerPipelinesEngine.ReadAsync(this, manifest, cancellationToken).ConfigureAwait(false));
        }
        var run = NewRun(manifest, null);
        RlabsPipelineStepRun? blocking = null;
        for (var index = 0; index < manifest.Steps.Count; index++)
        {
            var step = manifest.Steps[index];
            var stepRun = run.Steps[index];
            if (!step.Started)
            {
                stepRun.Status = blocking is null ? RlabsRunStatus.Pending : RlabsRunStatus.Skipped;
                continue;
            }
            var job = await SageMaker.DescribeProcessingJobAsync(step.Request.ProcessingJobName, cancellationToken).ConfigureAwait(false);
            stepRun.StartTime = job.ProcessingStartTime ?? job.CreationTime;
            stepRun.EndTime = job.ProcessingEndTime;
            stepRun.Status = job.ProcessingJobStatus switch
            {
                "Completed" => RlabsRunStatus.Completed,
                "Failed" => RlabsRunStatus.Failed,
                "Stopped" => RlabsRunStatus.Stopped,
                _ => RlabsRunStatus.Running,
            };
            stepRun.FailureReason = job.FailureReason;
            if (stepRun.Status is RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
            {
                blocking ??= stepRun;
            }
        }
        run.StartTime = run.Steps.Select(s => s.StartTime).FirstOrDefault(t => t is not null);
        run.Status = blocking?.Status
            ?? (manifest.Stopped ? RlabsRunStatus.Stopped
            : run.Steps.All(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Completed
            : run.Steps.Any(s => s.Status == RlabsRunStatus.Running) || run.Steps.Any(s => s.Status == RlabsRunStatus.Completed) ? RlabsRunStatus.Running
            : RlabsRunStatus.Pending);
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            run.EndTime = run.Steps.Select(s => s.EndTime).LastOrDefault(t => t is not null);
        }
        return (manifest, run);
    }

    /// <summary>Stops the run's running jobs and marks it so no later step starts.</summary>
    public async Task StopAsync(CloudRunManifest manifest, RlabsPipelineRun run, IRunReporter reporter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.IsEngineRun)
        {
            await SageMakerPipelinesEngine.StopAsync(this, manifest, run, reporter, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (run.Status is RlabsRunStatus.Completed or RlabsRunStatus.Failed or RlabsRunStatus.Stopped)
        {
            reporter.Verbose($"Run {run.JobId} already ended ({run.Status}); nothing to stop.");
            return;
        }
        manifest.Stopped = true;
        await SaveAsync(manifest, cancellationToken).ConfigureAwait(false);
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Running))
        {
            await StopJobAsync(step.JobName, reporter).ConfigureAwait(false);
            step.Status = RlabsRunStatus.Stopped;
        }
        // Also any job the manifest does not show as running: one created just before its invocation was killed,
        // or one an earlier invocation with this job id left running.
        var stopped = run.Steps.Where(s => s.Status == RlabsRunStatus.Stopped).Select(s => s.JobName).ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<RunJob> jobs = [];
        try
        {
            jobs = await FindJobsAsync(manifest, includePlanned: true, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.AccessDenied)
        {
            reporter.Warning($"Stopped the jobs the run's manifest names as running; could not look for others ({ex.Operation}: {ex.ErrorCode}).");
        }
        foreach (var job in jobs)
        {
            if (job.Job.ProcessingJobStatus == "InProgress" && stopped.Add(job.Name))
            {
                await StopJobAsync(job.Name, reporter).ConfigureAwait(false);
                if (run.Steps.FirstOrDefault(s => s.JobName == job.Name || (s.StepName == job.StepName && s.Status == RlabsRunStatus.Pending)) is { } step)
                {
                    step.JobName = job.Name;
                    step.Status = RlabsRunStatus.Stopped;
                }
            }
        }
        foreach (var step in run.Steps.Where(s => s.Status == RlabsRunStatus.Pending))
        {
            step.Status = RlabsRunStatus.Skipped;
            step.FailureReason = "Not run because the run was stopped.";
        }
        run.Status = RlabsRunStatus.Stopped;
        run.EndTime = DateTimeOffset.Now;
        await CleanupAsync(manifest, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Whether someone stopped the run since this manifest was read (another session's Stop).</summary>
    internal async Task<bool> WasStoppedAsync(CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _manifestKnownAt)) < ManifestFreshness)
        {
            return false; // this service wrote or read it a moment ago (the steps ready at once, the first after the upload)
        }
        var json = await _store.TryGetTextAsync(manifest.Bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(manifest.ProjectName), manifest.JobId), cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _manifestKnownAt, Stopwatch.GetTimestamp());
        return json is not null && CloudRunManifest.FromJson(json).Stopped;
    }

    /// <summary>Deletes the credentials copy once no step needs it any more.</summary>
    public async Task CleanupAsync(CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        if (manifest.CredentialsKey is not null)
        {
            await _store.DeleteObjectsAsync(manifest.Bucket, [manifest.CredentialsKey], cancellationToken).ConfigureAwait(false);
        }
    }

    internal async Task SaveAsync(CloudRunManifest manifest, CancellationToken cancellationToken)
    {
        // Steps run side by side: one save at a time, each writing the manifest as it is then, so a later
        // write never carries an older state (a started job left out would be orphaned for Wait-RlabsPipelineRun).
        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _store.PutTextAsync(manifest.Bucket, CloudNaming.ManifestKey(CloudNaming.ProjectPrefix(manifest.ProjectName), manifest.JobId), manifest.ToJson(), manifest.KmsKeyId, cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _manifestKnownAt, Stopwatch.GetTimestamp());
        }
        finally
        {
            _saving.Release();
        }
    }

    internal static CreateProcessingJobRequest WithName(CreateProcessingJobRequest request, string name) => new()
    {
        ProcessingJobName = name,
        ProcessingInputs = request.ProcessingInputs,
        ProcessingOutputConfig = request.ProcessingOutputConfig,
        ProcessingResources = request.ProcessingResources,
        StoppingCondition = request.StoppingCondition,
        AppSpecification = request.AppSpecification,
        Environment = request.Environment,
        RoleArn = request.RoleArn,
        Tags = request.Tags,
        NetworkConfig = request.NetworkConfig,
    };
}
